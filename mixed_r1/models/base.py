"""The model-adapter seam: everything that differs between model families lives behind it.

The base class loads a family's checkpoint, tokenizer and processor and builds chat prompts with their images;
a family adapter supplies its settings, image placeholders and budget, per-row forward inputs, rotary positions
for the shared-prompt pass, its box frame, its tiny twin and checkpoint preparation. The passes that run the
same way for every family (generation, log-probs, targets) take an adapter: :mod:`mixed_r1.models.passes`.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import torch
from PIL import Image

from mixed_r1.data.schema import ImageCheck, Sample, open_sample_image
from mixed_r1.errors import ConfigError
from mixed_r1.models import lora
from mixed_r1.models.batch import Completions, PromptBatch
from mixed_r1.models.settings import ModelSettings, PromptSettings
from mixed_r1.models.shared_prompt import SharedPromptLayout
from mixed_r1.models.shared_prompt import install as install_shared_prompt_attention

if TYPE_CHECKING:
    from transformers import PretrainedConfig

log = logging.getLogger("mixed_r1")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def options_text(options: Sequence[str]) -> str:
    """The canonical listing of a question's options: ``Options: A. red B. blue``."""
    return "Options: " + " ".join(f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(options))


def question_text(sample: Sample, prompt: PromptSettings) -> str:
    """The user text: the problem, the per-type answer hint and the reasoning instruction (``prompt.template``: our
    wording of the fixed prompt the paper adds after each question; the paper does not print it).
    ``prompt.thinking=false`` gives the paper's "no thinking" baseline prompt.

    A sample's ``options`` are appended in one canonical form (:func:`options_text`) unless the problem already
    ends with exactly that listing of its own options (the synthetic generator prints them so): decided from
    the data, never from the word "Options:", which a question about call and put options may hold.
    """
    template = prompt.template if prompt.thinking else prompt.no_thinking_template
    options = ""
    if sample.options:
        listed = options_text(sample.options)
        if not " ".join(sample.problem.split()).endswith(" ".join(listed.split())):
            options = " " + listed
    hint = prompt.hints.get(sample.type, "")
    text = template.format(problem=sample.problem + options, hint=hint)
    return " ".join(text.split())


def define_model_classes(config: PretrainedConfig) -> list[type]:
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


def transformers_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside an engine's (DeepSpeed: ``.module``) and PEFT's wrappers: where a family's
    own submodules and generation state live."""
    model = getattr(model, "module", model)
    wrapped = lora.peft_of(model)
    return wrapped.get_base_model() if wrapped is not None else model


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(parameters that take a gradient, all parameters); under ZeRO-3 each counted at its full size."""
    sizes = [(int(getattr(p, "ds_numel", p.numel())), p.requires_grad) for p in model.parameters()]
    return sum(n for n, trained in sizes if trained), sum(n for n, _ in sizes)


