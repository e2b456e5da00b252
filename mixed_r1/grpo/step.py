"""One GRPO step, top to bottom as in section 3.2: sample G completions per prompt, score them with
the mixed reward, normalise rewards within each group, and take one clipped, KL-regularised step."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine import TorchEngine
from mixed_r1.grpo.loss import advantages, grpo_loss
from mixed_r1.models import Completions, ModelAdapter, PromptBatch
from mixed_r1.rewards.mixed import MixedReward, RewardOutput, per_type_means


@dataclass
class Rollout:
    samples: list[Sample]  # [P*G]: each prompt's sample repeated G times
    prompts: PromptBatch  # [P*G] prompts, repeated like samples
    completions: Completions  # [P*G, Tc]
    texts: list[str]  # [P*G]
    rewards: RewardOutput  # [P*G]
    advantages: torch.Tensor  # [P*G]
    seconds: dict[str, float]  # time of generation and of reward scoring


def collect_rollout(policy: torch.nn.Module, adapter: ModelAdapter, reward_fn: MixedReward,
                    samples: Sequence[Sample], algo: Any) -> Rollout:
    G = algo.group_size
    start = time.perf_counter()
    prompts = adapter.prompt_batch(samples).repeat(G)  # [P*G, Lp]: each prompt G times, consecutively
    policy.eval()  # sampling from π_θ_old: no dropout
    completions = adapter.generate(policy, prompts, algo.temperature, algo.max_new_tokens)  # [P*G, Tc]
    generated = time.perf_counter()
    repeated = [s for s in samples for _ in range(G)]
    texts = adapter.decode(completions)
    rewards = reward_fn(repeated, texts)  # r_i = R_acc + w · R_format
    adv = advantages(rewards.total, G, algo.adv_eps)  # A_i = (r_i − mean) / (std + eps)
    seconds = {"rollout": generated - start, "reward": time.perf_counter() - generated}
    return Rollout(repeated, prompts, completions, texts, rewards, adv, seconds)


def zero_variance_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[P]`` True where all G rewards of a group are equal (its advantages are all 0)."""
    grouped = rewards.view(-1, group_size)
    return grouped.max(dim=1).values == grouped.min(dim=1).values


def grpo_update(policy: torch.nn.Module, reference: torch.nn.Module, adapter: ModelAdapter,
                engine: TorchEngine, rollout: Rollout, algo: Any, micro_batch_size: int) -> dict[str, float]:
    """``algo.num_iterations`` (μ) optimizer steps on one rollout, each in micro-batches of sequences.

    With μ = 1 the rollout policy *is* the current policy, so π_θ_old = π_θ.detach() and the ratio is
    exactly 1. With μ > 1, π_θ_old's log-probs are taken once before the first step and the clipped
    ratio is real. Each micro-batch's loss is weighted by its share of the batch (sequences or
    tokens, as ``algo.loss_aggregation`` averages), so micro-batching does not change the gradient.
    """
    G = algo.group_size
    rows = list(range(len(rollout.samples)))
    if algo.skip_zero_variance_groups:  # their advantages are 0: they would only add the KL term
        flat = zero_variance_groups(rollout.rewards.total, G).repeat_interleave(G)
        rows = [i for i in rows if not flat[i]]
    if not rows:
        return {"skipped_all_groups": 1.0}
    chunks = [rows[i:i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]
    mask = rollout.completions.mask
    total = float(len(rows)) if algo.loss_aggregation == "sequence" else float(mask[rows].sum().clamp(min=1))
    weights = [(len(c) if algo.loss_aggregation == "sequence" else float(mask[c].sum())) / total for c in chunks]
    batches = [(rollout.prompts.take(c), rollout.completions.take(c)) for c in chunks]

    start = time.perf_counter()
    with torch.no_grad():  # fixed for all μ iterations
        policy.eval()
        ref_logprobs = [adapter.completion_logprobs(reference, p, c, algo.temperature) for p, c in batches]
        old_logprobs = ([adapter.completion_logprobs(policy, p, c, algo.temperature) for p, c in batches]
                        if algo.num_iterations > 1 else None)
    reference_s = time.perf_counter() - start
    policy.train()
    sums: dict[str, float] = {}
    for iteration in range(algo.num_iterations):
        for k, ((prompts, completions), weight) in enumerate(zip(batches, weights)):
            logprobs, entropy = adapter.completion_logprobs(policy, prompts, completions, algo.temperature,
                                                            return_entropy=True)  # [b, Tc] each
            if iteration == 0:  # entropy of the rollout policy, per token of the kept completions
                sums["entropy"] = sums.get("entropy", 0.0) + float((entropy * completions.mask).sum())
            old = old_logprobs[k] if old_logprobs is not None else logprobs.detach()
            loss, metrics = grpo_loss(logprobs, old, ref_logprobs[k], rollout.advantages[chunks[k]],
                                      completions.mask, clip_eps=algo.clip_eps, beta=algo.beta,
                                      aggregation=algo.loss_aggregation)
            engine.backward(loss * weight)
            for key, value in {"loss": loss.item(), **metrics}.items():
                sums[key] = sums.get(key, 0.0) + value * weight / algo.num_iterations
        sums["grad_norm"] = sums.get("grad_norm", 0.0) + engine.step() / algo.num_iterations
    n_tokens = float(mask[rows].sum())
    sums["entropy"] /= max(n_tokens, 1.0)
    update_s = time.perf_counter() - start - reference_s
    sums.update({"time/reference": reference_s, "time/update": update_s,
                 "tokens_per_second/train": n_tokens * algo.num_iterations / max(update_s, 1e-9)})
    return sums


def rollout_metrics(rollout: Rollout, group_size: int) -> dict[str, float]:
    r = rollout.rewards
    lengths = rollout.completions.mask.sum(dim=1).float()
    return {
        "time/rollout": rollout.seconds["rollout"],
        "time/reward": rollout.seconds["reward"],
        "tokens_per_second/rollout": float(lengths.sum()) / max(rollout.seconds["rollout"], 1e-9),
        "advantage/std": float(rollout.advantages.std()) if rollout.advantages.numel() > 1 else 0.0,
        "reward/mean": float(r.total.mean()),
        "reward/std": float(r.total.std()) if r.total.numel() > 1 else 0.0,
        "reward/format": float(r.format.mean()),
        **per_type_means(r.total, r.types, "reward"),
        **per_type_means(r.accuracy, r.types, "accuracy"),
        "zero_variance_fraction": float(zero_variance_groups(r.total, group_size).float().mean()),
        "completion_length": float(lengths.mean()),
        "completion_length_max": float(lengths.max()),
    }
