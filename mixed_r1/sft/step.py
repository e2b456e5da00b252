"""SFT: maximise the log-likelihood of target tokens (answer tokens and the stop token only)."""
from __future__ import annotations

from typing import Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine import Engine
from mixed_r1.engine.distributed import all_reduce, world_size
from mixed_r1.models import ModelAdapter


def sft_loss(logprobs: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None) -> torch.Tensor:
    """Negative log-likelihood averaged over all target tokens of the batch (``[B, T]`` inputs);
    ``num_tokens`` divides instead of this batch's own count (the global count across ranks)."""
    mask = mask.to(logprobs.dtype)
    denominator = num_tokens if num_tokens is not None else mask.sum()
    return -(logprobs * mask).sum() / max(float(denominator), 1.0)


def sft_step(policy: torch.nn.Module, adapter: ModelAdapter, engine: Engine,
             samples: Sequence[Sample], targets: Sequence[str]) -> dict[str, float]:
    policy.train()
    prompts = adapter.prompt_batch(samples)  # [B, Lp]
    target_tokens = adapter.encode_targets(targets)  # [B, Tt]
    logprobs = adapter.completion_logprobs(policy, prompts, target_tokens)  # [B, Tt]
    # this rank's part of the mean over the *global* batch's target tokens
    loss = sft_loss(logprobs, target_tokens.mask, num_tokens=all_reduce([float(target_tokens.mask.sum())])[0])
    engine.backward(loss * world_size())  # engines average gradients over ranks
    grad_norm = engine.step()
    return {"loss": all_reduce([loss.item()])[0], "grad_norm": grad_norm}
