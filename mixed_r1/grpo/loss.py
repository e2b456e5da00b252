"""GRPO's pure tensor math: group-relative advantages (eq. 2) and the clipped, KL-regularised loss (eq. 1)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch


def advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4, scale: str = "group",
               batch_std: float | None = None) -> torch.Tensor:
    """A_i = (r_i − mean(r_group)) / (σ + eps) for rewards laid out as consecutive groups, with σ by ``scale``
    (``algo.scale_rewards``, TRL's ``scale_rewards``):

    - ``group`` (the paper's GRPO, eq. 2): σ = std(r_group), the sample std (unbiased, as in DeepSeekMath and TRL);
    - ``batch``: σ = the std of every reward of the step (``batch_std``: over all ranks, computed by the caller),
      so a group's spread is kept relative to the others' (Hu et al. 2025, REINFORCE++-style);
    - ``none`` (Dr. GRPO, Liu et al. 2025): no division, A_i = r_i − mean(r_group): a low-spread group's
      advantages are not blown up.

    ``rewards`` is ``[num_prompts * group_size]``. A group whose rewards are all equal gets advantage 0.
    """
    if rewards.dim() != 1 or rewards.numel() % group_size != 0:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, "
                         f"got shape {tuple(rewards.shape)}")
    grouped = rewards.float().view(-1, group_size)  # [P, G]
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale == "none":
        return centred.view(-1)
    if scale == "batch":
        if batch_std is None:
            raise ValueError("scale='batch' needs the std of every reward of the step (batch_std)")
        return (centred / (batch_std + eps)).view(-1)
    if scale != "group":
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(centred[:, :1])
    return (centred / (std + eps)).view(-1)  # [P*G]


def local_mean_std(values: torch.Tensor) -> tuple[float, float]:
    """The mean and sample std of ``values`` (one process; the step passes its all-ranks version)."""
    return float(values.mean()), float(values.std()) if values.numel() > 1 else 0.0


def normalized_sum_advantages(components: torch.Tensor, weights: Sequence[float], group_size: int,
                              eps: float = 1e-4,
                              batch_mean_std: Callable[[torch.Tensor], tuple[float, float]] = local_mean_std
                              ) -> torch.Tensor:
    """Advantages from reward terms normalised one by one before they are summed (``reward.aggregation=
    normalize_then_sum``: GDPO's decoupled normalisation, TRL's ``multi_objective_aggregation='normalize_then_sum'``).

    For terms k (``components`` ``[N, K]``, consecutive groups of ``group_size``) with weights w_k:

        r̂_ik = (r_ik − mean_group(r_k)) / (std_group(r_k) + eps)      each term within its group
        s_i  = Σ_k w_k · r̂_ik
        A_i  = (s_i − mean_batch(s)) / (std_batch(s) + eps)            the sum over the whole step (all ranks)

    Why: with the plain sum (``sum_then_normalize``, the paper's) a term with a wide spread (IoU, BMAS ∈ [−2, 2])
    drowns a binary one (format) inside the group std; normalised first, each term moves the advantage by its
    weight alone. A term constant within a group adds 0 there. ``batch_mean_std`` gives the step's mean and
    sample std of s (over every rank: the caller's all-reduce)."""
    if components.dim() != 2 or components.shape[0] % group_size != 0 or components.shape[1] != len(weights):
        raise ValueError(f"components must be [N, {len(weights)}] with N a multiple of group_size={group_size}, "
                         f"got shape {tuple(components.shape)}")
    grouped = components.float().view(-1, group_size, components.shape[1])  # [P, G, K]
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(centred[:, :1])
    summed = ((centred / (std + eps)).view(-1, components.shape[1]) * torch.tensor(weights)).sum(dim=1)  # [N]
    mean, batch_std = batch_mean_std(summed)
    return (summed - mean) / (batch_std + eps)


def overlong_penalty(lengths: torch.Tensor, max_length: int, buffer: int, factor: float = 1.0) -> torch.Tensor:
    """DAPO's soft over-length punishment (Yu et al. 2025, arXiv 2503.14476, eq. 13), a reward term per completion
    of ``lengths`` tokens with L_max = ``max_length`` and L_cache = ``buffer``:

        R_length = 0                                   if |y| ≤ L_max − L_cache
                 = ((L_max − L_cache) − |y|) / L_cache if L_max − L_cache < |y| ≤ L_max
                 = −1                                  if |y| > L_max

    times ``factor``: a completion is penalised more the deeper it runs into the last ``buffer`` tokens (−1 at the
    cap), so the policy learns to finish before it is cut off instead of being rewarded for a cut-off answer."""
    if not 0 < buffer <= max_length:
        raise ValueError(f"the over-length buffer must be in (0, max_length={max_length}], got {buffer}")
    excess = (lengths.float() - (max_length - buffer)).clamp(min=0.0)
    return -factor * (excess / buffer).clamp(max=1.0)


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
    aggregation: str = "sequence",
    clip_eps_high: float | None = None,
    importance_level: str = "token",
    max_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO objective (eq. 1) as a loss to minimise, with the variants researchers ablate.

    Per completion token t of sequence i (all ``[B, T]``; ``advantages`` ``[B]``):

        ratio   = exp(logπθ − logπθ_old)                                 (importance_level='token', GRPO)
        surr    = min(ratio · A_i, clip(ratio, 1 − ε_low, 1 + ε_high) · A_i)
        kl      = exp(logπref − logπθ) − (logπref − logπθ) − 1          (k3 estimator, ≥ 0)
        ℓ_t     = −(surr − β · kl)

    ``clip_eps`` is ε_low and ``clip_eps_high`` ε_high (None: ε_low, the symmetric clip; a larger ε_high is DAPO's
    clip-higher, Yu et al. 2025, arXiv 2503.14476). ``importance_level='sequence'`` is GSPO (Zheng et al. 2025,
    arXiv 2507.18071): one ratio per sequence, s_i = exp((1/|o_i|) Σ_t (logπθ − logπθ_old)), clipped and applied
    to every token of it (TRL's ``importance_sampling_level='sequence'``).

    Aggregation over tokens (``algo.loss_aggregation``):
    - ``sequence`` (the paper's GRPO): mean_i [ (1/|o_i|) Σ_t ℓ_t ] (a sequence with no loss token contributes 0);
    - ``token`` (DAPO): Σ_i Σ_t ℓ_t / Σ_i |o_i|, one mean over all tokens, so long completions weigh more;
    - ``dr_grpo`` (Dr. GRPO, Liu et al. 2025, arXiv 2503.20783): Σ_i Σ_t ℓ_t / (B · ``max_length``), a constant
      normaliser (the generation budget), so neither a completion's length nor the batch's token count scales it.

    ``ref_logprobs=None`` (no reference policy, β = 0): the KL term is left out, the same loss as a zero-weight
    term, and ``kl`` is not among the metrics (there is none to report).

    The returned metrics (kl, clip fraction, mean ratio) are means over completion tokens.
    """
    if ref_logprobs is None and beta != 0:
        raise ValueError(f"a KL term (beta={beta}) needs the reference policy's log-probs")
    eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    mask = mask.to(logprobs.dtype)
    adv = advantages.to(device=logprobs.device, dtype=logprobs.dtype).unsqueeze(1)  # [B, 1]; rewards live on the CPU
    log_ratio = logprobs - old_logprobs  # [B, T]
    if importance_level == "sequence":  # GSPO: the length-normalised sequence log-ratio, on every token
        log_ratio = ((log_ratio * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).unsqueeze(1).expand_as(logprobs)
    elif importance_level != "token":
        raise ValueError(f"importance_level must be 'token' or 'sequence', got {importance_level!r}")
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + eps_high)
    surrogate = torch.minimum(ratio * adv, clipped * adv)  # [B, T]
    kl = k3_kl(ref_logprobs, logprobs) if ref_logprobs is not None else None  # [B, T]
    per_token = -(surrogate - beta * kl) if kl is not None else -surrogate
    lengths = mask.sum(dim=1).clamp(min=1.0)  # [B]
    if aggregation == "sequence":
        loss = ((per_token * mask).sum(dim=1) / lengths).mean()
    elif aggregation == "token":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    elif aggregation == "dr_grpo":
        if not max_length:
            raise ValueError("aggregation 'dr_grpo' divides by the generation budget: pass max_length")
        loss = (per_token * mask).sum() / (mask.shape[0] * max_length)
    else:
        raise ValueError(f"loss aggregation must be 'sequence', 'token' or 'dr_grpo', got {aggregation!r}")

    with torch.no_grad():
        n_tokens = mask.sum().clamp(min=1.0)
        was_clipped = ((ratio < 1.0 - clip_eps) & (adv < 0)) | ((ratio > 1.0 + eps_high) & (adv > 0))
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
