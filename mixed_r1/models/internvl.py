"""InternVL2.5 adapter (transformers' native ``InternVLForConditionalGeneration``): dynamic 448-px
tiling with a thumbnail, ``<img><IMG_CONTEXT>…</img>`` placeholders, 0–1000 box frame."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.models.base import ModelAdapter
from mixed_r1.models.settings import ModelSettings, PromptSettings
from mixed_r1.models.tiny import QWEN_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, instantiate_random, train_bpe_tokenizer


@dataclass(frozen=True, kw_only=True)
class InternVLSettings(ModelSettings):
    """InternVL's image budget: dynamic tiling into at most this many tiles (+ a thumbnail when tiled)."""

    max_num_tiles: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_num_tiles < 1:
            raise ConfigError(f"model.max_num_tiles={self.max_num_tiles} must be >= 1")


class InternVLAdapter(ModelAdapter):
    """InternVL2.5 (4B and the tiny twin).

    Each image becomes up to ``max_num_tiles`` tiles (plus a thumbnail when tiled); each tile is
    ``(tile/patch)² · downsample²`` context tokens (256 for 448-px tiles). Boxes are written as
    ``<box>[[x1, y1, x2, y2]]</box>`` in a 0–1000 frame of the original image.
    """

    MODEL_TYPE = "internvl"
    conversion_hint = (" (the hub's OpenGVLab/InternVL2_5-* checkpoints are remote code, model_type "
                       "'internvl_chat': build_adapter converts them automatically through "
                       "InternVLAdapter.prepare_checkpoint, following transformers' convert_internvl_weights_to_hf.py)")
    CONTEXT_TOKEN = "<IMG_CONTEXT>"
    SUPPRESSED_TOKENS = ("<IMG_CONTEXT>", "<img>", "</img>")
    BOX_SCALE = 1000
    SETTINGS = InternVLSettings
    settings: InternVLSettings

    def __init__(self, settings: ModelSettings, prompt: PromptSettings, device: torch.device) -> None:
        assert isinstance(settings, InternVLSettings), "settings are read into the family's SETTINGS class"
        super().__init__(settings, prompt, device)
        vision = self.model_config.vision_config
        side = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) else vision.image_size
        patch = vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) else vision.patch_size
        self.tokens_per_tile = int((side // patch) ** 2 * self.model_config.downsample_ratio**2)
        self.image_processor.crop_to_patches = True
        self.image_processor.min_patches = 1
        self.image_processor.max_patches = self.settings.max_num_tiles

    @classmethod
    def prepare_checkpoint(cls, path: str) -> str:
        """The folder to load for ``model.path``: the hub's remote-code layout (``OpenGVLab/InternVL2_5-4B``,
        model_type ``internvl_chat``) is converted once into a cache folder beside it and that folder is
        returned; a native checkpoint's ``path`` comes back unchanged."""
        from mixed_r1.models.internvl_conversion import prepare_internvl_checkpoint

        return prepare_internvl_checkpoint(path)

    @classmethod
    def build_tiny(cls, settings: ModelSettings, out_dir: Path, texts: Sequence[str], seed: int) -> None:
        assert isinstance(settings, InternVLSettings) and settings.tiny is not None
        build_tiny_internvl(out_dir, texts, {"max_num_tiles": settings.max_num_tiles, **settings.tiny}, seed)

    @classmethod
    def lmms_eval_model(cls, settings: ModelSettings) -> tuple[str, dict[str, Any]]:
        """lmms-eval (0.3.5) reads InternVL only through its remote-code classes (``internvl2``: ``AutoModel``
        with ``trust_remote_code``); our checkpoints are transformers' native InternVL, which they cannot load."""
        raise ConfigError("eval.backend=lmms_eval cannot read a native InternVL checkpoint (lmms-eval's internvl2 "
                          "class loads the hub's remote code); use eval.backend=native, or point lmms-eval at the "
                          "original OpenGVLab checkpoint for the base-model row")

    def language_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.model.language_model  # a Qwen2 decoder

    def vision_tower(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The InternViT encoder (``model.vision_tower``)."""
        return [model.model.vision_tower]

    def projector(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The pixel-shuffle MLP into the language model (``model.multi_modal_projector``)."""
        return [model.model.multi_modal_projector]

    IMAGE_FRAME_TOKENS = 3  # <img> ... </img> and the newline after it

    def image_tokens(self, width: int, height: int) -> int:
        tiles = self.image_processor.get_number_of_image_patches(height, width, {})  # thumbnail included
        return self.tokens_per_tile * tiles

    def image_placeholders(self, vision: dict[str, torch.Tensor]) -> tuple[list[str], list[int]]:
        tiles = vision["num_patches"].tolist()
        return [f"<img>{self.CONTEXT_TOKEN * (self.tokens_per_tile * n)}</img>\n" for n in tiles], tiles

    def box_to_model_frame(self, box: Sequence[float], image_size: tuple[int, int]) -> list[float]:
        width, height = image_size
        return [box[0] * self.BOX_SCALE / width, box[1] * self.BOX_SCALE / height,
                box[2] * self.BOX_SCALE / width, box[3] * self.BOX_SCALE / height]

    def box_to_text(self, box: Sequence[float], image_size: tuple[int, int]) -> str:
        return "<box>[[" + ", ".join(str(round(v)) for v in self.box_to_model_frame(box, image_size)) + "]]</box>"


# ----------------------------------------------------------------------------- the tiny random-weight twin
INTERNVL_SPECIAL_TOKENS = QWEN_SPECIAL_TOKENS[:3] + ("<img>", "</img>", "<IMG_CONTEXT>", "<ref>", "</ref>",
                                                    "<box>", "</box>")


def build_tiny_internvl(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any], seed: int) -> Path:
    """Build a small InternVL (transformers' native classes, Qwen2 text model, random weights) and save it
    with its tokenizer and tiling image processor to ``out_dir``."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    out_dir = Path(out_dir)
    from mixed_r1.models.internvl_conversion import NAMED_TOKENS, write_processor_config

    tokenizer = train_bpe_tokenizer(corpus, spec["vocab_size"], INTERNVL_SPECIAL_TOKENS,
                                    eos_token="<|im_end|>", pad_token="<|endoftext|>", named_tokens=NAMED_TOKENS)
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>\n")
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in INTERNVL_SPECIAL_TOKENS}
    tile = spec["tile_size"]
    config = InternVLConfig(
        vision_config=dict(hidden_size=spec["vision_hidden_size"], num_hidden_layers=spec["vision_depth"],
                           num_attention_heads=spec["vision_num_heads"],
                           intermediate_size=spec.get("vision_intermediate_size", 2 * spec["vision_hidden_size"]),
                           image_size=[tile, tile], patch_size=[14, 14]),
        text_config=dict(model_type="qwen2", vocab_size=max(len(tokenizer), spec.get("model_vocab_size", 0)),
                         hidden_size=spec["hidden_size"],
                         intermediate_size=spec["intermediate_size"], num_hidden_layers=spec["num_hidden_layers"],
                         num_attention_heads=spec["num_attention_heads"],
                         num_key_value_heads=spec["num_key_value_heads"],
                         max_position_embeddings=spec["max_position_embeddings"],
                         tie_word_embeddings=spec.get("tie_word_embeddings", True),
                         rope_parameters={"rope_type": "default", "rope_theta": spec.get("rope_theta", 10000.0)},
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                         bos_token_id=ids["<|endoftext|>"]),
        image_token_id=ids["<IMG_CONTEXT>"], downsample_ratio=0.5, image_seq_length=(tile // 14) ** 2 // 4,
        tie_word_embeddings=spec.get("tie_word_embeddings", True))
    torch.manual_seed(seed)
    model = instantiate_random(InternVLForConditionalGeneration, config, spec)
    image_processor = GotOcr2ImageProcessorPil(size={"height": tile, "width": tile}, crop_to_patches=True,
                                               min_patches=1, max_patches=spec["max_num_tiles"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    write_processor_config(out_dir, config.image_seq_length)
    return out_dir
