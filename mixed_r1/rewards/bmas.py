"""BMAS: Bidirectional Max-Average Similarity (eq. 3–4), the paper's open-ended reward.

Embeddings are the policy's *input* embeddings of the response and ground-truth tokens: no
extra model. Two forms with identical results (to 1e-6):

- :func:`bmas` — one response against one ground truth, from their embeddings;
- :func:`bmas_batch` — a whole rollout batch from token ids and the embedding table. Completions
  of one GRPO group share their ground truth, and a token's similarity row depends only on its
  id, so each group needs *one* matmul: its distinct response tokens against its truth tokens.
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

    Responses with the same truth (a GRPO group) share one similarity matmul over their distinct
    tokens; the row term counts repeated tokens (a mean over the response's tokens), the column
    term takes each truth token's max over the response's distinct tokens. Returns ``[B]``.
    """
    if len(response_ids) != len(truth_ids):
        raise ValueError(f"{len(response_ids)} responses but {len(truth_ids)} ground truths")
    scores = torch.zeros(len(response_ids), dtype=torch.float32)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (resp, truth) in enumerate(zip(response_ids, truth_ids)):
        if len(resp) and len(truth):  # an empty side scores 0
            groups.setdefault(tuple(truth), []).append(i)
    for truth, members in groups.items():
        ids = [torch.as_tensor(response_ids[i], dtype=torch.long) for i in members]
        vocab, inverse = torch.unique(torch.cat(ids), return_inverse=True)  # distinct tokens of the group
        rows = F.normalize(table[vocab.to(table.device)].float(), dim=-1)  # [U, d]
        cols = F.normalize(table[torch.tensor(truth, device=table.device)].float(), dim=-1)  # [M, d]
        sim = (rows @ cols.T).cpu()  # [U, M]: the group's one matmul
        lengths = torch.tensor([len(x) for x in ids])
        owner = torch.repeat_interleave(torch.arange(len(ids)), lengths)  # [sum n] completion of each token
        present = torch.zeros(len(ids), len(vocab), dtype=torch.bool)  # [g, U] token u occurs in completion k
        present[owner, inverse] = True
        row_max = sim.max(dim=1).values  # [U]
        row_term = torch.zeros(len(ids)).index_add_(0, owner, row_max[inverse]) / lengths  # mean over tokens
        col_max = sim.unsqueeze(0).masked_fill(~present.unsqueeze(-1), float("-inf")).max(dim=1).values  # [g, M]
        col_term = col_max.mean(dim=1)
        group_scores = combine_directions(row_term, col_term, reduction)
        scores[torch.tensor(members)] = torch.where(torch.isfinite(group_scores), group_scores, 0.0)
    return scores
