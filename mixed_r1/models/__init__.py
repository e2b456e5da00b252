"""Ground floor: model adapters (one per family) and their tiny random-weight twins."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from mixed_r1.models.base import Completions, ModelAdapter, PromptBatch, question_text
from mixed_r1.models.internvl import InternVLAdapter
from mixed_r1.models.qwen_vl import QwenVLAdapter
from mixed_r1.models.tiny import TINY_BUILDERS

ADAPTERS: dict[str, type[ModelAdapter]] = {"qwen2_5_vl": QwenVLAdapter, "internvl": InternVLAdapter}


def build_adapter(model_cfg: Any, prompt_cfg: Any, device: torch.device,
                  tiny_corpus: Callable[[], Sequence[str]] | None = None, seed: int = 0) -> ModelAdapter:
    """The adapter named by ``model.adapter``; for a ``model.tiny`` spec, build the tiny twin into
    ``model.path`` first (if no checkpoint is there yet) so it loads through ``from_pretrained``."""
    if model_cfg.adapter not in ADAPTERS:
        raise ValueError(f"model.adapter={model_cfg.adapter!r}; expected one of {sorted(ADAPTERS)}")
    if model_cfg.get("tiny") and not (Path(model_cfg.path) / "config.json").is_file():
        if tiny_corpus is None:
            raise ValueError("building a tiny model needs a tokenizer corpus")
        spec = {**{k: model_cfg[k] for k in ("min_pixels", "max_pixels", "max_num_tiles") if k in model_cfg},
                **model_cfg.tiny}
        # the chat frame and instruction are in every prompt: make them whole tokens too
        texts = [*tiny_corpus(), model_cfg.system_prompt, prompt_cfg.template, *dict(prompt_cfg.hints).values()]
        TINY_BUILDERS[model_cfg.adapter](model_cfg.path, texts, spec, seed)
    adapter_cls = ADAPTERS[model_cfg.adapter]
    model_cfg.path = adapter_cls.prepare_checkpoint(str(model_cfg.path))  # e.g. InternVL's remote-code layout
    return adapter_cls(model_cfg, prompt_cfg, device)


__all__ = ["ADAPTERS", "Completions", "ModelAdapter", "PromptBatch", "build_adapter", "question_text"]
