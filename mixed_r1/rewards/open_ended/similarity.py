"""Open-ended scorers on the policy's own input embeddings: BMAS and its bipartite ablation."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from mixed_r1.rewards.bmas import bmas_batch, combine_directions


class BMASScorer:
    """BMAS (eq. 4) over the policy's input-embedding table; the table is read once per call."""

    def __init__(self, table: Callable[[], torch.Tensor], tokenize: Callable[[Sequence[str]], list[list[int]]],
                 reduction: str = "sum") -> None:
        self.table, self.tokenize, self.reduction = table, tokenize, reduction

    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor:
        return bmas_batch(self.full_table(), self.tokenize(responses), self.tokenize(truths), self.reduction)

    def full_table(self) -> torch.Tensor:
        table = self.table()
        if table.dim() != 2 or table.numel() == 0:  # a ZeRO-3 shard: the scorer ran outside the rollout's gather
            raise RuntimeError(f"the input-embedding table has shape {tuple(table.shape)}: score inside the "
                               f"engine's gathered() context, where the full policy is present")
        return table


def bipartite_similarity(sim: torch.Tensor, reduction: str = "sum") -> float:
    """Optimal one-to-one matching on the similarity matrix ``[n, m]`` (the Table 4 ablation).

    Each token is matched to at most one token of the other side, maximising the summed
    similarity (scipy's assignment solver); the matched sum is averaged over the ``n`` rows and
    over the ``m`` columns (unmatched tokens count 0) and the two terms combined like BMAS.
    """
    from scipy.optimize import linear_sum_assignment

    if sim.numel() == 0:
        return 0.0
    values = sim.detach().double().cpu().numpy()
    rows, cols = linear_sum_assignment(values, maximize=True)
    matched = float(values[rows, cols].sum())
    n, m = values.shape
    return float(combine_directions(torch.tensor(matched / n), torch.tensor(matched / m), reduction))


class BipartiteScorer(BMASScorer):
    """Bipartite matching on the same cosine matrix as BMAS (the paper reports it trains worse)."""

    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor:
        table = self.full_table()
        scores = []
        for resp, truth in zip(self.tokenize(responses), self.tokenize(truths)):
            if not resp or not truth:
                scores.append(0.0)
                continue
            r = F.normalize(table[torch.tensor(resp, device=table.device)].float(), dim=-1)
            t = F.normalize(table[torch.tensor(truth, device=table.device)].float(), dim=-1)
            scores.append(bipartite_similarity(r @ t.T, self.reduction))
        return torch.tensor(scores, dtype=torch.float32)
