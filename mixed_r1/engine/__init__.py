"""The one place that touches devices, seeding, ranks and the optimizer: plain torch or DeepSpeed."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from mixed_r1.engine.protocol import Engine, LrSchedule
from mixed_r1.engine.torch_engine import TorchEngine, resolve_device, seed_everything


def _deepspeed_config(cfg: Any, world: int, sequences_per_prompt: int) -> dict[str, Any]:
    from mixed_r1.engine.deepspeed_config import deepspeed_config

    trainer = cfg.trainer
    sequences = trainer.prompts_per_step * sequences_per_prompt
    return deepspeed_config(cfg.deepspeed, trainer, sequences, trainer.prompts_per_step, cfg.model.dtype, world)


@contextlib.contextmanager
def partitioned_loading(cfg: Any, world: int, sequences_per_prompt: int) -> Iterator[None]:
    """Around ``from_pretrained`` under ZeRO-3: transformers builds the model inside DeepSpeed's
    ``zero.Init``, so each rank only ever holds its shard (a 7B model never sits whole on every GPU).
    ``sequences_per_prompt``: what one prompt trains on (the algorithm says: GRPO's G, SFT's 1)."""
    if cfg.deepspeed.stage != 3:
        yield
        return
    import deepspeed
    from transformers.integrations import HfDeepSpeedConfig

    deepspeed.init_distributed()  # joins the existing process group: zero.Init reads the world size from it
    active = HfDeepSpeedConfig(_deepspeed_config(cfg, world, sequences_per_prompt))  # transformers keeps a weak ref
    try:
        yield
    finally:
        del active  # afterwards transformers behaves as without DeepSpeed (generate, save_pretrained)


def build_engine(cfg: Any, model: torch.nn.Module, world: int, device: torch.device, sequences_per_prompt: int) -> Engine:
    """The engine ``cfg.deepspeed`` names, with the trainer's optimizer settings, holding ``model`` on
    ``device`` (DeepSpeed places it on this rank's accelerator itself); the lr of each phase is set with
    ``reset_optimizer``. ``sequences_per_prompt`` sizes DeepSpeed's batch (as for :func:`partitioned_loading`)."""
    trainer = cfg.trainer
    if cfg.deepspeed.stage is None:
        return TorchEngine(model, lr=trainer.lr, weight_decay=trainer.weight_decay, betas=tuple(trainer.betas),
                           grad_clip=trainer.grad_clip, device=device)
    from mixed_r1.engine.deepspeed_config import reference_config
    from mixed_r1.engine.deepspeed_engine import DeepSpeedEngine

    config = _deepspeed_config(cfg, world, sequences_per_prompt)
    return DeepSpeedEngine(model, config, reference_config(config), lr=trainer.lr,
                           weight_decay=trainer.weight_decay, betas=tuple(trainer.betas))


__all__ = ["Engine", "LrSchedule", "TorchEngine", "build_engine", "partitioned_loading", "resolve_device", "seed_everything"]
