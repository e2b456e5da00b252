"""Qwen2.5-VL: its settings (smart-resize image budget), adapter (pixel box frame, 3-D rotary inputs) and tiny twin."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from mixed_r1.data.schema import ImageCheck
from mixed_r1.errors import ConfigError
from mixed_r1.models.base import ModelAdapter, transformers_model
from mixed_r1.models.batch import Completions, PromptBatch
from mixed_r1.models.settings import ModelSettings, PromptSettings
from mixed_r1.models.shared_prompt import SharedPromptLayout
from mixed_r1.models.tiny import QWEN_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, instantiate_random, train_bpe_tokenizer


@dataclass(frozen=True, kw_only=True)
class QwenVLSettings(ModelSettings):
    """Qwen2.5-VL's image budget: the processor resizes every image to within these pixel counts."""

    min_pixels: int
    max_pixels: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ConfigError(f"model.min_pixels={self.min_pixels} and model.max_pixels={self.max_pixels}: "
                              f"need 0 < min_pixels <= max_pixels")


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
    SETTINGS = QwenVLSettings
    settings: QwenVLSettings
    PATCH_FACTOR = 28  # 14-px patches merged 2x2: the resize multiple (checked against the processor on load)

    def __init__(self, settings: ModelSettings, prompt: PromptSettings, device: torch.device) -> None:
        assert isinstance(settings, QwenVLSettings), "settings are read into the family's SETTINGS class"
        super().__init__(settings, prompt, device)
        self.image_processor.size = {"shortest_edge": self.settings.min_pixels, "longest_edge": self.settings.max_pixels}
        self.merge_size = self.image_processor.merge_size
        self.patch_factor = self.image_processor.patch_size * self.merge_size  # 28
        if self.patch_factor != self.PATCH_FACTOR:  # image_check (no processor at hand) assumes it
            raise ConfigError(f"model.path={settings.path}: the image processor resizes to multiples of "
                              f"{self.patch_factor}, not Qwen2.5-VL's {self.PATCH_FACTOR}")
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.IMAGE_TOKEN)

    @classmethod
    def build_tiny(cls, settings: ModelSettings, out_dir: Path, texts: Sequence[str], seed: int) -> None:
        assert isinstance(settings, QwenVLSettings) and settings.tiny is not None
        spec = {"min_pixels": settings.min_pixels, "max_pixels": settings.max_pixels, **settings.tiny}
        build_tiny_qwen2_5_vl(out_dir, texts, spec, seed)

    @classmethod
    def lmms_eval_model(cls, settings: ModelSettings) -> tuple[str, dict[str, Any]]:
        """lmms-eval's ``qwen2_5_vl`` class (``Qwen2_5_VLForConditionalGeneration`` + ``AutoProcessor`` from the
        folder: our checkpoints carry the processor config, tokenizer and chat template), same image budget."""
        assert isinstance(settings, QwenVLSettings)
        if "," in settings.system_prompt:
            raise ConfigError("model.system_prompt holds a comma, which lmms-eval's --model_args cannot carry")
        return "qwen2_5_vl", {"pretrained": settings.path, "min_pixels": settings.min_pixels,
                              "max_pixels": settings.max_pixels, "system_prompt": settings.system_prompt}

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
        qwen = transformers_model(model).model  # inside DeepSpeed or PEFT
        prompt, _ = qwen.get_rope_index(prompts.input_ids, mm_token_type_ids=prompts.row_inputs["mm_token_type_ids"],
                                        image_grid_thw=prompts.row_inputs["image_grid_thw"],
                                        attention_mask=prompts.attention_mask)  # [3, U, Lp]
        slot = prompt[:, :, -1:] + 1 + torch.arange(layout.slot_len, device=prompt.device)  # [3, U, Tc]
        return torch.cat([prompt, slot.repeat(1, 1, layout.slots)], dim=2)

    PER_TOKEN_INPUTS = ("input_ids", "attention_mask", "mm_token_type_ids")

    def language_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.model.language_model

    def vision_tower(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """``model.visual`` without its ``merger`` (the projector lives inside the vision tower here)."""
        return [module for name, module in model.model.visual.named_children() if name != "merger"]

    def projector(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """``model.visual.merger``: merges 2x2 patches and projects them to the language model's width."""
        return [model.model.visual.merger]

    def repeat_generation_state(self, model: torch.nn.Module, group_size: int) -> None:
        """The prefill stores each prompt's 3-D rotary offset (``rope_deltas``) on the model; the generation
        steps read one per sequence."""
        qwen = transformers_model(model).model
        qwen.rope_deltas = qwen.rope_deltas.repeat_interleave(group_size, dim=0)

    IMAGE_FRAME_TOKENS = 2  # <|vision_start|> ... <|vision_end|>

    def image_tokens(self, width: int, height: int) -> int:
        new_w, new_h = self.resized((width, height))
        return (new_w // self.patch_factor) * (new_h // self.patch_factor)  # after the 2x2 merge

    @classmethod
    def image_check(cls, settings: ModelSettings) -> ImageCheck:
        """The processor's smart resize refuses some shapes (an aspect ratio above 200, for one)."""
        assert isinstance(settings, QwenVLSettings), "settings are read into the family's SETTINGS class"

        def problem(width: int, height: int) -> str | None:
            try:
                smart_resize(height, width, factor=cls.PATCH_FACTOR, min_pixels=settings.min_pixels,
                             max_pixels=settings.max_pixels)
            except ValueError as err:
                return f"Qwen2.5-VL's processor rejects it: {err}"
            return None

        return problem

    def resized(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) after the processor's smart resize."""
        width, height = image_size
        new_h, new_w = smart_resize(height, width, factor=self.patch_factor,
                                    min_pixels=self.settings.min_pixels, max_pixels=self.settings.max_pixels)
        return new_w, new_h

    def box_to_model_frame(self, box: Sequence[float], image_size: tuple[int, int]) -> list[float]:
        new_w, new_h = self.resized(image_size)
        sx, sy = new_w / image_size[0], new_h / image_size[1]
        return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]

    def box_to_text(self, box: Sequence[float], image_size: tuple[int, int]) -> str:
        return "[" + ", ".join(str(round(v)) for v in self.box_to_model_frame(box, image_size)) + "]"


# ----------------------------------------------------------------------------- the tiny random-weight twin
def build_tiny_qwen2_5_vl(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any], seed: int) -> Path:
    """Build a Qwen2.5-VL (transformers' own classes, random weights) from ``spec`` and save it with its
    tokenizer and image processor to ``out_dir``. Small specs give the CPU twin; optional keys
    (``model_vocab_size``, ``vision_intermediate_size``, ``fullatt_block_indexes``, ``rope_theta``,
    ``tie_word_embeddings``) give the real 3B/7B shapes for GPU checks."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(corpus, spec["vocab_size"], QWEN_SPECIAL_TOKENS,
                                    eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in QWEN_SPECIAL_TOKENS}
    special = dict(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    head_dim = spec["hidden_size"] // spec["num_attention_heads"]
    tie = spec.get("tie_word_embeddings", True)
    vision_depth = spec["vision_depth"]
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=max(len(tokenizer), spec.get("model_vocab_size", 0)),
            hidden_size=spec["hidden_size"], intermediate_size=spec["intermediate_size"],
            num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
            num_key_value_heads=spec["num_key_value_heads"], max_position_embeddings=spec["max_position_embeddings"],
            # mrope sections (temporal, height, width) must sum to head_dim / 2
            rope_parameters={"rope_type": "default", "rope_theta": spec.get("rope_theta", 10000.0),
                             "mrope_section": mrope_section(head_dim)},
            tie_word_embeddings=tie, **special),
        vision_config=dict(
            depth=vision_depth, hidden_size=spec["vision_hidden_size"],
            intermediate_size=spec.get("vision_intermediate_size", 2 * spec["vision_hidden_size"]),
            num_heads=spec["vision_num_heads"], out_hidden_size=spec["hidden_size"],
            fullatt_block_indexes=list(spec.get("fullatt_block_indexes", [vision_depth - 1])),
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie, **special,
    )
    torch.manual_seed(seed)
    model = instantiate_random(Qwen2_5_VLForConditionalGeneration, config, spec)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=spec["min_pixels"], max_pixels=spec["max_pixels"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    return out_dir


def mrope_section(head_dim: int) -> list[int]:
    """The (temporal, height, width) split of the rotary half-dimension Qwen's 3-D positions use."""
    half = head_dim // 2
    temporal = half // 4
    height = (half - temporal) // 2
    return [temporal, height, half - temporal - height]
