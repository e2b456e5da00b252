"""BMAS: Bidirectional Max-Average Similarity (eq. 3–4), the paper's open-ended reward.

Embeddings are the policy's *input* embeddings of the response and ground-truth tokens: no
extra model. Two forms with identical results (to 1e-6):

- :func:`bmas` — one response against one ground truth, from their embeddings;
- :func:`bmas_batch` — a whole rollout batch from token ids and the embedding table. Completions
  of one GRPO group share their ground truth, and a similarity depends only on the two token ids,
  so each group needs *one* matmul: its distinct response tokens against its distinct truth tokens.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

REDUCTIONS = ("sum", "mean")


def combine_directions(row_term: torch.Tensor, col_term: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return row_term + col_term
    if reduction == "mean":
        return (row_term + col_term) / 2
    raise ValueError(f"BMAS reduction must be one of {REDUCTIONS}, got {reduction!r}")


def bmas(response_emb: torch.Tensor, truth_emb: torch.Tensor, reduction: str = "sum") -> float:
    """BMAS of response token embeddings ``[n, d]`` against ground-truth token embeddings ``[m, d]``.

    S_ij = cos(e_i, g_j)  (eq. 3);  score = mean_i max_j S_ij + mean_j max_i S_ij  (eq. 4: the two
    directional averages *summed*, as the paper's text says; range [-2, 2]). ``reduction='mean'``
    averages them instead (range [-1, 1]); the scale cancels in group-normalised advantages.
    An empty side scores 0.
    """
    if response_emb.numel() == 0 or truth_emb.numel() == 0:
        return 0.0
    sim = F.normalize(response_emb.float(), dim=-1) @ F.normalize(truth_emb.float(), dim=-1).T  # [n, m]
    score = combine_directions(sim.max(dim=1).values.mean(), sim.max(dim=0).values.mean(), reduction)
    return float(score) if torch.isfinite(score) else 0.0


def bmas_batch(table: torch.Tensor, response_ids: Sequence[Sequence[int]], truth_ids: Sequence[Sequence[int]],
               reduction: str = "sum") -> torch.Tensor:
    """BMAS of every response ``i`` (token ids) against ``truth_ids[i]``, with embeddings from ``table [V, d]``.

    Responses with the same truth form a group (a GRPO group). A similarity depends only on the two
    token ids, so each group needs one matmul: its *distinct* response tokens against its *distinct*
    truth tokens. The row term averages over each response's tokens (repeats counted); the column
    term weights each distinct truth token by its count. Rows are gathered into one reused buffer
    and normalised after the matmul, so memory stays at one group's tokens. Empty responses or
    truths score 0. Returns ``[B]`` (float32, CPU).
    """
    if len(response_ids) != len(truth_ids):
        raise ValueError(f"{len(response_ids)} responses but {len(truth_ids)} ground truths")
    scores = torch.zeros(len(response_ids), dtype=torch.float32)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (resp, truth) in enumerate(zip(response_ids, truth_ids)):
        if len(resp) and len(truth):
            groups.setdefault(tuple(truth), []).append(i)
    if not groups:
        return scores
    device = table.device
    buffer: torch.Tensor | None = None
    for truth, members in groups.items():
        truth_tokens, truth_counts = torch.unique(torch.tensor(truth), return_counts=True)
        truth_emb = F.normalize(table[truth_tokens.to(device)].float(), dim=-1)  # [W, d]
        lengths = torch.tensor([len(response_ids[i]) for i in members])
        tokens = torch.tensor([t for i in members for t in response_ids[i]], dtype=torch.long)  # [T]
        owner = torch.repeat_interleave(torch.arange(len(members)), lengths)  # [T]
        distinct, position = torch.unique(tokens, return_inverse=True)  # [U], [T]
        if buffer is None or buffer.shape[0] < len(distinct):
            buffer = torch.empty(len(distinct), table.shape[1], dtype=table.dtype, device=device)
        rows = torch.index_select(table, 0, distinct.to(device), out=buffer[: len(distinct)]).float()
        sim = rows @ truth_emb.T  # [U, W]: the group's one matmul
        sim = sim.div_(torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min_(1e-12)).cpu()
        # row term: mean over a response's tokens of max_j S_ij
        row_max = sim.max(dim=1).values[position]  # [T]
        row_term = torch.zeros(len(members)).index_add_(0, owner, row_max) / lengths
        # column term: count-weighted mean over truth tokens of max_i S_ij, the max over the response
        col_max = torch.full((len(members), sim.shape[1]), float("-inf")).scatter_reduce_(
            0, owner.unsqueeze(1).expand(-1, sim.shape[1]), sim[position], reduce="amax")  # [b, W]
        col_term = (col_max * truth_counts).sum(dim=1) / len(truth)
        combined = combine_directions(row_term, col_term, reduction)
        scores[torch.tensor(members)] = torch.where(torch.isfinite(combined), combined, torch.zeros_like(combined))
    return scores
