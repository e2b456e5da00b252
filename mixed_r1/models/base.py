"""The model-adapter seam: everything that differs between model families lives behind it.

The base class holds what every family shares (sampling config, stop-token masks, decoding,
log-prob gathering, embeddings for BMAS, checkpoint saving); a family adapter supplies loading,
the chat format with its image placeholders, extra per-row forward inputs and its box frame.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from PIL import Image
from transformers import GenerationConfig

from mixed_r1.data.schema import Sample
from mixed_r1.errors import ConfigError
from mixed_r1.models.shared_prompt import SharedPromptLayout
from mixed_r1.models.shared_prompt import install as install_shared_prompt_attention

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class PromptBatch:
    """Left-padded prompts with their images, one row per prompt.

    ``pixel_values`` stacks every row's image patches/tiles along dim 0, ``patches_per_row`` says how
    many belong to each row; ``row_inputs`` are other per-row model inputs (dim 0 = rows).
    """

    input_ids: torch.Tensor  # [P, Lp]
    attention_mask: torch.Tensor  # [P, Lp]
    pixel_values: torch.Tensor  # [sum patches, ...]
    patches_per_row: list[int]
    row_inputs: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "pixel_values": self.pixel_values, **self.row_inputs}

    def repeat(self, times: int) -> PromptBatch:
        """Each row repeated ``times`` times consecutively (the order of a GRPO group)."""
        chunks = torch.split(self.pixel_values, self.patches_per_row)
        return PromptBatch(
            input_ids=self.input_ids.repeat_interleave(times, dim=0),
            attention_mask=self.attention_mask.repeat_interleave(times, dim=0),
            pixel_values=torch.cat([c for c in chunks for _ in range(times)]),
            patches_per_row=[n for n in self.patches_per_row for _ in range(times)],
            row_inputs={k: v.repeat_interleave(times, dim=0) for k, v in self.row_inputs.items()},
        )

    def take(self, indices: Sequence[int]) -> PromptBatch:
        """The given rows with their images (micro-batches, or a subset of the rollout)."""
        offsets = [0]
        for n in self.patches_per_row:
            offsets.append(offsets[-1] + n)
        index = torch.tensor(list(indices), dtype=torch.long, device=self.input_ids.device)
        patch_index = torch.tensor([p for i in indices for p in range(offsets[i], offsets[i + 1])],
                                   dtype=torch.long, device=self.pixel_values.device)
        return PromptBatch(
            input_ids=self.input_ids[index], attention_mask=self.attention_mask[index],
            pixel_values=self.pixel_values[patch_index],
            patches_per_row=[self.patches_per_row[i] for i in indices],
            row_inputs={k: v[index] for k, v in self.row_inputs.items()},
        )

    def select(self, rows: slice) -> PromptBatch:
        """A contiguous slice of rows with their images."""
        return self.take(range(*rows.indices(len(self))))


@dataclass
class Completions:
    """Generated tokens, right-padded after the stop token, with their mask."""

    ids: torch.Tensor  # [B, Tc]
    mask: torch.Tensor  # [B, Tc] 1 for completion tokens (stop token included)

    def take(self, indices: Sequence[int]) -> Completions:
        index = torch.tensor(list(indices), dtype=torch.long, device=self.ids.device)
        return Completions(self.ids[index], self.mask[index])

    def select(self, rows: slice) -> Completions:
        return Completions(self.ids[rows], self.mask[rows])

    def trim(self) -> Completions:
        """Without the padding columns after the longest completion (a micro-batch of short rows should
        not compute the rollout's longest width); log-probs of the kept columns are unchanged."""
        width = max(int(self.mask.sum(dim=1).max()), 1) if self.mask.numel() else 1
        return Completions(self.ids[:, :width], self.mask[:, :width])

    @staticmethod
    def concat(parts: Sequence[Completions], pad_id: int) -> Completions:
        """Rows of several generate calls, right-padded (mask 0) to the longest."""
        if len(parts) == 1:
            return parts[0]
        width = max(p.ids.shape[1] for p in parts)
        pad = lambda t, value: torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)
        return Completions(torch.cat([pad(p.ids, pad_id) for p in parts]), torch.cat([pad(p.mask, 0) for p in parts]))


