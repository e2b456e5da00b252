"""The ``warmup`` group: the supervised warm-up a random-weight model needs before GRPO (the CPU demo only)."""
from __future__ import annotations

from dataclasses import dataclass

from mixed_r1.errors import ConfigError


@dataclass(frozen=True)
class WarmupSettings:
    steps: int  # 0: no warm-up (every real checkpoint)
    batch_size: int
    lr: float
    fake_scene_prob: float  # a target about another scene: the model must read the image to beat it
    broken_format_prob: float  # a target with broken tags: the format reward has something to teach

    def __post_init__(self) -> None:
        checks = [
            (self.steps >= 0, "steps", "must be >= 0"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.lr > 0, "lr", "must be > 0"),
            (0 <= self.fake_scene_prob <= 1, "fake_scene_prob", "must be in [0, 1]"),
            (0 <= self.broken_format_prob <= 1, "broken_format_prob", "must be in [0, 1]"),
        ]
        for ok, key, why in checks:
            if not ok:
                raise ConfigError(f"warmup.{key}={getattr(self, key)!r} {why}")
