"""The one place that touches devices, seeding, ranks and the optimizer: plain torch or DeepSpeed."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from mixed_r1.engine.protocol import Engine, LrSchedule
from mixed_r1.engine.settings import DeepSpeedSettings, TrainerSettings, check_optimizer
from mixed_r1.engine.torch_engine import TorchEngine, resolve_device, seed_everything


@dataclass(frozen=True)
class EngineSettings:
    """What the engine is built from: the trainer's optimizer and batch, the ZeRO stage, the weights' dtype, and
    the sequences one prompt trains on (the algorithm says: GRPO's G, SFT's 1) — DeepSpeed's batch follows."""

    trainer: TrainerSettings
    deepspeed: DeepSpeedSettings
    dtype: str
    sequences_per_prompt: int

    def __post_init__(self) -> None:
        check_optimizer(self.trainer, self.deepspeed)

    def deepspeed_config(self, world: int) -> dict[str, Any]:
        from mixed_r1.engine.deepspeed_config import deepspeed_config

        prompts = self.trainer.prompts_per_step
        return deepspeed_config(self.deepspeed, self.trainer, prompts * self.sequences_per_prompt, prompts,
                                self.dtype, world)


@contextlib.contextmanager
def partitioned_loading(settings: EngineSettings, world: int) -> Iterator[None]:
    """Around ``from_pretrained`` under ZeRO-3: transformers builds the model inside DeepSpeed's
    ``zero.Init``, so each rank only ever holds its shard (a 7B model never sits whole on every GPU)."""
    if settings.deepspeed.stage != 3:
        yield
        return
    import deepspeed
    from transformers.integrations import HfDeepSpeedConfig

    deepspeed.init_distributed()  # joins the existing process group: zero.Init reads the world size from it
    active = HfDeepSpeedConfig(settings.deepspeed_config(world))  # transformers keeps a weak ref
    try:
        yield
    finally:
        del active  # afterwards transformers behaves as without DeepSpeed (generate, save_pretrained)


def build_engine(settings: EngineSettings, model: torch.nn.Module, world: int, device: torch.device) -> Engine:
    """The engine ``deepspeed.stage`` names, with the trainer's optimizer settings, holding ``model`` on
    ``device`` (DeepSpeed places it on this rank's accelerator itself); the lr of each phase is set with
    ``reset_optimizer``."""
    trainer = settings.trainer
    if settings.deepspeed.stage is None:
        return TorchEngine(model, lr=trainer.lr, weight_decay=trainer.weight_decay, betas=trainer.betas,
                           grad_clip=trainer.grad_clip, device=device, optimizer=trainer.optimizer)
    from mixed_r1.engine.deepspeed_config import reference_config
    from mixed_r1.engine.deepspeed_engine import DeepSpeedEngine

    config = settings.deepspeed_config(world)
    return DeepSpeedEngine(model, config, reference_config(config), lr=trainer.lr,
                           weight_decay=trainer.weight_decay, betas=trainer.betas)


__all__ = ["Engine", "EngineSettings", "LrSchedule", "TorchEngine", "build_engine", "partitioned_loading",
           "resolve_device", "seed_everything"]
