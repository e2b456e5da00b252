"""InternVL2.5 adapter (transformers' native ``InternVLForConditionalGeneration``): dynamic 448-px
tiling with a thumbnail, ``<img><IMG_CONTEXT>…</img>`` placeholders, 0–1000 box frame."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.models.base import ModelAdapter


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

    def __init__(self, cfg: Any, prompt: Any, device: torch.device) -> None:
        super().__init__(cfg, prompt, device)
        vision = self.model_config.vision_config
        side = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) else vision.image_size
        patch = vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) else vision.patch_size
        self.tokens_per_tile = int((side // patch) ** 2 * self.model_config.downsample_ratio**2)
        self.image_processor.crop_to_patches = True
        self.image_processor.min_patches = 1
        self.image_processor.max_patches = cfg.max_num_tiles

    @classmethod
    def prepare_checkpoint(cls, path: str) -> str:
        """The folder to load for ``model.path``: the hub's remote-code layout (``OpenGVLab/InternVL2_5-4B``,
        model_type ``internvl_chat``) is converted once into a cache folder beside it and that folder is
        returned; a native checkpoint's ``path`` comes back unchanged."""
        from mixed_r1.models.internvl_conversion import prepare_internvl_checkpoint

        return prepare_internvl_checkpoint(path)

    @classmethod
    def lmms_eval_model(cls, model_cfg: Any) -> tuple[str, dict[str, Any]]:
        """lmms-eval (0.3.5) reads InternVL only through its remote-code classes (``internvl2``: ``AutoModel``
        with ``trust_remote_code``); our checkpoints are transformers' native InternVL, which they cannot load."""
        raise ConfigError("eval.backend=lmms_eval cannot read a native InternVL checkpoint (lmms-eval's internvl2 "
                          "class loads the hub's remote code); use eval.backend=native, or point lmms-eval at the "
                          "original OpenGVLab checkpoint for the base-model row")

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
