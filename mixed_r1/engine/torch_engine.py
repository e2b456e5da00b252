"""Single-process PyTorch engine: AdamW, gradient clipping, seeding, device choice."""
from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mixed_r1.engine.distributed import local_rank

OPTIMIZER_FILE = "optimizer.pt"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from the config's one ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto``: this process's GPU (``LOCAL_RANK``) when there is one, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank()}" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def warmup_lr(base_lr: float, updates: int, warmup_steps: int) -> float:
    """Constant ``base_lr`` after a linear warm-up over ``warmup_steps`` updates."""
    if warmup_steps > 0:
        return base_lr * min(1.0, (updates + 1) / warmup_steps)
    return base_lr


class TorchEngine:
    """Owns the optimizer of one model: ``backward`` per micro-batch, then one ``step`` (clip, update,
    zero grads).

    A step whose gradient is not finite (a NaN/inf loss or reward upstream) is skipped: gradients
    are cleared and the weights and optimizer state stay untouched. The methods past ``step`` are
    the seam :class:`~mixed_r1.engine.deepspeed_engine.DeepSpeedEngine` shares: here they are trivial.
    """

    def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), grad_clip: float = 1.0, warmup_steps: int = 0) -> None:
        self.model = model
        self.grad_clip, self.weight_decay, self.betas = grad_clip, weight_decay, tuple(betas)
        self.reset_optimizer(lr, warmup_steps)

    def reset_optimizer(self, lr: float, warmup_steps: int = 0) -> None:
        """A fresh AdamW (zero moments, update count 0) at ``lr``: each training phase starts clean."""
        self.base_lr, self.warmup_steps, self.updates = lr, warmup_steps, 0
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, betas=self.betas)

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        return warmup_lr(self.base_lr, self.updates, self.warmup_steps)

    def backward(self, loss: torch.Tensor, boundary: bool = True) -> None:
        """Accumulate gradients of one micro-batch (``boundary``: the last one before ``step``)."""
        loss.backward()

    def step(self) -> float:
        """Clip, update and clear gradients; returns the pre-clip gradient norm (NaN when skipped)."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.grad_clip))
        if math.isfinite(grad_norm):
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
            self.optimizer.step()
            self.updates += 1
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    @contextlib.contextmanager
    def gathered(self) -> Iterator[torch.nn.Module]:
        """The policy with all its weights present (the rollout phase); here it always is."""
        yield self.model

    def prepare_reference(self, reference: torch.nn.Module) -> torch.nn.Module:
        """The frozen reference as the forward passes use it (here: as loaded)."""
        return reference

    def export(self, adapter: Any, model: torch.nn.Module, out_dir: str | Path) -> None:
        """An HF-format export of ``model`` that ``from_pretrained`` loads."""
        adapter.save(model, str(out_dir))

    def save_state(self, out_dir: str | Path) -> None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        torch.save({"optimizer": self.optimizer.state_dict(), "updates": self.updates}, Path(out_dir) / OPTIMIZER_FILE)

    def load_state(self, in_dir: str | Path) -> None:
        state = torch.load(Path(in_dir) / OPTIMIZER_FILE, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = state["updates"]
