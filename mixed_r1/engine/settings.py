"""The ``trainer`` and ``deepspeed`` groups as frozen settings: the optimizer and batch sizes the engine builds
from, and the loop's budget and bookkeeping. Values that cannot run are refused here, naming the key."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mixed_r1.errors import ConfigError

OptimizerName = Literal["adamw", "adamw_8bit"]  # trainer.optimizer (mixed_r1/engine/optimizer.py builds it)


@dataclass(frozen=True)
class TrainerSettings:
    """``trainer`` in ``conf/train.yaml`` (the paper's batch and lr are its defaults there)."""

    epochs: float  # the budget in passes over the drawn data (unless max_steps)
    max_steps: int | None  # a step count instead (overrides epochs)
    prompts_per_step: int
    micro_batch_size: int  # sequences per forward/backward on each rank; 0 = the rank's whole share
    generation_batch_size: int  # sequences per generate call on each rank; 0 = the rank's whole share
    max_tokens_per_micro_batch: int  # > 0: GRPO rows packed by length so rows x longest <= this
    optimizer: OptimizerName  # adamw: torch's, fp32 moments | adamw_8bit: torchao's, 8-bit moments (plain torch only)
    lr: float
    lr_warmup_steps: int
    max_bad_steps: int  # stop after this many non-finite updates in a row
    log_completions_every: int
    log_completions_prompts: int
    save_every: int
    keep_last: int
    weight_decay: float
    betas: tuple[float, float]
    grad_clip: float
    trend_fraction: float  # the closing summary compares the first and the last fraction of GRPO steps

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0, "lr", "must be > 0"),
            (self.prompts_per_step > 0, "prompts_per_step", "must be > 0"),
            (self.micro_batch_size >= 0, "micro_batch_size", "must be >= 0 (0: a rank's whole share at once)"),
            (self.generation_batch_size >= 0, "generation_batch_size", "must be >= 0 (0: a rank's whole share)"),
            (self.max_tokens_per_micro_batch >= 0, "max_tokens_per_micro_batch", "must be >= 0 (0: off)"),
            (self.max_steps is None or self.max_steps >= 0, "max_steps", "must be >= 0 (or null: trainer.epochs)"),
            (self.max_steps is not None or self.epochs > 0, "epochs", "must be > 0 (or set trainer.max_steps)"),
            (self.max_bad_steps >= 1, "max_bad_steps", "must be >= 1"),
            (self.lr_warmup_steps >= 0, "lr_warmup_steps", "must be >= 0"),
            (self.save_every >= 0, "save_every", "must be >= 0 (0: no checkpoints)"),
            (self.keep_last >= 1, "keep_last", "must be >= 1"),
            (0 < self.trend_fraction <= 0.5, "trend_fraction", "must be in (0, 0.5]"),
        ]
        for ok, key, why in checks:
            if not ok:
                raise ConfigError(f"trainer.{key}={getattr(self, key)!r} {why}")


@dataclass(frozen=True)
class DeepSpeedSettings:
    """``deepspeed`` (``conf/deepspeed/*.yaml``): ``stage`` null trains in one plain-torch process."""

    stage: int | None  # None | 2 | 3
    offload_optimizer: bool = False
    offload_param: bool = False
    overlap_comm: bool | None = None  # the ZeRO tuning keys below: DeepSpeed's defaults where None
    contiguous_gradients: bool | None = None
    reduce_bucket_size: float | None = None
    allgather_bucket_size: float | None = None
    stage3_prefetch_bucket_size: float | None = None
    stage3_param_persistence_threshold: float | None = None
    stage3_max_live_parameters: float | None = None
    stage3_max_reuse_distance: float | None = None

    def __post_init__(self) -> None:
        if self.stage not in (None, 2, 3):
            raise ConfigError(f"deepspeed.stage={self.stage!r} must be null (plain torch), 2 or 3")


def check_optimizer(trainer: TrainerSettings, deepspeed: DeepSpeedSettings) -> None:
    """``adamw_8bit`` runs with the plain torch engine only: under ZeRO it would step DeepSpeed's flat fp32
    partitions and be checkpointed by DeepSpeed, neither of which is tested with its quantised state."""
    if trainer.optimizer == "adamw_8bit" and deepspeed.stage is not None:
        raise ConfigError(f"trainer.optimizer=adamw_8bit with deepspeed.stage={deepspeed.stage}: the 8-bit optimizer "
                          f"runs with the plain torch engine only (deepspeed=none); under ZeRO use trainer.optimizer=adamw "
                          f"(deepspeed.offload_optimizer=true moves its fp32 state to the CPU instead)")
