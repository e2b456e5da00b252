"""One GRPO step, top to bottom as in section 3.2: sample G completions per prompt, score them with
the mixed reward, normalise rewards within each group, and take one clipped, KL-regularised step."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine import Engine
from mixed_r1.engine.distributed import all_reduce, all_reduce_dict, gather_objects
from mixed_r1.engine.microbatch import MicroBatch, accumulate_gradients, plan_micro_batches
from mixed_r1.grpo.config import GRPOConfig
from mixed_r1.grpo.loss import advantages, grpo_loss, normalized_sum_advantages, overlong_penalty
from mixed_r1.models import Completions, ModelAdapter, PromptBatch, passes
from mixed_r1.rewards.mixed import MixedReward, RewardOutput, per_type_means
from mixed_r1.rewards.settings import AGGREGATIONS
from mixed_r1.rollout import Rollout, ScoredSamples, sample_and_score


def collect_rollout(policy: torch.nn.Module, adapter: ModelAdapter, reward_fn: MixedReward,
                    samples: Sequence[Sample], algo: GRPOConfig, generation_batch_size: int = 0,
                    gathered: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                    aggregation: str = "sum_then_normalize") -> Rollout:
    """G completions for each of this rank's ``samples`` (:func:`score_groups`), group-normalised
    (:func:`with_advantages`)."""
    scored = score_groups(policy, adapter, reward_fn, samples, algo, generation_batch_size, gathered)
    return with_advantages(scored, algo, aggregation)


def score_groups(policy: torch.nn.Module, adapter: ModelAdapter, reward_fn: MixedReward, samples: Sequence[Sample],
                 algo: GRPOConfig, generation_batch_size: int = 0,
                 gathered: Callable[[], ContextManager[Any]] = contextlib.nullcontext) -> ScoredSamples:
    """G sampled completions per prompt (:func:`sample_and_score`) with every reward term GRPO adds to the
    mixed reward (DAPO's over-length penalty when ``algo.overlong_buffer`` is on)."""
    scored = sample_and_score(policy, adapter, reward_fn, samples, algo.group_size, algo.temperature,
                              algo.max_new_tokens, generation_batch_size, gathered, algo.shared_prompt)
    if not algo.overlong_buffer:
        return scored
    penalty = overlong_penalty(scored.completions.mask.sum(dim=1).cpu(), algo.max_new_tokens,
                               algo.overlong_buffer_tokens, algo.overlong_penalty)
    scores = dataclasses.replace(scored.rewards, total=scored.rewards.total + penalty, overlong=penalty)
    return dataclasses.replace(scored, rewards=scores)


def with_advantages(scored: ScoredSamples, algo: GRPOConfig, aggregation: str) -> Rollout:
    """The rollout of scored groups: eq. 2's group-relative advantages of the summed reward (``reward.aggregation=
    sum_then_normalize``, scaled as ``algo.scale_rewards`` says), or of each reward term normalised before the sum
    (``normalize_then_sum``). Batch statistics are over every rank's groups."""
    rewards = scored.rewards.total
    if aggregation == "normalize_then_sum":
        terms, weights = reward_terms(scored.rewards)
        adv = normalized_sum_advantages(terms, weights, algo.group_size, algo.adv_eps, step_reward_mean_std)
    elif aggregation == "sum_then_normalize":
        batch_std = step_reward_mean_std(rewards)[1] if algo.scale_rewards == "batch" else None
        adv = advantages(rewards, algo.group_size, algo.adv_eps, algo.scale_rewards, batch_std)  # (r_i − mean) / σ
    else:
        raise ValueError(f"reward aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    return Rollout(scored.samples, scored.prompts, scored.completions, scored.texts, scored.rewards, adv,
                   scored.seconds)


def reward_terms(rewards: RewardOutput) -> tuple[torch.Tensor, list[float]]:
    """The terms the total reward sums, ``[N, K]``, and their weights: accuracy, format (× the paper's λ), and the
    over-length penalty when on (its size already in the term)."""
    columns, weights = [rewards.accuracy, rewards.format], [1.0, rewards.format_weight]
    if rewards.overlong is not None:
        columns.append(rewards.overlong)
        weights.append(1.0)
    return torch.stack([c.float() for c in columns], dim=1), weights


def step_reward_mean_std(rewards: torch.Tensor) -> tuple[float, float]:
    """The mean and sample std of every reward of the step, over all ranks (``algo.scale_rewards=batch``,
    ``reward.aggregation=normalize_then_sum``)."""
    values = rewards.double()
    n, total, squares = all_reduce([float(values.numel()), float(values.sum()), float((values ** 2).sum())])
    variance = (squares - total * total / n) / max(n - 1.0, 1.0)
    return total / max(n, 1.0), max(variance, 0.0) ** 0.5


def truncated_rows(completions: Completions, stop_token_id: int, max_new_tokens: int) -> torch.Tensor:
    """``[B]`` True where a completion used the whole ``max_new_tokens`` budget without its stop token: cut off,
    so its reward judges an unfinished answer (``algo.mask_truncated`` drops it from the loss)."""
    stopped = (completions.ids == stop_token_id).any(dim=1)
    return (completions.mask.sum(dim=1) >= max_new_tokens) & ~stopped


def zero_variance_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[P]`` True where all G rewards of a group are equal (its advantages are all 0)."""
    grouped = rewards.view(-1, group_size)
    return grouped.max(dim=1).values == grouped.min(dim=1).values


@dataclass(frozen=True)
class ReferencePolicy:
    """π_ref of the KL term: the model its log-prob pass runs through and the context that pass runs in.

    Why a context: a frozen copy needs none, but with LoRA the reference is the policy itself with its adapter
    switched off (``peft_model.disable_adapter()``), so no second copy of the weights exists."""

    model: torch.nn.Module
    context: Callable[[], ContextManager[Any]] = contextlib.nullcontext


def as_reference(reference: ReferencePolicy | torch.nn.Module | None) -> ReferencePolicy | None:
    """A bare module is a frozen copy (no context); None: no reference (β = 0)."""
    return ReferencePolicy(reference) if isinstance(reference, torch.nn.Module) else reference


UPDATE_KEYS = ("loss", "kl", "clip_fraction", "ratio_mean", "entropy", "grad_norm", "time/reference",
               "time/update", "tokens_per_second/train")


def grpo_update(policy: torch.nn.Module, reference: ReferencePolicy | torch.nn.Module | None, adapter: ModelAdapter,
                engine: Engine, rollout: Rollout, algo: GRPOConfig, micro_batch_size: int,
                max_tokens_per_micro_batch: int = 0) -> dict[str, Any]:
    """``algo.num_iterations`` (μ) optimizer steps on one rollout, each in micro-batches of sequences.

    With μ = 1 the rollout policy *is* the current policy, so π_θ_old = π_θ.detach() and the ratio is
    exactly 1. With μ > 1, π_θ_old's log-probs are taken once before the first step and the clipped
    ratio is real. Micro-batches are weighted by their share of the *global* batch (sequences or
    tokens, as ``algo.loss_aggregation`` averages), so neither micro-batching nor the number of ranks
    changes the gradient (:mod:`mixed_r1.engine.microbatch`); with ``max_tokens_per_micro_batch`` the
    rows are packed by length under that budget, and each micro-batch drops its padding columns. With
    ``algo.shared_prompt`` every log-prob pass encodes each group's prompt once (same values).

    ``reference`` is π_ref (:class:`ReferencePolicy`, or a frozen module); None (β = 0) runs no reference pass:
    the loss is the one a zero-weight KL term gives, and ``kl`` is ``None``.

    Returns the same keys every step; when every group was skipped (``skip_zero_variance_groups`` and
    all rewards of every group equal) there is no update: ``skip_reason`` says so and the loss-side
    values are ``None``, never a misleading 0.
    """
    reference = as_reference(reference)
    if reference is None and algo.beta != 0:
        raise ValueError(f"algo.beta={algo.beta} weighs a KL term: grpo_update needs a reference policy")
    G = algo.group_size
    rows = list(range(len(rollout.samples)))
    if algo.skip_zero_variance_groups:  # their advantages are 0: they would only add the KL term
        flat = zero_variance_groups(rollout.rewards.total, G).repeat_interleave(G)
        rows = [i for i in rows if not flat[i]]
    trained = torch.ones(len(rollout.samples), dtype=torch.bool)  # rows whose tokens enter the loss
    if algo.mask_truncated:  # DAPO's overlong filtering: a cut-off completion teaches nothing about its answer
        trained = ~truncated_rows(rollout.completions, adapter.stop_token_id, algo.max_new_tokens).cpu()
    completion_tokens = rollout.completions.mask.cpu().sum(dim=1)  # what each row's forward computes
    loss_tokens = (completion_tokens * trained).tolist()  # what its loss averages over
    prompt_width = rollout.prompts.input_ids.shape[1]
    group_of_row = [r // G for r in range(len(rollout.samples))]  # rows are grouped: prompt i's G rows follow it
    plan = plan_micro_batches(rows, loss_tokens, micro_batch_size, algo.loss_aggregation,
                              max_tokens=max_tokens_per_micro_batch,
                              lengths=[prompt_width + n for n in completion_tokens.tolist()],
                              groups=group_of_row if algo.shared_prompt else None, prompt_len=prompt_width)
    if plan.empty:
        return {**dict.fromkeys(UPDATE_KEYS), "skip_reason": "all_groups_zero_variance"}
    # each micro-batch computes its own longest completion, not the rollout's; with shared prompts each of
    # its groups is one packed row (the prompt and image once, then the completions)
    batches = [(rollout.prompts.take(m.rows), rollout.completions.take(m.rows).trim(),
                [group_of_row[r] for r in m.rows] if algo.shared_prompt else None) for m in plan.batches]

    start = time.perf_counter()
    with torch.no_grad():  # fixed for all μ iterations
        policy.eval()
        ref_logprobs = reference_logprobs(adapter, reference, batches, algo.temperature)
        old_logprobs = ([passes.completion_logprobs(adapter, policy, p, c, algo.temperature, groups=g)
                         for p, c, g in batches] if algo.num_iterations > 1 else None)
    reference_s = time.perf_counter() - start
    policy.train()

    def micro_batch_loss(k: int, micro: MicroBatch, with_entropy: bool) -> tuple[torch.Tensor, dict[str, float]]:
        prompts, completions, groups = batches[k]
        logprobs, entropy = passes.completion_logprobs(adapter, policy, prompts, completions, algo.temperature,
                                                       return_entropy=True, groups=groups)  # [b, Tc] each
        old = old_logprobs[k] if old_logprobs is not None else logprobs.detach()  # π_θ_old
        ref = ref_logprobs[k] if ref_logprobs is not None else None  # π_ref (none: β = 0)
        loss_mask = completions.mask * trained[micro.rows].to(completions.mask.device).unsqueeze(1)
        loss, metrics = grpo_loss(logprobs, old, ref, rollout.advantages[micro.rows], loss_mask,
                                  clip_eps=algo.clip_eps, beta=algo.beta, aggregation=algo.loss_aggregation,
                                  clip_eps_high=algo.clip_eps_high, importance_level=algo.importance_level,
                                  max_length=algo.max_new_tokens)
        if with_entropy:  # entropy of the rollout policy (first iteration), a token mean like the others
            metrics["entropy"] = float((entropy * completions.mask).sum() / completions.mask.sum().clamp(min=1))
        return loss, metrics

    sums: dict[str, float] = {}
    grad_norms = []
    for iteration in range(algo.num_iterations):
        loss_fn = functools.partial(micro_batch_loss, with_entropy=iteration == 0)
        for key, value in accumulate_gradients(engine, plan, loss_fn).items():
            sums[key] = sums.get(key, 0.0) + value / (algo.num_iterations if key != "entropy" else 1)
        grad_norms.append(engine.step())  # already global
    update_s = time.perf_counter() - start - reference_s
    out: dict[str, Any] = all_reduce_dict(sums)  # shares are global: the ranks' sums add up
    out.setdefault("kl", None)  # no reference (β = 0): nothing to report, never a misleading 0
    out.update({"grad_norm": sum(grad_norms) / len(grad_norms), "time/reference": reference_s,
                "time/update": update_s, "skip_reason": None,
                "tokens_per_second/train": plan.global_tokens * algo.num_iterations / max(update_s, 1e-9)})
    return out


def reference_logprobs(adapter: ModelAdapter, reference: ReferencePolicy | None,
                       batches: Sequence[tuple[PromptBatch, Completions, list[int] | None]],
                       temperature: float) -> list[torch.Tensor] | None:
    """π_ref's log-probs of each micro-batch's completions (``[b, Tc]`` each), inside the reference's
    context; None without a reference."""
    if reference is None:
        return None
    with reference.context():
        return [passes.completion_logprobs(adapter, reference.model, p, c, temperature, groups=g)
                for p, c, g in batches]


def rollout_metrics(rollout: Rollout, group_size: int, sampled: RewardOutput | None = None,
                    truncated: torch.Tensor | None = None) -> dict[str, Any]:
    """Reward, length and speed metrics of the whole step's rollout (every rank's share gathered).

    ``sampled``: the rewards of every group the step sampled, when that is more than it trains on (dynamic
    sampling drops the groups whose rewards are all equal): the reward and zero-variance figures then describe the
    policy, not the filtered batch. ``truncated``: ``[B]`` the rows cut off at ``max_new_tokens``
    (:func:`truncated_rows`), logged as ``truncated_fraction``."""
    parts = gather_objects((rollout.rewards if sampled is None else sampled, rollout.advantages.cpu(),
                            rollout.completions.mask.sum(dim=1).float().cpu(), rollout.seconds,
                            truncated.cpu() if truncated is not None else None))
    r = RewardOutput.concat([p[0] for p in parts])
    adv = torch.cat([p[1] for p in parts])
    lengths = torch.cat([p[2] for p in parts])
    seconds = {k: max(p[3][k] for p in parts) for k in rollout.seconds}  # the slowest rank sets the pace
    cut = [p[4] for p in parts if p[4] is not None]
    return {
        "time/rollout": seconds["rollout"],
        "time/reward": seconds["reward"],
        "tokens_per_second/rollout": float(lengths.sum()) / max(seconds["rollout"], 1e-9),
        "advantage/std": float(adv.std()) if adv.numel() > 1 else 0.0,
        "reward/mean": float(r.total.mean()),
        "reward/std": float(r.total.std()) if r.total.numel() > 1 else 0.0,
        "reward/format": float(r.format.mean()),
        **({"reward/overlong": float(r.overlong.mean())} if r.overlong is not None else {}),
        **per_type_means(r.total, r.types, "reward"),
        **per_type_means(r.accuracy, r.types, "accuracy"),
        "zero_variance_fraction": float(zero_variance_groups(r.total, group_size).float().mean()),
        "completion_length": float(lengths.mean()),
        "completion_length_max": float(lengths.max()),
        **({"truncated_fraction": float(torch.cat(cut).float().mean())} if cut else {}),
    }
