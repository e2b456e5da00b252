"""The optimizer ``trainer.optimizer`` names, built in this one place for both engines.

Why a choice at all: fp32 AdamW keeps two fp32 moments, 8 bytes per trained parameter — for a 7B policy more than
its bf16 weights. ``adamw_8bit`` is torchao's ``AdamW8bit``: both moments block-quantised to 8 bits (a uint8 code per
value plus one fp32 scale per block of 256), about 2 bytes per parameter. torchao is imported only when it is chosen.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch

from mixed_r1.engine.settings import OptimizerName
from mixed_r1.errors import ConfigError

# torch's compile cache asks every tensor subclass for a stable hash; torchao's 8-bit state has none, which only
# means its compiled step is not cached across processes — not ours to fix, and not worth a warning in each run
warnings.filterwarnings("ignore", message=r".*OptimState8bit does not implement _stable_hash_for_caching",
                        category=UserWarning)

def build_optimizer(name: OptimizerName, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                    betas: tuple[float, float]) -> torch.optim.Optimizer:
    """A fresh optimizer (zero moments) over ``params``: torch's AdamW, or torchao's 8-bit AdamW."""
    kind = torch.optim.AdamW if name == "adamw" else adamw_8bit()
    return kind(list(params), lr=lr, weight_decay=weight_decay, betas=betas)


def adamw_8bit() -> type[torch.optim.Optimizer]:
    """torchao's ``AdamW8bit`` class; a missing torchao is a config error (it is in the lock, not a hard import)."""
    try:
        from torchao.optim import AdamW8bit  # its import-time noise is filtered in mixed_r1/__init__.py
    except ImportError as err:
        raise ConfigError("trainer.optimizer=adamw_8bit needs torchao (in requirements-lock.txt: make install), "
                          f"which does not import here ({err}); or set trainer.optimizer=adamw") from err
    return AdamW8bit


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """``lr`` in every parameter group. torchao keeps it as a tensor (its compiled step reads it without
    recompiling) and refuses a float there, so that tensor is filled in place."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
