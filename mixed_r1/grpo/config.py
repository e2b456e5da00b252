"""GRPO's hyper-parameters as one frozen, validated value: the ``algo`` group is read into it once at start-up
(``recipe.train_settings``), so a bad value stops the run with the key's name, before any model is loaded."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mixed_r1.engine.microbatch import AGGREGATIONS as LOSS_AGGREGATIONS  # what a loss may average over
from mixed_r1.errors import ConfigError


@dataclass(frozen=True)
class GRPOConfig:
    """Section 3.2's knobs. Values come from ``conf/algo/grpo.yaml`` (the paper's numbers live there)."""

    group_size: int  # G completions per prompt
    temperature: float  # sampling temperature of the rollout (and of the log-prob passes)
    beta: float  # KL coefficient
    clip_eps: float  # PPO-style ratio clip
    adv_eps: float  # A = (r − mean) / (std + adv_eps)
    max_new_tokens: int
    num_iterations: int  # μ: optimizer steps per rollout
    loss_aggregation: str  # sequence | token | dr_grpo
    skip_zero_variance_groups: bool
    shared_prompt: bool  # log-prob passes encode each group's prompt once (same values, less compute)
    clip_eps_high: float | None  # the upper clip ε_high (None: clip_eps, symmetric; DAPO's clip-higher: larger)
    importance_level: Literal["token", "sequence"]  # sequence: GSPO's one length-normalised ratio per completion
    scale_rewards: Literal["group", "batch", "none"]  # the advantage's divisor: group std (paper), batch std, none
    mask_truncated: bool  # a completion that hit max_new_tokens without its stop token takes no part in the loss
    overlong_buffer: float  # > 0: DAPO's soft over-length penalty over this fraction of max_new_tokens (L_cache / L_max)
    overlong_penalty: float  # the penalty's size at the cap (DAPO: 1.0)
    dynamic_sampling: bool  # DAPO: zero-variance groups dropped and refilled with new prompts (grpo/dynamic_sampling.py)
    max_resample_rounds: int  # refill rounds per step before the batch is topped up with dropped groups

    def __post_init__(self) -> None:
        checks = [
            (self.group_size >= 2, "group_size", "must be at least 2: with one sample per prompt every "
                                                 "group-relative advantage is 0 and nothing is learned"),
            (self.temperature > 0, "temperature", "must be > 0 (GRPO samples; T=0 would be greedy decoding)"),
            (self.beta >= 0, "beta", "must be >= 0"),
            (self.clip_eps > 0, "clip_eps", "must be > 0"),
            (self.clip_eps_high is None or self.clip_eps_high > 0, "clip_eps_high", "must be > 0 (or null: clip_eps)"),
            (0 <= self.overlong_buffer <= 1, "overlong_buffer",
             "must be in [0, 1]: the fraction of max_new_tokens the penalty ramps over (0: off)"),
            (self.overlong_penalty >= 0, "overlong_penalty", "must be >= 0"),
            (self.max_resample_rounds >= 1, "max_resample_rounds", "must be >= 1 (dynamic sampling's refill rounds)"),
            (self.adv_eps > 0, "adv_eps", "must be > 0"),
            (self.max_new_tokens > 0, "max_new_tokens", "must be > 0"),
            (self.num_iterations >= 1, "num_iterations", "must be >= 1"),
            (self.loss_aggregation in LOSS_AGGREGATIONS, "loss_aggregation",
             f"must be one of {', '.join(LOSS_AGGREGATIONS)}"),
        ]
        for ok, key, why in checks:
            if not ok:
                raise ConfigError(f"algo.{key}={getattr(self, key)!r} {why}")

    @property
    def overlong_buffer_tokens(self) -> int:
        """DAPO's L_cache in tokens: ``overlong_buffer`` of ``max_new_tokens`` (at least one token when on)."""
        return max(1, round(self.overlong_buffer * self.max_new_tokens)) if self.overlong_buffer else 0