def question_text(sample: Sample, prompt: Any) -> str:
    """The user text: the problem, the per-type answer hint and the reasoning instruction (``prompt.template``: our
    wording of the fixed prompt the paper adds after each question; the paper does not print it).

    ``prompt`` is the ``prompt`` config node (``template``, ``no_thinking_template``, ``thinking``,
    ``hints``). ``thinking=false`` gives the paper's "no thinking" baseline prompt.
    """
    template = prompt.template if prompt.thinking else prompt.no_thinking_template
    options = ""
    if sample.options and "Options:" not in sample.problem:
        options = " Options: " + " ".join(f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(sample.options))
    hint = prompt.hints.get(sample.type, "") if prompt.hints else ""
    text = template.format(problem=sample.problem + options, hint=hint)
    return " ".join(text.split())


def define_model_classes(config: Any) -> list[type]:
    """Import the model class of ``config`` and of each of its sub-configs (InternVL's Qwen2 text model, ...).

    Why: under ZeRO-3, ``from_pretrained`` builds the model inside DeepSpeed's ``zero.Init``, which wraps the
    ``__init__`` of every ``nn.Module`` class *defined* while it is active and, on leaving, puts back the
    ``__init__`` it saw when the class was created, i.e. before any class decorator ran. transformers >= 5.25
    decorates attention classes with ``kernels``' ``use_kernelized_func``, whose ``__init__`` sets the
    ``_kernel_funcs`` that its ``forward`` reads. A modeling module first imported inside ``zero.Init`` (a
    sub-model built by ``AutoModel.from_config``) therefore loses the decorated ``__init__``, and the next
    model built from it (the reference) fails in its first forward with "no attribute '_kernel_funcs'".
    Defined here, before ``zero.Init``, the classes keep their own ``__init__`` through it."""
    from transformers import MODEL_MAPPING, PreTrainedConfig

    classes, pending = [], [config]
    while pending:
        node = pending.pop()
        if type(node) in MODEL_MAPPING:
            classes.append(MODEL_MAPPING[type(node)])
        pending.extend(sub for key in type(node).sub_configs
                       if isinstance(sub := getattr(node, key, None), PreTrainedConfig))
    return classes


