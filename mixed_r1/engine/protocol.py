"""The engine seam: what the recipes may ask of an engine, and the lr bookkeeping both engines share.

Plain torch (:class:`~mixed_r1.engine.torch_engine.TorchEngine`) and DeepSpeed
(:class:`~mixed_r1.engine.deepspeed_engine.DeepSpeedEngine`) both satisfy :class:`Engine`; the GRPO and
SFT steps are written against it alone, so they read the same in one process and on 64 GPUs.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass
class LrSchedule:
    """Linear warm-up over ``warmup_steps`` updates, then constant ``base_lr``; ``updates`` counts the
    updates applied since the optimizer was (re)set — skipped (non-finite) updates do not count."""

    base_lr: float
    warmup_steps: int = 0
    updates: int = 0

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        if self.warmup_steps > 0:
            return self.base_lr * min(1.0, (self.updates + 1) / self.warmup_steps)
        return self.base_lr


@runtime_checkable
class Engine(Protocol):
    """Owns the policy's optimizer, its placement and everything distributed."""

    model: torch.nn.Module  # what forwards go through (DeepSpeed: its engine wrapping the HF model)
    schedule: LrSchedule

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        ...

    @property
    def updates(self) -> int:
        """Updates applied since the last ``reset_optimizer``."""
        ...

    def reset_optimizer(self, lr: float, warmup_steps: int = 0) -> None:
        """Zero moments and update count at ``lr``: each training phase starts clean."""
        ...

    def backward(self, loss: torch.Tensor, boundary: bool = True) -> None:
        """Accumulate the gradient of ``loss``, this micro-batch's share of the *global* batch's loss
        (``boundary``: the last micro-batch before ``step``). The engine undoes its own averaging over
        ranks, so the accumulated gradient is that of the global loss."""
        ...

    def step(self) -> float:
        """Clip, update, clear gradients; the global pre-clip gradient norm (NaN: update skipped)."""
        ...

    def gathered(self) -> AbstractContextManager[torch.nn.Module]:
        """The policy with all its weights present (the rollout phase)."""
        ...

    def prepare_reference(self, reference: torch.nn.Module) -> torch.nn.Module:
        """The frozen reference placed (or partitioned) as the forward passes use it."""
        ...

    def export(self, adapter: Any, model: torch.nn.Module, out_dir: str | Path) -> None:
        """An HF-format export of ``model`` (rank 0 writes; every rank joins)."""
        ...

    def save_state(self, out_dir: str | Path) -> None:
        """Optimizer state and update count (each rank its partition)."""
        ...

    def load_state(self, in_dir: str | Path) -> None:
        """The state ``save_state`` wrote."""
        ...
