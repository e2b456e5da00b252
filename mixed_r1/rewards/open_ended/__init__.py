"""Open-ended rewards: BMAS (the paper's) and the variants of its Table 4 ablation, by name.

Every scorer is ``scorer(responses: list[str], truths: list[str]) -> Tensor[B]``; responses are the
extracted answers. ``reward.open_ended=<name>`` picks one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.rewards.open_ended.similarity import BipartiteScorer, BMASScorer


class OpenEndedScorer(Protocol):
    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor: ...


# policy-embedding scorers need (embedding table getter, tokenizer); encoder scorers build their own model
TableFn = Callable[[], torch.Tensor]
TokenizeFn = Callable[[Sequence[str]], list[list[int]]]


def _sbert(cfg: Any, device: str, **_: Any) -> OpenEndedScorer:
    from mixed_r1.rewards.open_ended.encoders import SentenceEmbeddingScorer

    return SentenceEmbeddingScorer(cfg.sbert.path, device=device)


def _modernbert(cfg: Any, device: str, **_: Any) -> OpenEndedScorer:
    from mixed_r1.rewards.open_ended.encoders import MeanPoolScorer

    return MeanPoolScorer(cfg.modernbert.path, device=device)


def _llm_judge(cfg: Any, device: str, **_: Any) -> OpenEndedScorer:
    from mixed_r1.rewards.open_ended.judge import LLMJudge

    return LLMJudge(cfg.llm_judge.path, prompt=cfg.llm_judge.prompt, max_new_tokens=cfg.llm_judge.max_new_tokens,
                    device=device)


def _bmas(cfg: Any, table: TableFn, tokenize: TokenizeFn, **_: Any) -> OpenEndedScorer:
    return BMASScorer(table, tokenize, reduction=cfg.bmas.reduction)


def _bipartite(cfg: Any, table: TableFn, tokenize: TokenizeFn, **_: Any) -> OpenEndedScorer:
    return BipartiteScorer(table, tokenize, reduction=cfg.bmas.reduction)


OPEN_ENDED: dict[str, Callable[..., OpenEndedScorer]] = {
    "bmas": _bmas, "bipartite": _bipartite, "sbert": _sbert, "modernbert": _modernbert, "llm_judge": _llm_judge,
}


def build_open_ended(reward_cfg: Any, table: TableFn, tokenize: TokenizeFn, device: str = "cpu",
                     tiny_corpus: Callable[[], Sequence[str]] | None = None, seed: int = 0) -> OpenEndedScorer:
    """The scorer named by ``reward.open_ended``. An extra model with a ``tiny`` spec (CPU demo and
    tests) is first built, random weights, into its ``path`` when nothing is there yet."""
    name = reward_cfg.open_ended
    if name not in OPEN_ENDED:
        raise ConfigError(f"reward.open_ended={name!r}; expected one of {sorted(OPEN_ENDED)}")
    model_cfg = reward_cfg.get(name)
    if model_cfg is not None and model_cfg.get("tiny") and not Path(model_cfg.path).exists():
        from mixed_r1.rewards.open_ended.tiny import TINY_REWARD_BUILDERS

        if tiny_corpus is None:
            raise ConfigError(f"building the tiny {name} model needs a tokenizer corpus")
        TINY_REWARD_BUILDERS[name](model_cfg.path, tiny_corpus(), dict(model_cfg.tiny), seed)
    return OPEN_ENDED[name](reward_cfg, table=table, tokenize=tokenize, device=device)


__all__ = ["OPEN_ENDED", "BMASScorer", "BipartiteScorer", "OpenEndedScorer", "build_open_ended"]
