"""BMAS: Bidirectional Max-Average Similarity (eq. 3–4), the open-ended reward."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bmas(response_emb: torch.Tensor, truth_emb: torch.Tensor) -> float:
    """BMAS of response token embeddings ``[n, d]`` against ground-truth token embeddings ``[m, d]``.

    S_ij = cos(e_i, g_j)  (eq. 3);  score = mean_i max_j S_ij + mean_j max_i S_ij  (eq. 4: the two
    directional averages *summed*, as the paper's text says; range [-2, 2]). An empty side scores 0.
    """
    if response_emb.numel() == 0 or truth_emb.numel() == 0:
        return 0.0
    sim = F.normalize(response_emb.float(), dim=-1) @ F.normalize(truth_emb.float(), dim=-1).T  # [n, m]
    score = sim.max(dim=1).values.mean() + sim.max(dim=0).values.mean()
    return float(score) if torch.isfinite(score) else 0.0