class ModelAdapter(ABC):
    """One per model family: loading, prompts, image budget, box frames, log-probs, embeddings."""

    #: the family's settings class: the ``model`` group is read into it at start-up
    SETTINGS: ClassVar[type[ModelSettings]] = ModelSettings

    #: the ``model_type`` of checkpoints this adapter reads (from the checkpoint's config.json)
    MODEL_TYPE: str = ""
    STOP_TOKEN = "<|im_end|>"
    #: tokens a policy must never sample (image placeholders break the image-token count on re-forward)
    SUPPRESSED_TOKENS: tuple[str, ...] = ()

    def __init__(self, settings: ModelSettings, prompt: PromptSettings, device: torch.device) -> None:
        from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, PretrainedConfig

        self.settings, self.prompt, self.device = settings, prompt, device
        # read the raw config.json first: a wrong family (or remote-code checkpoint) gets a clear error
        model_type = PretrainedConfig.get_config_dict(settings.path)[0].get("model_type")
        if model_type != self.MODEL_TYPE:
            raise ConfigError(
                f"model.path={settings.path} holds a '{model_type}' checkpoint but model.adapter={settings.adapter} "
                f"reads '{self.MODEL_TYPE}' checkpoints{self.conversion_hint}")
        self.model_config = AutoConfig.from_pretrained(settings.path, trust_remote_code=self.trust_remote_code)
        self.dtype = DTYPES[settings.dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(settings.path, trust_remote_code=self.trust_remote_code)
        self.tokenizer.padding_side = "left"  # not saved with the tokenizer: set after every load
        self.image_processor = AutoImageProcessor.from_pretrained(settings.path)
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
    def build_tiny(cls, settings: ModelSettings, out_dir: Path, texts: Sequence[str], seed: int) -> None:
        """Build this family's tiny random-weight twin (shape ``settings.tiny``, tokenizer trained on ``texts``)
        into ``out_dir``, loadable by ``from_pretrained`` like a real checkpoint; a family without one says so."""
        raise ConfigError(f"model.adapter={settings.adapter}: this family has no tiny random-weight twin "
                          f"(remove model.tiny and point model.path at a checkpoint)")

    @classmethod
    def lmms_eval_model(cls, settings: ModelSettings) -> tuple[str, dict[str, Any]]:
        """The lmms-eval model class that reads this family's checkpoints and its ``--model_args``
        (``eval.backend=lmms_eval``); a family lmms-eval cannot read says why."""
        raise ConfigError(f"model.adapter={settings.adapter}: no lmms-eval model class reads these checkpoints")

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

    @classmethod
    def image_check(cls, settings: ModelSettings) -> ImageCheck | None:
        """This family's limits on an image shape under ``settings`` (a function saying why a width x height
        is refused; None: no limits), from the settings alone: training's load (:meth:`image_problem`) and
        ``python -m mixed_r1.data validate --model NAME`` apply the same check, without loading a model."""
        return None

    def image_problem(self, width: int, height: int) -> str | None:
        """Why this family's processor cannot take a ``width`` x ``height`` image (None: it can); checked
        for every sample at load time, so a bad image fails the start, not a step hours in."""
        check = type(self).image_check(self.settings)
        return check(width, height) if check is not None else None

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
                               [[open_sample_image(s)] for s in samples])

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
        (``build_engine`` / ``engine.prepare_reference``): the model comes back where it was loaded.

        A trainable policy has ``model.freeze_vision`` / ``freeze_projector`` applied; with ``model.lora.rank`` > 0
        it is ``model.path`` wrapped with LoRA adapters (:mod:`mixed_r1.models.lora`), those of the checkpoint
        ``path`` when resuming."""
        from transformers import AutoModelForImageTextToText

        define_model_classes(self.model_config)  # before ZeRO-3's zero.Init: see its docstring
        if trainable and self.settings.lora.rank > 0:  # a checkpoint's merged export is not the base of its adapter
            weights = self.settings.path
        else:
            weights = path or self.settings.path
        model = AutoModelForImageTextToText.from_pretrained(
            weights, dtype=self.dtype, attn_implementation=self.attn_implementation(),
            trust_remote_code=self.trust_remote_code)
        install_shared_prompt_attention(model)  # used only by shared-prompt passes; else the loaded attention
        if not trainable:
            return model.eval().requires_grad_(False)
        for part in self.frozen_parts(model):  # before the engine builds its optimizer from what needs a gradient
            part.requires_grad_(False)
        if self.settings.gradient_checkpointing:  # recompute activations in backward: memory for time
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.settings.lora.rank > 0:  # only the adapters train; a resumed run's come from its checkpoint
            model = lora.attach(model, self.language_model(model), self.settings.lora)
            if path is not None:
                lora.load_adapter(model, path)
        trained, total = trainable_parameters(model)
        log.info("trainable parameters: %s of %s (%.1f%%)", f"{trained:,}", f"{total:,}", 100 * trained / max(total, 1))
        return model

    def frozen_parts(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The modules of the policy that ``model.freeze_vision`` / ``model.freeze_projector`` keep out of
        training: they take no gradient, so the engines give them no optimizer state."""
        parts = []
        if self.settings.freeze_vision:
            parts += self.vision_tower(model)
        if self.settings.freeze_projector:
            parts += self.projector(model)
        return parts

    @abstractmethod
    def language_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The decoder the vision features feed (LoRA adapts its layers only)."""

    @abstractmethod
    def vision_tower(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The modules of this family's vision encoder, its projector into the language model excluded."""

    @abstractmethod
    def projector(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The modules that map vision features into the language model's embedding space."""

    def attn_implementation(self) -> str:
        """``model.attn_implementation``; ``auto`` picks flash_attention_2 when flash-attn is installed
        and the model runs on a GPU, else PyTorch's sdpa."""
        import importlib.util

        name = self.settings.attn_implementation
        if name != "auto":
            return name
        has_flash = importlib.util.find_spec("flash_attn") is not None
        return "flash_attention_2" if has_flash and self.device.type == "cuda" else "sdpa"

    def save(self, model: torch.nn.Module, out_dir: str) -> None:
        """An HF-format checkpoint (model, tokenizer, image processor) that ``from_pretrained`` loads; a LoRA
        policy is saved merged, its adapter beside it (:func:`mixed_r1.models.lora.save`)."""
        wrapped = lora.peft_of(model)
        if wrapped is not None:
            lora.save(wrapped, out_dir)
        else:
            model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        self.image_processor.save_pretrained(out_dir)

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

    def shared_position_ids(self, model: torch.nn.Module, prompts: PromptBatch,
                            layout: SharedPromptLayout) -> torch.Tensor:
        """Positions of packed rows ``[U, L]``, as the unshared pass numbers them (0.. over the padded prompt,
        each slot continuing after the prompt); families with other rotary positions override it."""
        prompt = torch.arange(layout.prompt_len, device=prompts.input_ids.device)
        slot = layout.prompt_len + torch.arange(layout.slot_len, device=prompts.input_ids.device)
        return torch.cat([prompt, slot.repeat(layout.slots)]).expand(len(prompts), -1)

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
        return (f"<|im_start|>system\n{self.settings.system_prompt}<|im_end|>\n"
                f"<|im_start|>user\n{user}<|im_end|>\n"
                f"<|im_start|>assistant\n")
