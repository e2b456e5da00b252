"""Open-ended ablations with an *extra* text encoder (Table 4): Sentence-BERT and ModernBERT.

The paper reports both train worse than BMAS, arguing the extra model's embedding space is
inconsistent with the policy's. They are here to reproduce that row, loaded from a local path.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def _paired_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    scores = F.cosine_similarity(a.float(), b.float(), dim=-1)
    return torch.nan_to_num(scores, nan=0.0).cpu()


def _encode_all(responses: Sequence[str], truths: Sequence[str]) -> tuple[list[str], int]:
    """Texts to encode once: responses, then the distinct truths (a group shares one)."""
    return list(responses) + list(dict.fromkeys(truths)), len(responses)


class SentenceEmbeddingScorer:
    """Cosine of sentence-transformers embeddings of response and ground truth."""

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer  # optional dependency, imported on use

        self.model = SentenceTransformer(path, device=device)
        self.batch_size = batch_size

    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor:
        if not responses:
            return torch.zeros(0)
        texts, n = _encode_all(responses, truths)
        emb = self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True)
        index = {t: n + i for i, t in enumerate(dict.fromkeys(truths))}
        return _paired_cosine(emb[:n], emb[[index[t] for t in truths]])


class MeanPoolScorer:
    """Cosine of mean-pooled last hidden states of an encoder (ModernBERT in the paper)."""

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 64, max_length: int = 512) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval()
        self.device, self.batch_size, self.max_length = device, batch_size, max_length

    @torch.no_grad()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state  # [b, T, d]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            chunks.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return torch.cat(chunks)

    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor:
        if not responses:
            return torch.zeros(0)
        texts, n = _encode_all(responses, truths)
        emb = self.embed(texts)
        index = {t: n + i for i, t in enumerate(dict.fromkeys(truths))}
        return _paired_cosine(emb[:n], emb[[index[t] for t in truths]])
