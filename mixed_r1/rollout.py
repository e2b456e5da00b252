"""Sampling and scoring, one floor below the recipes: G completions per prompt from the policy, scored with the
mixed reward. GRPO (``grpo/step.py``) turns them into a :class:`Rollout` with advantages; the data filter
(``filter.py``) keeps their rewards. Neither recipe imports the other."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.models import Completions, ModelAdapter, PromptBatch, passes
from mixed_r1.rewards.mixed import MixedReward, RewardOutput


@dataclass
class Rollout:
    samples: list[Sample]  # [P*G]: each prompt's sample repeated G times
    prompts: PromptBatch  # [P*G] prompts, repeated like samples
    completions: Completions  # [P*G, Tc]
    texts: list[str]  # [P*G]
    rewards: RewardOutput  # [P*G]
    advantages: torch.Tensor  # [P*G]
    seconds: dict[str, float]  # time of generation and of reward scoring


@dataclass
class ScoredSamples:
    """G sampled completions per prompt and their mixed rewards (what the filter keeps of a rollout)."""

    samples: list[Sample]  # [P*G]
    prompts: PromptBatch  # [P*G]
    completions: Completions  # [P*G, Tc]
    texts: list[str]  # [P*G]
    rewards: RewardOutput  # [P*G]
    seconds: dict[str, float]

    def take(self, rows: Sequence[int]) -> ScoredSamples:
        """The given rows (whole groups, when a caller keeps the group order)."""
        return ScoredSamples([self.samples[i] for i in rows], self.prompts.take(rows), self.completions.take(rows),
                             [self.texts[i] for i in rows], self.rewards.take(rows), self.seconds)


def sample_and_score(policy: torch.nn.Module, adapter: ModelAdapter, reward_fn: MixedReward,
                     samples: Sequence[Sample], group_size: int, temperature: float, max_new_tokens: int,
                     generation_batch_size: int = 0,
                     gathered: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                     shared_prompt: bool = True) -> ScoredSamples:
    """``group_size`` completions for each of ``samples``, sampled at ``temperature`` and scored.

    With ``shared_prompt`` each prompt's image and prefill are computed once for its G samples
    (:func:`mixed_r1.models.passes.generate` with ``group_size``); else every sample encodes its own prompt copy.

    ``gathered`` is the engine's context that makes the full policy present (ZeRO-3 gathers it
    once); generation, in calls of ``generation_batch_size`` sequences, and the reward — BMAS reads
    the policy's embedding table — both run inside it, so the weights are gathered once per step.
    """
    G = group_size
    start = time.perf_counter()
    unique = adapter.prompt_batch(samples)  # [P, Lp]
    prompts = unique.repeat(G)  # [P*G, Lp]: each prompt G times, consecutively
    repeated = [s for s in samples for _ in range(G)]
    size = generation_batch_size or len(prompts)
    if shared_prompt:  # whole groups per call: each prompt prefilled once, its cache repeated G times
        per_call = max(size // G, 1)
        calls = [(unique.select(slice(i, i + per_call)), G) for i in range(0, len(unique), per_call)]
    else:
        calls = [(prompts.select(slice(i, i + size)), 1) for i in range(0, len(prompts), size)]
    with gathered():
        policy.eval()  # sampling from π_θ_old: no dropout
        completions = Completions.concat(
            [passes.generate(adapter, policy, batch, temperature, max_new_tokens, group_size=n) for batch, n in calls],
            pad_id=adapter.pad_token_id)  # [P*G, Tc]
        generated = time.perf_counter()
        texts = adapter.decode(completions)
        rewards = reward_fn(repeated, texts)  # r_i = R_acc + w · R_format
    seconds = {"rollout": generated - start, "reward": time.perf_counter() - generated}
    return ScoredSamples(repeated, prompts, completions, texts, rewards, seconds)
