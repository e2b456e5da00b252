"""One GRPO step, top to bottom as in section 3.2: sample G completions per prompt, score them with
the mixed reward, normalise rewards within each group, and take one clipped, KL-regularised step."""
from __future__ import annotations

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


def collect_rollout(policy: torch.nn.Module, adapter: ModelAdapter, reward_fn: MixedReward,
                    samples: Sequence[Sample], algo: Any) -> Rollout:
    G = algo.group_size
    prompts = adapter.prompt_batch(samples).repeat(G)  # [P*G, Lp]: each prompt G times, consecutively
    policy.eval()  # sampling from π_θ_old: no dropout
    completions = adapter.generate(policy, prompts, algo.temperature, algo.max_new_tokens)  # [P*G, Tc]
    repeated = [s for s in samples for _ in range(G)]
    texts = adapter.decode(completions)
    rewards = reward_fn(repeated, texts)  # r_i = R_acc + w · R_format
    adv = advantages(rewards.total, G, algo.adv_eps)  # A_i = (r_i − mean) / (std + eps)
    return Rollout(repeated, prompts, completions, texts, rewards, adv)


def grpo_update(policy: torch.nn.Module, reference: torch.nn.Module, adapter: ModelAdapter,
                engine: TorchEngine, rollout: Rollout, algo: Any, micro_batch_size: int) -> dict[str, float]:
    """One optimizer step on the rollout, in micro-batches of sequences (the loss is a mean over
    sequences, so each micro-batch's loss is weighted by its share of the batch)."""
    policy.train()
    total = len(rollout.samples)
    sums: dict[str, float] = {}
    for start in range(0, total, micro_batch_size):
        rows = slice(start, min(start + micro_batch_size, total))
        prompts = rollout.prompts.select(rows)
        completions = rollout.completions.select(rows)
        with torch.no_grad():
            ref_logprobs = adapter.completion_logprobs(reference, prompts, completions, algo.temperature)  # [b, Tc]
        logprobs = adapter.completion_logprobs(policy, prompts, completions, algo.temperature)  # [b, Tc]
        old_logprobs = logprobs.detach()  # one update per rollout: π_θ_old = π_θ, the ratio is 1
        loss, metrics = grpo_loss(logprobs, old_logprobs, ref_logprobs, rollout.advantages[rows],
                                  completions.mask, clip_eps=algo.clip_eps, beta=algo.beta)
        weight = (rows.stop - rows.start) / total
        engine.backward(loss * weight)
        for key, value in {"loss": loss.item(), **metrics}.items():
            sums[key] = sums.get(key, 0.0) + value * weight
    sums["grad_norm"] = engine.step()
    return sums


def rollout_metrics(rollout: Rollout, group_size: int) -> dict[str, float]:
    r = rollout.rewards
    lengths = rollout.completions.mask.sum(dim=1).float()
    grouped = r.total.view(-1, group_size)
    return {
        "reward/mean": float(r.total.mean()),
        "reward/std": float(r.total.std()) if r.total.numel() > 1 else 0.0,
        "reward/format": float(r.format.mean()),
        **per_type_means(r.total, r.types, "reward"),
        **per_type_means(r.accuracy, r.types, "accuracy"),
        "zero_variance_fraction": float((grouped.max(dim=1).values == grouped.min(dim=1).values).float().mean()),
        "completion_length": float(lengths.mean()),
        "completion_length_max": float(lengths.max()),
    }
