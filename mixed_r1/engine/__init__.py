"""The one place that touches devices, seeding, ranks and the optimizer: plain torch or DeepSpeed."""
from __future__ import annotations

from typing import Any

import torch

from mixed_r1.engine.torch_engine import TorchEngine, resolve_device, seed_everything

Engine = Any  # TorchEngine | DeepSpeedEngine: the same methods (backward, step, gathered, export, ...)


def build_engine(cfg: Any, model: torch.nn.Module, world: int) -> Engine:
    """The engine ``cfg.deepspeed`` names, with the trainer's optimizer settings; the lr of each
    phase is set with ``reset_optimizer``."""
    trainer = cfg.trainer
    if cfg.deepspeed.stage is None:
        return TorchEngine(model, lr=trainer.lr, weight_decay=trainer.weight_decay, betas=tuple(trainer.betas),
                           grad_clip=trainer.grad_clip)
    from mixed_r1.engine.deepspeed_config import deepspeed_config, reference_config
    from mixed_r1.engine.deepspeed_engine import DeepSpeedEngine

    sequences = trainer.prompts_per_step * cfg.algo.get("group_size", 1)
    config = deepspeed_config(cfg.deepspeed, trainer, sequences, trainer.prompts_per_step, cfg.model.dtype, world)
    return DeepSpeedEngine(model, config, reference_config(config), lr=trainer.lr,
                           weight_decay=trainer.weight_decay, betas=tuple(trainer.betas))


__all__ = ["Engine", "TorchEngine", "build_engine", "resolve_device", "seed_everything"]
