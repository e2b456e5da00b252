"""SFT: maximise the log-likelihood of target tokens (answer tokens and the stop token only)."""
from __future__ import annotations

from typing import Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine import TorchEngine
from mixed_r1.models import ModelAdapter


def sft_loss(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood averaged over all target tokens of the batch (``[B, T]`` inputs)."""
    mask = mask.to(logprobs.dtype)
    return -(logprobs * mask).sum() / mask.sum().clamp(min=1.0)


def sft_step(policy: torch.nn.Module, adapter: ModelAdapter, engine: TorchEngine,
             samples: Sequence[Sample], targets: Sequence[str]) -> dict[str, float]:
    policy.train()
    prompts = adapter.prompt_batch(samples)  # [B, Lp]
    target_tokens = adapter.encode_targets(targets)  # [B, Tt]
    logprobs = adapter.completion_logprobs(policy, prompts, target_tokens)  # [B, Tt]
    loss = sft_loss(logprobs, target_tokens.mask)
    engine.backward(loss)
    grad_norm = engine.step()
    return {"loss": loss.item(), "grad_norm": grad_norm}