class ModelAdapter(ABC):
    """One per model family: loading, prompts, image budget, box frames, log-probs, embeddings."""

    #: the ``model_type`` of checkpoints this adapter reads (from the checkpoint's config.json)
    MODEL_TYPE: str = ""
    STOP_TOKEN = "<|im_end|>"
    #: tokens a policy must never sample (image placeholders break the image-token count on re-forward)
    SUPPRESSED_TOKENS: tuple[str, ...] = ()

    def __init__(self, cfg: Any, prompt: Any, device: torch.device) -> None:
        from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, PretrainedConfig

        self.cfg, self.prompt, self.device = cfg, prompt, device
        # read the raw config.json first: a wrong family (or remote-code checkpoint) gets a clear error
        model_type = PretrainedConfig.get_config_dict(cfg.path)[0].get("model_type")
        if model_type != self.MODEL_TYPE:
            raise ConfigError(
                f"model.path={cfg.path} holds a '{model_type}' checkpoint but model.adapter={cfg.adapter} "
                f"reads '{self.MODEL_TYPE}' checkpoints{self.conversion_hint}")
        self.model_config = AutoConfig.from_pretrained(cfg.path, trust_remote_code=self.trust_remote_code)
        self.dtype = DTYPES[cfg.dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(cfg.path, trust_remote_code=self.trust_remote_code)
        self.tokenizer.padding_side = "left"  # not saved with the tokenizer: set after every load
        self.image_processor = AutoImageProcessor.from_pretrained(cfg.path)
        self.stop_token_id = self.tokenizer.convert_tokens_to_ids(self.STOP_TOKEN)
        self.pad_token_id = self.tokenizer.pad_token_id
        self.suppressed_ids = [self.tokenizer.convert_tokens_to_ids(t) for t in self.SUPPRESSED_TOKENS]

    trust_remote_code = False
    conversion_hint = ""

    @classmethod
    def prepare_checkpoint(cls, path: str) -> str:
        """The folder to load for ``model.path`` (a family whose hub checkpoints need a one-time
        conversion returns the converted copy); by default ``path`` itself."""
        return path

    @classmethod
    def lmms_eval_model(cls, model_cfg: Any) -> tuple[str, dict[str, Any]]:
        """The lmms-eval model class that reads this family's checkpoints and its ``--model_args``
        (``eval.backend=lmms_eval``); a family lmms-eval cannot read says why."""
        raise ConfigError(f"model.adapter={model_cfg.adapter}: no lmms-eval model class reads these checkpoints")

    # ------------------------------------------------------------------ family-specific
    @abstractmethod
    def image_placeholders(self, vision: dict[str, torch.Tensor]) -> tuple[list[str], list[int]]:
        """For the processed images: each prompt's image placeholder text (expanded to its token
        count) and its number of patches/tiles in ``pixel_values``."""

    def prompt_row_inputs(self, vision: dict[str, torch.Tensor], input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra per-row model inputs of the prompts (default: none)."""
        return {}

    def completion_row_inputs(self, batch: PromptBatch, completions: Completions) -> dict[str, torch.Tensor]:
        """Per-row forward inputs for prompt + completion (default: those of the prompt)."""
        return batch.row_inputs

    @abstractmethod
    def image_tokens(self, width: int, height: int) -> int:
        """How many image tokens a ``width`` x ``height`` image becomes in this family's prompt."""

    #: the placeholder's own tokens around the image tokens (start/end markers)
    IMAGE_FRAME_TOKENS = 0

    def prompt_lengths(self, samples: Sequence[Sample]) -> list[int]:
        """Prompt tokens of each sample (chat frame, question and image), from the declared image sizes,
        without opening an image: cheap enough to check 45K samples at load time."""
        texts = [self.chat_text(s, "") for s in samples]
        text_tokens = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        return [n + self.IMAGE_FRAME_TOKENS + self.image_tokens(*s.image_size) for n, s in zip(text_tokens, samples)]

    def context_length(self) -> int:
        """The longest sequence the language model was built for."""
        text = getattr(self.model_config, "text_config", self.model_config)
        return int(text.max_position_embeddings)

    def image_problem(self, width: int, height: int) -> str | None:
        """Why this family's processor cannot take a ``width`` x ``height`` image (None: it can); checked
        for every sample at load time, so a bad image fails the start, not a step hours in."""
        return None

    @abstractmethod
    def box_to_model_frame(self, box: Sequence[float], image_size: tuple[int, int]) -> list[float]:
        """A box in original-image pixels converted to the frame this family emits."""

    @abstractmethod
    def box_to_text(self, box: Sequence[float], image_size: tuple[int, int]) -> str:
        """How this family writes a box (original pixels in) inside ``<answer>``."""

    # ------------------------------------------------------------------ shared
    def prompt_batch(self, samples: Sequence[Sample]) -> PromptBatch:
        """Chat-formatted, left-padded prompts with their images (one image per training sample)."""
        return self.chat_batch([question_text(s, self.prompt) for s in samples],
                               [[Image.open(s.image).convert("RGB")] for s in samples])

    def chat_batch(self, questions: Sequence[str], images: Sequence[Sequence[Image.Image]]) -> PromptBatch:
        """Left-padded chat prompts: row i is ``images[i]`` (their placeholders in order) then
        ``questions[i]``. Rows may hold several images (evaluation: MMMU has up to 7); such a batch is
        for generation only — ``repeat``/``take`` assume one image per row."""
        flat = [image for row in images for image in row]
        vision = self.image_processor(images=flat, return_tensors="pt")
        placeholders, patches = self.image_placeholders(vision)  # per image
        texts, row_patches, start = [], [], 0
        for question, row in zip(questions, images):
            end = start + len(row)
            texts.append(self.chat_frame("".join(placeholders[start:end]) + question))
            row_patches.append(sum(patches[start:end]))
            start = end
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return PromptBatch(
            input_ids=enc["input_ids"].to(self.device),
            attention_mask=enc["attention_mask"].to(self.device),
            pixel_values=vision["pixel_values"].to(self.device, self.dtype),
            patches_per_row=row_patches,
            row_inputs={k: v.to(self.device) for k, v in self.prompt_row_inputs(vision, enc["input_ids"]).items()},
        )

    def load_model(self, trainable: bool = True, path: str | None = None) -> torch.nn.Module:
        """The policy (or a frozen reference copy) through ``from_pretrained`` from ``model.path``
        (or ``path``, e.g. a resumed checkpoint's export). Placement on a device is the engine's job
        (``build_engine`` / ``engine.prepare_reference``): the model comes back where it was loaded."""
        from transformers import AutoModelForImageTextToText

        define_model_classes(self.model_config)  # before ZeRO-3's zero.Init: see its docstring
        model = AutoModelForImageTextToText.from_pretrained(
            path or self.cfg.path, dtype=self.dtype, attn_implementation=self.attn_implementation(),
            trust_remote_code=self.trust_remote_code)
        install_shared_prompt_attention(model)  # used only by shared-prompt passes; else the loaded attention
        if not trainable:
            model.eval().requires_grad_(False)
        elif self.cfg.get("gradient_checkpointing"):  # recompute activations in backward: memory for time
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model

    def attn_implementation(self) -> str:
        """``model.attn_implementation``; ``auto`` picks flash_attention_2 when flash-attn is installed
        and the model runs on a GPU, else PyTorch's sdpa."""
        import importlib.util

        name = self.cfg.attn_implementation
        if name != "auto":
            return name
        has_flash = importlib.util.find_spec("flash_attn") is not None
        return "flash_attention_2" if has_flash and self.device.type == "cuda" else "sdpa"

    def save(self, model: torch.nn.Module, out_dir: str) -> None:
        """An HF-format checkpoint (model, tokenizer, image processor) that ``from_pretrained`` loads."""
        model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        self.image_processor.save_pretrained(out_dir)

    def sampling_config(self, temperature: float, max_new_tokens: int) -> GenerationConfig:
        """Pure sampling at ``temperature`` (0: greedy decoding, evaluation's default): explicit, so a
        checkpoint's ``generation_config.json`` (top-k, top-p, repetition penalty) cannot change the
        distribution GRPO assumes or the answer a benchmark scores."""
        if temperature == 0:
            return GenerationConfig(
                do_sample=False, repetition_penalty=1.0, max_new_tokens=max_new_tokens, eos_token_id=self.stop_token_id,
                pad_token_id=self.pad_token_id, suppress_tokens=self.suppressed_ids or None)
        return GenerationConfig(
            do_sample=True, temperature=temperature, top_k=0, top_p=1.0, repetition_penalty=1.0,
            max_new_tokens=max_new_tokens, eos_token_id=self.stop_token_id, pad_token_id=self.pad_token_id,
            suppress_tokens=self.suppressed_ids or None)

    def generate(self, model: torch.nn.Module, batch: PromptBatch, temperature: float,
                 max_new_tokens: int, group_size: int = 1) -> Completions:
        """Sample ``group_size`` completions per row of ``batch``: rows ``i*G … i*G+G-1`` are prompt i's.

        With ``group_size`` > 1 each prompt — its vision tower and prefill — is encoded once, and its KV
        cache repeated for the G samples (:meth:`prefilled_cache`); the unshared way is
        ``generate(batch.repeat(G), …)`` (never ``num_return_sequences``: generate's own expansion repeats
        flat ``pixel_values`` row-wise, which misassigns multi-tile images).
        """
        config = self.sampling_config(temperature, max_new_tokens)
        with torch.no_grad():
            if group_size == 1:
                out = model.generate(**batch.model_inputs(), generation_config=config)
            else:
                cache = self.prefilled_cache(model, batch, group_size)
                repeated = batch.repeat(group_size)
                inputs = {k: v for k, v in repeated.model_inputs().items() if k != "pixel_values"}  # in the cache
                out = model.generate(**inputs, cache=cache, generation_config=config)
        ids = out[:, batch.input_ids.shape[1]:]  # [B*G, Tc]
        return Completions(ids=ids, mask=self.stop_mask(ids))

    def prefilled_cache(self, model: torch.nn.Module, batch: PromptBatch, group_size: int) -> Any:
        """The KV cache of every prompt but its last token, computed once per prompt and repeated
        ``group_size`` times; ``generate`` then feeds only the last token (the first sampling step), so
        the images are not encoded again. Sampled tokens equal the unshared way's (tested)."""
        inputs = batch.model_inputs()
        prefix = {k: v[:, :-1] if k in self.PER_TOKEN_INPUTS else v for k, v in inputs.items()}
        cache = model(**prefix, use_cache=True).cache
        cache.batch_repeat_interleave(group_size)
        self.repeat_generation_state(model, group_size)
        return cache

    #: the model inputs with one value per prompt token (cut with the prompt for the prefill)
    PER_TOKEN_INPUTS: tuple[str, ...] = ("input_ids", "attention_mask")

    def repeat_generation_state(self, model: torch.nn.Module, group_size: int) -> None:
        """State a prefill leaves on the model for the generation steps, repeated per sample (default: none)."""
        return None

    def stop_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """1 up to and including the first stop token (all ones when there is none)."""
        is_stop = ids == self.stop_token_id
        after_stop = (is_stop.cumsum(dim=1) - is_stop.long()) > 0
        return (~after_stop).long()

    def completion_logprobs(self, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                            temperature: float = 1.0, return_entropy: bool = False,
                            groups: Sequence[int] | None = None
                            ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probs ``[B, Tc]`` of ``completions`` given the (already repeated) prompts;
        with ``return_entropy`` also the policy's per-token entropy ``[B, Tc]`` (no gradient).

        ``groups`` (a group id per row; rows of a group share their prompt) selects the shared-prompt
        pass (:mod:`mixed_r1.models.shared_prompt`): each group's prompt and image are encoded once, with
        the same values as the unshared pass (``groups=None``).
        """
        if groups is None:
            logits = self.unshared_logits(model, batch, completions)
        else:
            logits = self.shared_prompt_logits(model, batch, completions, groups)
        logits = logits.float() / temperature  # [B, Tc, V]
        # log-softmax at the taken token only: no second [B, Tc, V] tensor
        log_norm = torch.logsumexp(logits, dim=-1)  # [B, Tc]
        logprobs = logits.gather(-1, completions.ids.unsqueeze(-1)).squeeze(-1) - log_norm
        if not return_entropy:
            return logprobs
        with torch.no_grad():  # H = log Z − Σ p·logit
            entropy = log_norm - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
        return logprobs, entropy

    def unshared_logits(self, model: torch.nn.Module, batch: PromptBatch, completions: Completions) -> torch.Tensor:
        """``[B, Tc, V]``: position t predicts completion token t, every row with its own prompt copy."""
        n_completion = completions.ids.shape[1]
        out = model(
            input_ids=torch.cat([batch.input_ids, completions.ids], dim=1),
            attention_mask=torch.cat([batch.attention_mask, completions.mask.to(batch.attention_mask.dtype)], dim=1),
            pixel_values=batch.pixel_values, **self.completion_row_inputs(batch, completions),
            logits_to_keep=n_completion + 1, use_cache=False)
        return out.logits[:, :-1]  # the last Tc+1 positions minus the final one

    def shared_prompt_logits(self, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                             groups: Sequence[int]) -> torch.Tensor:
        """``[B, Tc, V]`` like :meth:`unshared_logits`, from one packed row per group: its prompt once, then one
        slot of ``Tc`` columns per completion (:class:`SharedPromptLayout`)."""
        if len(groups) != len(batch):
            raise ValueError(f"{len(groups)} group ids for {len(batch)} rows")
        members: dict[int, list[int]] = {}
        for row, group in enumerate(groups):
            members.setdefault(group, []).append(row)
        packed = list(members.values())  # rows of each packed row, in slot order
        prompts = batch.take([rows[0] for rows in packed])  # [U, Lp] one prompt (and image) per group
        U, Tc = len(packed), completions.ids.shape[1]
        k = max(len(rows) for rows in packed)
        device = completions.ids.device
        slot_ids = torch.full((U, k, Tc), self.pad_token_id, dtype=completions.ids.dtype, device=device)
        slot_mask = torch.zeros((U, k, Tc), dtype=completions.mask.dtype, device=device)
        place = {row: (u, s) for u, rows in enumerate(packed) for s, row in enumerate(rows)}
        packed_row = torch.tensor([place[row][0] for row in range(len(batch))], device=device)  # [B]
        slot = torch.tensor([place[row][1] for row in range(len(batch))], device=device)  # [B]
        slot_ids[packed_row, slot] = completions.ids
        slot_mask[packed_row, slot] = completions.mask
        slots = Completions(slot_ids.flatten(1), slot_mask.flatten(1))  # [U, k*Tc]
        layout = SharedPromptLayout(prompts.input_ids.shape[1], k, Tc, prompts.attention_mask.bool())
        out = model(
            input_ids=torch.cat([prompts.input_ids, slots.ids], dim=1),
            position_ids=self.shared_position_ids(model, prompts, layout),
            pixel_values=prompts.pixel_values, **self.completion_row_inputs(prompts, slots),
            logits_to_keep=layout.logit_positions().to(device), use_cache=False, shared_prompt=layout)
        logits = out.logits.unflatten(1, (k, Tc))  # [U, k, Tc, V]
        return logits[packed_row, slot]  # [B, Tc, V]

    def shared_position_ids(self, model: torch.nn.Module, prompts: PromptBatch,
                            layout: SharedPromptLayout) -> torch.Tensor:
        """Positions of packed rows ``[U, L]``, as the unshared pass numbers them (0.. over the padded prompt,
        each slot continuing after the prompt); families with other rotary positions override it."""
        prompt = torch.arange(layout.prompt_len, device=prompts.input_ids.device)
        slot = layout.prompt_len + torch.arange(layout.slot_len, device=prompts.input_ids.device)
        return torch.cat([prompt, slot.repeat(layout.slots)]).expand(len(prompts), -1)

    def encode_targets(self, texts: Sequence[str]) -> Completions:
        """Supervised targets as completions (stop token appended), for SFT."""
        rows = [ids + [self.stop_token_id] for ids in self.token_ids(texts)]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return Completions(ids=ids.to(self.device), mask=mask.to(self.device))

    def decode(self, completions: Completions) -> list[str]:
        """Completion texts cut at the stop token, special tokens kept (they are the policy's output)."""
        texts = []
        for ids, mask in zip(completions.ids.tolist(), completions.mask.tolist()):
            kept = [t for t, m in zip(ids, mask) if m and t != self.stop_token_id]
            texts.append(self.tokenizer.decode(kept, skip_special_tokens=False))
        return texts

    def input_embeddings(self, model: torch.nn.Module) -> torch.Tensor:
        """The policy's input-embedding table ``[V, d]`` (BMAS reads it; no gradient)."""
        return model.get_input_embeddings().weight.detach()

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of plain texts (responses and ground truths for BMAS), no special tokens added."""
        return self.tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []

    def chat_text(self, sample: Sample, image_placeholder: str) -> str:
        """A training sample's prompt: its image placeholder, then the question (:func:`question_text`)."""
        return self.chat_frame(image_placeholder + question_text(sample, self.prompt))

    def chat_frame(self, user: str) -> str:
        """The Qwen/InternVL2.5 chat format (both use ChatML) around one user turn."""
        return (f"<|im_start|>system\n{self.cfg.system_prompt}<|im_end|>\n"
                f"<|im_start|>user\n{user}<|im_end|>\n"
                f"<|im_start|>assistant\n")
