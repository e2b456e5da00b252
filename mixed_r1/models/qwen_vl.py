"""Qwen2.5-VL adapter: smart-resize image budget, pixel box frame, 3-D rotary inputs."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from mixed_r1.errors import ConfigError
from mixed_r1.models.base import Completions, ModelAdapter, PromptBatch
from mixed_r1.models.shared_prompt import SharedPromptLayout


class QwenVLAdapter(ModelAdapter):
    """Qwen2.5-VL (3B, 7B and the tiny twin).

    Boxes: Qwen2.5-VL emits absolute pixel coordinates of the *processor-resized* image
    (smart resize to multiples of 28 within ``min_pixels``/``max_pixels``).
    Rotary positions are 3-D and derived from ``mm_token_type_ids`` (0 text, 1 image), which must
    span prompt *and* completion on the re-forward, or positions silently fall back to 1-D.
    """

    MODEL_TYPE = "qwen2_5_vl"
    IMAGE_TOKEN = "<|image_pad|>"
    SUPPRESSED_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")

    def __init__(self, cfg: Any, prompt: Any, device: torch.device) -> None:
        super().__init__(cfg, prompt, device)
        self.image_processor.size = {"shortest_edge": cfg.min_pixels, "longest_edge": cfg.max_pixels}
        self.merge_size = self.image_processor.merge_size
        self.patch_factor = self.image_processor.patch_size * self.merge_size  # 28
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.IMAGE_TOKEN)

    @classmethod
    def lmms_eval_model(cls, model_cfg: Any) -> tuple[str, dict[str, Any]]:
        """lmms-eval's ``qwen2_5_vl`` class (``Qwen2_5_VLForConditionalGeneration`` + ``AutoProcessor`` from the
        folder: our checkpoints carry the processor config, tokenizer and chat template), same image budget."""
        if "," in model_cfg.system_prompt:
            raise ConfigError("model.system_prompt holds a comma, which lmms-eval's --model_args cannot carry")
        return "qwen2_5_vl", {"pretrained": model_cfg.path, "min_pixels": model_cfg.min_pixels,
                              "max_pixels": model_cfg.max_pixels, "system_prompt": model_cfg.system_prompt}

    def image_placeholders(self, vision: dict[str, torch.Tensor]) -> tuple[list[str], list[int]]:
        patches = vision["image_grid_thw"].prod(dim=-1).tolist()  # flat patches per image
        tokens = [n // self.merge_size**2 for n in patches]  # after the 2x2 patch merge
        return [f"<|vision_start|>{self.IMAGE_TOKEN * n}<|vision_end|>" for n in tokens], patches

    def prompt_row_inputs(self, vision: dict[str, torch.Tensor], input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"image_grid_thw": vision["image_grid_thw"], "mm_token_type_ids": (input_ids == self.image_token_id).long()}

    def completion_row_inputs(self, batch: PromptBatch, completions: Completions) -> dict[str, torch.Tensor]:
        # completion tokens are text (type 0): without them the 3-D positions of the completion are wrong
        mm = torch.cat([batch.row_inputs["mm_token_type_ids"], torch.zeros_like(completions.ids)], dim=1)
        return {**batch.row_inputs, "mm_token_type_ids": mm}

    def shared_position_ids(self, model: torch.nn.Module, prompts: PromptBatch,
                            layout: SharedPromptLayout) -> torch.Tensor:
        """3-D rotary positions ``[3, U, L]``: the prompt's from the model's own ``get_rope_index``, every slot
        continuing on all three axes from the prompt's last (text) position, as the unshared pass does."""
        qwen = getattr(model, "module", model).model  # under DeepSpeed, the wrapped model
        prompt, _ = qwen.get_rope_index(prompts.input_ids, mm_token_type_ids=prompts.row_inputs["mm_token_type_ids"],
                                        image_grid_thw=prompts.row_inputs["image_grid_thw"],
                                        attention_mask=prompts.attention_mask)  # [3, U, Lp]
        slot = prompt[:, :, -1:] + 1 + torch.arange(layout.slot_len, device=prompt.device)  # [3, U, Tc]
        return torch.cat([prompt, slot.repeat(1, 1, layout.slots)], dim=2)

    PER_TOKEN_INPUTS = ("input_ids", "attention_mask", "mm_token_type_ids")

    def repeat_generation_state(self, model: torch.nn.Module, group_size: int) -> None:
        """The prefill stores each prompt's 3-D rotary offset (``rope_deltas``) on the model; the generation
        steps read one per sequence."""
        qwen = getattr(model, "module", model).model
        qwen.rope_deltas = qwen.rope_deltas.repeat_interleave(group_size, dim=0)

    IMAGE_FRAME_TOKENS = 2  # <|vision_start|> ... <|vision_end|>

    def image_tokens(self, width: int, height: int) -> int:
        new_w, new_h = self.resized((width, height))
        return (new_w // self.patch_factor) * (new_h // self.patch_factor)  # after the 2x2 merge

    def image_problem(self, width: int, height: int) -> str | None:
        """The processor's smart resize refuses some shapes (an aspect ratio above 200, for one)."""
        try:
            self.resized((width, height))
        except ValueError as err:
            return f"Qwen2.5-VL's processor rejects it: {err}"
        return None

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
