"""Ground floor: model adapters (one per family) and their tiny random-weight twins."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.models.base import Completions, ModelAdapter, PromptBatch, question_text
from mixed_r1.models.internvl import InternVLAdapter
from mixed_r1.models.qwen_vl import QwenVLAdapter
from mixed_r1.models.tiny import TINY_BUILDERS

ADAPTERS: dict[str, type[ModelAdapter]] = {"qwen2_5_vl": QwenVLAdapter, "internvl": InternVLAdapter}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # org/name


def check_model_path(path: str) -> None:
    """A clear start-up error for a ``model.path`` that cannot load: a missing local folder, a folder
    without a checkpoint, or (offline) a hub id not in the local cache — not a hub traceback later."""
    local = Path(path).expanduser()
    if local.exists():
        if local.is_dir() and not (local / "config.json").is_file():
            raise ConfigError(f"model.path={path} holds no checkpoint (no config.json in it)")
        return
    if not HUB_ID.fullmatch(path):
        raise ConfigError(f"model.path={path} does not exist (neither a local folder nor a hub id 'org/name')")
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(path, "config.json"), str):
            raise ConfigError(f"model.path={path} is a hub id that is not in the local cache, and HF_HUB_OFFLINE is "
                              f"set: download it first (hf download {path}) or point model.path at a local folder")


def build_adapter(model_cfg: Any, prompt_cfg: Any, device: torch.device,
                  tiny_corpus: Callable[[], Sequence[str]] | None = None, seed: int = 0) -> ModelAdapter:
    """The adapter named by ``model.adapter``. A tiny model (``model.tiny`` spec) is built from its spec
    only into ``model.build_dir`` (the run folder's ``base_model``), and only when nothing is there yet:
    a ``model.path`` anywhere else must already hold a checkpoint, so a mistyped path is an error, never
    a fresh random model."""
    if model_cfg.adapter not in ADAPTERS:
        raise ConfigError(f"model.adapter={model_cfg.adapter!r}; expected one of {sorted(ADAPTERS)}")
    build_dir = model_cfg.get("build_dir")
    if (model_cfg.get("tiny") and build_dir and Path(model_cfg.path) == Path(build_dir)
            and not (Path(build_dir) / "config.json").is_file()):
        if tiny_corpus is None:
            raise ValueError("building a tiny model needs a tokenizer corpus")
        spec = {**{k: model_cfg[k] for k in ("min_pixels", "max_pixels", "max_num_tiles") if k in model_cfg},
                **model_cfg.tiny}
        # the chat frame and instruction are in every prompt: make them whole tokens too
        texts = [*tiny_corpus(), model_cfg.system_prompt, prompt_cfg.template, *dict(prompt_cfg.hints).values()]
        TINY_BUILDERS[model_cfg.adapter](build_dir, texts, spec, seed)
    check_model_path(str(model_cfg.path))
    adapter_cls = ADAPTERS[model_cfg.adapter]
    model_cfg.path = adapter_cls.prepare_checkpoint(str(model_cfg.path))  # e.g. InternVL's remote-code layout
    return adapter_cls(model_cfg, prompt_cfg, device)


__all__ = ["ADAPTERS", "Completions", "ModelAdapter", "PromptBatch", "build_adapter", "question_text"]
