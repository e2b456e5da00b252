"""GRPO's pure tensor math: group-relative advantages (eq. 2) and the clipped, KL-regularised loss (eq. 1)."""
from __future__ import annotations

import torch


def advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """A_i = (r_i − mean(r_group)) / (std(r_group) + eps) for rewards laid out as consecutive groups.

    ``rewards`` is ``[num_prompts * group_size]``; ``std`` is the sample std (unbiased, as in
    DeepSeekMath and TRL). A group whose rewards are all equal gets advantage 0.
    """
    if rewards.dim() != 1 or rewards.numel() % group_size != 0:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, "
                         f"got shape {tuple(rewards.shape)}")
    grouped = rewards.float().view(-1, group_size)  # [P, G]
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(mean)
    return ((grouped - mean) / (std + eps)).view(-1)  # [P*G]


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
    aggregation: str = "sequence",
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO objective (eq. 1) as a loss to minimise.

    Per completion token t of sequence i (all ``[B, T]``; ``advantages`` ``[B]``):

        ratio   = exp(logπθ − logπθ_old)
        surr    = min(ratio · A_i, clip(ratio, 1 − ε, 1 + ε) · A_i)
        kl      = exp(logπref − logπθ) − (logπref − logπθ) − 1          (k3 estimator, ≥ 0)
        ℓ_t     = −(surr − β · kl)

    ``aggregation='sequence'`` (the paper's GRPO): loss = mean_i [ (1/|o_i|) Σ_t ℓ_t ], the mean over
    each sequence's tokens, then over sequences (a sequence with no completion token contributes 0).
    ``aggregation='token'`` (DAPO): loss = Σ_i Σ_t ℓ_t / Σ_i |o_i|, one mean over all tokens, so long
    completions weigh more.

    ``ref_logprobs=None`` (no reference policy, β = 0): the KL term is left out, the same loss as a zero-weight
    term, and ``kl`` is not among the metrics (there is none to report).

    The returned metrics (kl, clip fraction, mean ratio) are means over completion tokens.
    """
    if ref_logprobs is None and beta != 0:
        raise ValueError(f"a KL term (beta={beta}) needs the reference policy's log-probs")
    mask = mask.to(logprobs.dtype)
    adv = advantages.to(device=logprobs.device, dtype=logprobs.dtype).unsqueeze(1)  # [B, 1]; rewards live on the CPU
    ratio = torch.exp(logprobs - old_logprobs)  # [B, T]
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = torch.minimum(ratio * adv, clipped * adv)  # [B, T]
    kl = k3_kl(ref_logprobs, logprobs) if ref_logprobs is not None else None  # [B, T]
    per_token = -(surrogate - beta * kl) if kl is not None else -surrogate
    lengths = mask.sum(dim=1).clamp(min=1.0)  # [B]
    if aggregation == "sequence":
        loss = ((per_token * mask).sum(dim=1) / lengths).mean()
    elif aggregation == "token":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    else:
        raise ValueError(f"loss aggregation must be 'sequence' or 'token', got {aggregation!r}")

    with torch.no_grad():
        n_tokens = mask.sum().clamp(min=1.0)
        was_clipped = ((ratio < 1.0 - clip_eps) & (adv < 0)) | ((ratio > 1.0 + clip_eps) & (adv > 0))
        metrics = {
            "clip_fraction": float((was_clipped.to(mask.dtype) * mask).sum() / n_tokens),
            "ratio_mean": float((ratio * mask).sum() / n_tokens),
        }
        if kl is not None:
            metrics["kl"] = float((kl * mask).sum() / n_tokens)
    return loss, metrics


def k3_kl(ref_logprobs: torch.Tensor, logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL(π_θ ‖ π_ref) by the k3 estimator: exp(logπref − logπθ) − (logπref − logπθ) − 1 (≥ 0)."""
    log_ref_ratio = ref_logprobs - logprobs
    return torch.exp(log_ref_ratio) - log_ref_ratio - 1.0
