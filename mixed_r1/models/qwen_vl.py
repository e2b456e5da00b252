"""Qwen2.5-VL adapter: chat format, smart-resize image budget, pixel box frame, 3-D rotary inputs."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer, GenerationConfig
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from mixed_r1.data.schema import Sample
from mixed_r1.models.base import Completions, ModelAdapter, PromptBatch, question_text

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class QwenVLAdapter(ModelAdapter):
    """Qwen2.5-VL (3B, 7B and the tiny twin).

    Boxes: Qwen2.5-VL emits absolute pixel coordinates of the *processor-resized* image
    (smart resize to multiples of 28 within ``min_pixels``/``max_pixels``).
    Rotary positions are 3-D and derived from ``mm_token_type_ids`` (0 text, 1 image), which must
    span prompt *and* completion on the re-forward, or positions silently fall back to 1-D.
    """

    IMAGE_TOKEN = "<|image_pad|>"
    STOP_TOKEN = "<|im_end|>"
    VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")

    def __init__(self, cfg: Any, prompt: Any, device: torch.device) -> None:
        self.cfg = cfg
        self.prompt = prompt
        self.device = device
        self.dtype = _DTYPES[cfg.dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(cfg.path)
        self.tokenizer.padding_side = "left"  # not saved with the tokenizer: set after every load
        self.image_processor = AutoImageProcessor.from_pretrained(cfg.path)
        self.image_processor.size = {"shortest_edge": cfg.min_pixels, "longest_edge": cfg.max_pixels}
        self.merge_size = self.image_processor.merge_size
        self.patch_factor = self.image_processor.patch_size * self.merge_size  # 28
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.IMAGE_TOKEN)
        self.stop_token_id = self.tokenizer.convert_tokens_to_ids(self.STOP_TOKEN)
        self.pad_token_id = self.tokenizer.pad_token_id
        # A policy (random or early in RL) can emit vision tokens; they break the image-token count on
        # the re-forward, so they are never sampled.
        self.suppressed_ids = [self.tokenizer.convert_tokens_to_ids(t) for t in self.VISION_TOKENS]

    # ------------------------------------------------------------------ loading / saving
    def load_model(self, trainable: bool = True) -> torch.nn.Module:
        model = AutoModelForImageTextToText.from_pretrained(
            self.cfg.path, dtype=self.dtype, attn_implementation=self.cfg.attn_implementation)
        model.to(self.device)
        if not trainable:
            model.eval().requires_grad_(False)
        return model

    def save(self, model: torch.nn.Module, out_dir: str) -> None:
        model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)
        self.image_processor.save_pretrained(out_dir)

    # ------------------------------------------------------------------ prompts
    def chat_text(self, sample: Sample, num_image_tokens: int) -> str:
        """Qwen2.5-VL's chat format with the image placeholder expanded to its token count."""
        image = f"<|vision_start|>{self.IMAGE_TOKEN * num_image_tokens}<|vision_end|>"
        return (f"<|im_start|>system\n{self.cfg.system_prompt}<|im_end|>\n"
                f"<|im_start|>user\n{image}{question_text(sample, self.prompt)}<|im_end|>\n"
                f"<|im_start|>assistant\n")

    def prompt_batch(self, samples: Sequence[Sample]) -> PromptBatch:
        images = [Image.open(s.image).convert("RGB") for s in samples]
        vision = self.image_processor(images=images, return_tensors="pt")
        grid = vision["image_grid_thw"]  # [P, 3]
        n_tokens = (grid.prod(dim=-1) // self.merge_size**2).tolist()
        texts = [self.chat_text(s, n) for s, n in zip(samples, n_tokens)]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        mm_token_type_ids = (enc["input_ids"] == self.image_token_id).long()
        return PromptBatch(
            input_ids=enc["input_ids"].to(self.device),
            attention_mask=enc["attention_mask"].to(self.device),
            vision={"pixel_values": vision["pixel_values"].to(self.device, self.dtype),
                    "image_grid_thw": grid.to(self.device),
                    "mm_token_type_ids": mm_token_type_ids.to(self.device)},
        )

    def repeat(self, batch: PromptBatch, times: int) -> PromptBatch:
        grid = batch.vision["image_grid_thw"]
        patches = torch.split(batch.vision["pixel_values"], grid.prod(dim=-1).tolist())  # flat patches per image
        return PromptBatch(
            input_ids=batch.input_ids.repeat_interleave(times, dim=0),
            attention_mask=batch.attention_mask.repeat_interleave(times, dim=0),
            vision={"pixel_values": torch.cat([p for p in patches for _ in range(times)]),
                    "image_grid_thw": grid.repeat_interleave(times, dim=0),
                    "mm_token_type_ids": batch.vision["mm_token_type_ids"].repeat_interleave(times, dim=0)},
        )

    def select(self, batch: PromptBatch, rows: slice) -> PromptBatch:
        grid = batch.vision["image_grid_thw"]
        offsets = torch.cat([grid.new_zeros(1), grid.prod(dim=-1).cumsum(0)]).tolist()  # patch offset per image
        start, stop, _ = rows.indices(len(batch))
        return PromptBatch(
            input_ids=batch.input_ids[start:stop],
            attention_mask=batch.attention_mask[start:stop],
            vision={"pixel_values": batch.vision["pixel_values"][offsets[start]:offsets[stop]],
                    "image_grid_thw": grid[start:stop],
                    "mm_token_type_ids": batch.vision["mm_token_type_ids"][start:stop]},
        )

    # ------------------------------------------------------------------ generation and log-probs
    def generate(self, model: torch.nn.Module, batch: PromptBatch, num_samples: int,
                 temperature: float, max_new_tokens: int) -> Completions:
        # An explicit config: a checkpoint's generation_config (top_k/top_p/repetition penalty) must not
        # change the sampling distribution GRPO assumes.
        config = GenerationConfig(
            do_sample=True, temperature=temperature, top_k=0, top_p=1.0, repetition_penalty=1.0,
            max_new_tokens=max_new_tokens, num_return_sequences=num_samples,
            eos_token_id=self.stop_token_id, pad_token_id=self.pad_token_id,
            suppress_tokens=self.suppressed_ids)
        with torch.no_grad():
            out = model.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                 **batch.vision, generation_config=config)
        ids = out[:, batch.input_ids.shape[1]:]  # [P*G, Tc]
        return Completions(ids=ids, mask=self.stop_mask(ids))

    def stop_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """1 up to and including the first stop token (all ones when there is none)."""
        is_stop = ids == self.stop_token_id
        after_stop = (is_stop.cumsum(dim=1) - is_stop.long()) > 0
        return (~after_stop).long()

    def completion_logprobs(self, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                            temperature: float = 1.0) -> torch.Tensor:
        n_completion = completions.ids.shape[1]
        input_ids = torch.cat([batch.input_ids, completions.ids], dim=1)
        attention_mask = torch.cat([batch.attention_mask, completions.mask.to(batch.attention_mask.dtype)], dim=1)
        mm_token_type_ids = torch.cat(
            [batch.vision["mm_token_type_ids"], torch.zeros_like(completions.ids)], dim=1)
        out = model(input_ids=input_ids, attention_mask=attention_mask,
                    pixel_values=batch.vision["pixel_values"], image_grid_thw=batch.vision["image_grid_thw"],
                    mm_token_type_ids=mm_token_type_ids, logits_to_keep=n_completion + 1, use_cache=False)
        # logits of the last Tc+1 positions; dropping the final one, position t predicts completion token t
        logits = out.logits[:, :-1].float() / temperature  # [B, Tc, V]
        # log-softmax at the taken token only: no second [B, Tc, V] tensor
        taken = logits.gather(-1, completions.ids.unsqueeze(-1)).squeeze(-1)  # [B, Tc]
        return taken - torch.logsumexp(logits, dim=-1)

    def encode_targets(self, texts: Sequence[str]) -> Completions:
        rows = [self.tokenizer(t, add_special_tokens=False)["input_ids"] + [self.stop_token_id] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return Completions(ids=ids.to(self.device), mask=mask.to(self.device))

    def decode(self, completions: Completions) -> list[str]:
        texts = []
        for ids, mask in zip(completions.ids.tolist(), completions.mask.tolist()):
            kept = [t for t, m in zip(ids, mask) if m and t != self.stop_token_id]
            texts.append(self.tokenizer.decode(kept, skip_special_tokens=False))
        return texts

    # ------------------------------------------------------------------ reward helpers
    def input_embeddings(self, model: torch.nn.Module) -> torch.Tensor:
        return model.get_input_embeddings().weight.detach()

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []

    def resized(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) after the processor's smart resize."""
        width, height = image_size
        new_h, new_w = smart_resize(height, width, factor=self.patch_factor,
                                    min_pixels=self.cfg.min_pixels, max_pixels=self.cfg.max_pixels)
        return new_w, new_h

    def box_to_model_frame(self, box: Sequence[float], image_size: tuple[int, int]) -> list[float]:
        new_w, new_h = self.resized(image_size)
        sx, sy = new_w / image_size[0], new_h / image_size[1]
        return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]

    def box_to_text(self, box: Sequence[float], image_size: tuple[int, int]) -> str:
        return "[" + ", ".join(str(round(v)) for v in self.box_to_model_frame(box, image_size)) + "]"
