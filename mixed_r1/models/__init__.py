"""Ground floor: model adapters (one per family) and their tiny random-weight twins."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.models.base import ModelAdapter, question_text
from mixed_r1.models.batch import Completions, PromptBatch
from mixed_r1.models.internvl import InternVLAdapter
from mixed_r1.models.qwen_vl import QwenVLAdapter
from mixed_r1.models.settings import ModelSettings, PromptSettings

# the families, by ``model.adapter``: each adapter class names its settings (``SETTINGS``) and builds its tiny twin
ADAPTERS: dict[str, type[ModelAdapter]] = {"qwen2_5_vl": QwenVLAdapter, "internvl": InternVLAdapter}


def adapter_class(name: str) -> type[ModelAdapter]:
    """The family ``model.adapter`` names (a clear error for an unknown one)."""
    if name not in ADAPTERS:
        raise ConfigError(f"model.adapter={name!r}; expected one of {sorted(ADAPTERS)}")
    return ADAPTERS[name]
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


def build_adapter(settings: ModelSettings, prompt: PromptSettings, device: torch.device,
                  tiny_corpus: Callable[[], Sequence[str]] | None = None, seed: int = 0) -> ModelAdapter:
    """The adapter of ``settings.adapter``. A tiny model (``model.tiny`` spec) is built from its spec
    only into ``model.build_dir`` (the run folder's ``base_model``), and only when nothing is there yet:
    a ``model.path`` anywhere else must already hold a checkpoint, so a mistyped path is an error, never
    a fresh random model. The adapter's ``settings.path`` is the folder it loads (a converted copy where the
    family needs one)."""
    adapter_cls = adapter_class(settings.adapter)
    build_dir = settings.build_dir
    if (settings.tiny and build_dir and Path(settings.path) == Path(build_dir)
            and not (Path(build_dir) / "config.json").is_file()):
        if tiny_corpus is None:
            raise ValueError("building a tiny model needs a tokenizer corpus")
        # the chat frame and instruction are in every prompt: make them whole tokens too
        texts = [*tiny_corpus(), settings.system_prompt, prompt.template, *prompt.hints.values()]
        adapter_cls.build_tiny(settings, Path(build_dir), texts, seed)
    check_model_path(settings.path)
    loaded = dataclasses.replace(settings, path=adapter_cls.prepare_checkpoint(settings.path))  # e.g. InternVL's hub layout
    return adapter_cls(loaded, prompt, device)


__all__ = ["ADAPTERS", "Completions", "ModelAdapter", "ModelSettings", "PromptBatch", "PromptSettings", "adapter_class",
           "build_adapter", "question_text"]
