"""SFT: maximise the log-likelihood of target tokens (answer tokens and the stop token only).

One step serves the paper's SFT baseline (Table 1) and the demo's warm-up. It runs through the same
micro-batching path as GRPO (:mod:`mixed_r1.engine.microbatch`): each micro-batch's token-mean loss is
weighted by its share of the global batch's target tokens, so the micro-batch size and the number of
ranks leave the loss and the gradient unchanged.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine import Engine
from mixed_r1.engine.distributed import all_reduce_dict
from mixed_r1.engine.microbatch import MicroBatch, accumulate_gradients, plan_micro_batches
from mixed_r1.models import ModelAdapter, passes


def sft_loss(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood averaged over the target tokens of ``[B, T]`` inputs."""
    mask = mask.to(logprobs.dtype)
    return -(logprobs * mask).sum() / mask.sum().clamp(min=1.0)


def sft_step(policy: torch.nn.Module, adapter: ModelAdapter, engine: Engine, samples: Sequence[Sample],
             targets: Sequence[str], micro_batch_size: int = 0) -> dict[str, Any]:
    """One update on this rank's ``samples`` and their ``targets``, in micro-batches of
    ``micro_batch_size`` sequences (0: all at once). Returns the global loss and gradient norm."""
    policy.train()
    prompts = adapter.prompt_batch(samples)  # [B, Lp]
    target_tokens = passes.encode_targets(adapter, targets)  # [B, Tt]
    plan = plan_micro_batches(range(len(samples)), target_tokens.mask.sum(dim=1).tolist(), micro_batch_size,
                              aggregation="token")

    def micro_batch_loss(_: int, micro: MicroBatch) -> tuple[torch.Tensor, dict[str, float]]:
        part = target_tokens.take(micro.rows)
        logprobs = passes.completion_logprobs(adapter, policy, prompts.take(micro.rows), part)  # [b, Tt]
        return sft_loss(logprobs, part.mask), {}

    sums = accumulate_gradients(engine, plan, micro_batch_loss)
    grad_norm = engine.step()
    return {**all_reduce_dict(sums), "grad_norm": grad_norm, "skip_reason": None}
