"""Single-process PyTorch engine: AdamW, gradient clipping, seeding, device choice."""
from __future__ import annotations

import math
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from the config's one ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class TorchEngine:
    """Owns the optimizer of one model: ``backward`` then ``step`` (clip, update, zero grads).

    The learning rate is constant after an optional linear warm-up over ``warmup_steps`` updates.
    A step whose gradient is not finite (a NaN/inf loss or reward upstream) is skipped: gradients
    are cleared and the weights and optimizer state stay untouched.
    """

    def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), grad_clip: float = 1.0, warmup_steps: int = 0) -> None:
        self.model = model
        self.grad_clip = grad_clip
        self.base_lr, self.warmup_steps, self.updates = lr, warmup_steps, 0
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=weight_decay, betas=tuple(betas))

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        if self.warmup_steps > 0:
            return self.base_lr * min(1.0, (self.updates + 1) / self.warmup_steps)
        return self.base_lr

    def backward(self, loss: torch.Tensor) -> None:
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
