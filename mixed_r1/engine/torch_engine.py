"""Single-process PyTorch engine: the optimizer (``trainer.optimizer``), gradient clipping, seeding, device choice."""
from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mixed_r1.engine.distributed import local_rank
from mixed_r1.engine.optimizer import build_optimizer, set_lr
from mixed_r1.engine.protocol import LrSchedule
from mixed_r1.engine.settings import OptimizerName

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


class TorchEngine:
    """Owns the optimizer of one model in one process: ``backward`` per micro-batch, then one ``step``
    (clip, update, zero grads). It also places the policy and the reference on ``device``.

    A step whose gradient is not finite (a NaN/inf loss or reward upstream) is skipped: gradients
    are cleared and the weights and optimizer state stay untouched. The rest of the
    :class:`~mixed_r1.engine.protocol.Engine` seam is trivial here.
    """

    def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), grad_clip: float = 1.0, warmup_steps: int = 0,
                 device: torch.device | str | None = None, optimizer: OptimizerName = "adamw") -> None:
        self.device = torch.device(device) if device is not None else None
        self.model = model.to(self.device) if self.device is not None else model
        self.grad_clip, self.weight_decay, self.betas = grad_clip, weight_decay, (betas[0], betas[1])
        self.optimizer_name = optimizer
        self.reset_optimizer(lr, warmup_steps)

    def reset_optimizer(self, lr: float, warmup_steps: int = 0) -> None:
        """A fresh optimizer (zero moments, update count 0) at ``lr``: each training phase starts clean."""
        self.schedule = LrSchedule(lr, warmup_steps)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.optimizer_name, params, self.lr, self.weight_decay, self.betas)

    @property
    def lr(self) -> float:
        return self.schedule.lr

    @property
    def updates(self) -> int:
        return self.schedule.updates

    def backward(self, loss: torch.Tensor, boundary: bool = True) -> None:
        """One process: the loss already is its share of the global loss."""
        loss.backward()

    def step(self) -> float:
        """Clip, update and clear gradients; returns the pre-clip gradient norm (NaN when skipped)."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.grad_clip))
        if math.isfinite(grad_norm):
            set_lr(self.optimizer, self.lr)
            self.optimizer.step()
            self.schedule.updates += 1
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    @contextlib.contextmanager
    def gathered(self) -> Iterator[torch.nn.Module]:
        """The policy with all its weights present (the rollout phase); here it always is."""
        yield self.model

    def prepare_reference(self, reference: torch.nn.Module) -> torch.nn.Module:
        """The frozen reference on the policy's device."""
        return reference.to(self.device) if self.device is not None else reference

    def export(self, adapter: Any, model: torch.nn.Module, out_dir: str | Path) -> None:
        """An HF-format export of ``model`` that ``from_pretrained`` loads."""
        adapter.save(model, str(out_dir))

    def save_state(self, out_dir: str | Path) -> None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        torch.save({"optimizer": self.optimizer.state_dict(), "updates": self.updates}, Path(out_dir) / OPTIMIZER_FILE)

    def load_state(self, in_dir: str | Path) -> None:
        state = torch.load(Path(in_dir) / OPTIMIZER_FILE, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.updates = state["updates"]
