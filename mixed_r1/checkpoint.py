"""Resumable training checkpoints: written atomically, the newest ``keep_last`` kept.

A checkpoint folder ``step_<N>/`` holds the policy and the frozen reference as HF exports (each
loadable with ``from_pretrained``) and ``state.pt``: optimizer state, update count, data-sampler
position, RNG states and the step counters. It is written under a temporary name and renamed when
complete, so a run killed while saving never leaves a half checkpoint that ``resume=auto`` would pick.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixed_r1.data.sampler import PromptSampler
from mixed_r1.engine import TorchEngine
from mixed_r1.errors import ConfigError
from mixed_r1.models import ModelAdapter

STATE_FILE = "state.pt"


def rng_states() -> dict[str, Any]:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(root: Path, step: int, grpo_step: int, adapter: ModelAdapter, policy: torch.nn.Module,
                    reference: torch.nn.Module, engine: TorchEngine, sampler: PromptSampler, keep_last: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    adapter.save(policy, str(tmp / "policy"))
    adapter.save(reference, str(tmp / "reference"))
    torch.save({"step": step, "grpo_step": grpo_step, "optimizer": engine.optimizer.state_dict(),
                "updates": engine.updates, "sampler": sampler.state_dict(), "rng": rng_states()}, tmp / STATE_FILE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in complete_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old)
    return final


def complete_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file())


def find_resume_checkpoint(resume: str | None, root: Path) -> Path | None:
    """``resume=auto``: the newest complete checkpoint under ``root`` (None on a fresh run);
    a path: that checkpoint, which must be complete."""
    if not resume:
        return None
    if resume == "auto":
        found = complete_checkpoints(root)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError(f"resume={resume}: not a complete checkpoint (no {STATE_FILE})")
    return path


def load_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(checkpoint / STATE_FILE, weights_only=False)
