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

    Responses with the same truth form a group (a GRPO group). A token's similarity row depends only
    on its id, so each group needs only its *distinct* tokens against its truth tokens: all groups
    go through one padded batched matmul ``[P, U, M]``; the row term then averages over each
    response's tokens (repeats counted), the column term takes each truth token's max over the
    response's tokens. Empty responses or truths score 0. Returns ``[B]`` (float32, CPU).
    """
    if len(response_ids) != len(truth_ids):
        raise ValueError(f"{len(response_ids)} responses but {len(truth_ids)} ground truths")
    B = len(response_ids)
    scores = torch.zeros(B, dtype=torch.float32)
    group_of_truth: dict[tuple[int, ...], int] = {}
    members = [i for i in range(B) if len(response_ids[i]) and len(truth_ids[i])]
    if not members:
        return scores
    group = torch.tensor([group_of_truth.setdefault(tuple(truth_ids[i]), len(group_of_truth)) for i in members])
    truths = list(group_of_truth)  # [P] distinct truths
    P, V = len(truths), table.shape[0]
    device = table.device

    # flat token stream of the scored responses, with the (local) completion and group of each token
    lengths = torch.tensor([len(response_ids[i]) for i in members])  # [b]
    tokens = torch.tensor([t for i in members for t in response_ids[i]], dtype=torch.long)  # [T]
    owner = torch.repeat_interleave(torch.arange(len(members)), lengths)  # [T]
    tok_group = group[owner]  # [T]

    # distinct (group, token) pairs, laid out per group and padded to U = the largest group's count
    keys, inverse = torch.unique(tok_group * V + tokens, return_inverse=True)  # sorted by group first
    key_group, key_token = keys // V, keys % V
    first = torch.searchsorted(key_group, torch.arange(P))  # index of each group's first pair
    rank = torch.arange(len(keys)) - first[key_group]  # position of a pair within its group
    U = int(rank.max()) + 1
    rows = torch.zeros(P, U, dtype=torch.long)
    rows[key_group, rank] = key_token
    row_valid = torch.zeros(P, U, dtype=torch.bool)
    row_valid[key_group, rank] = True

    M = max(len(t) for t in truths)
    cols = torch.zeros(P, M, dtype=torch.long)
    col_valid = torch.zeros(P, M, dtype=torch.bool)
    for g, truth in enumerate(truths):
        cols[g, : len(truth)] = torch.tensor(truth)
        col_valid[g, : len(truth)] = True

    r = F.normalize(table[rows.to(device)].float(), dim=-1)  # [P, U, d]
    c = F.normalize(table[cols.to(device)].float(), dim=-1)  # [P, M, d]
    sim = torch.bmm(r, c.transpose(1, 2)).cpu()  # [P, U, M]: the one matmul
    sim = sim.masked_fill(~col_valid.unsqueeze(1), float("-inf"))

    # row term: mean over a response's tokens of max_j S_ij
    row_max = sim.max(dim=2).values  # [P, U]
    tok_row_max = row_max[tok_group, rank[inverse]]  # [T]
    row_term = torch.zeros(len(members)).index_add_(0, owner, tok_row_max) / lengths
    # column term: mean over truth tokens of max_i S_ij, the max over the response's tokens
    tok_sims = sim[tok_group, rank[inverse]]  # [T, M]
    col_max = torch.full((len(members), M), float("-inf")).scatter_reduce_(
        0, owner.unsqueeze(1).expand(-1, M), tok_sims, reduce="amax", include_self=True)  # [b, M]
    valid = col_valid[group]  # [b, M]
    col_term = col_max.masked_fill(~valid, 0.0).sum(dim=1) / valid.sum(dim=1)
    combined = combine_directions(row_term, col_term, reduction)
    scores[torch.tensor(members)] = torch.where(torch.isfinite(combined), combined, torch.zeros_like(combined))
    return scores
