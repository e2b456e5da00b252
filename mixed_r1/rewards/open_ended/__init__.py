"""Open-ended rewards: BMAS (the paper's) and the variants of its Table 4 ablation, by name.

Every scorer is ``scorer(responses: list[str], truths: list[str]) -> Tensor[B]``; responses are the
extracted answers. ``reward.open_ended=<name>`` picks one.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.rewards.open_ended.similarity import BipartiteScorer, BMASScorer

if TYPE_CHECKING:
    from mixed_r1.rewards.settings import RewardSettings


class OpenEndedScorer(Protocol):
    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor: ...


# policy-embedding scorers need (embedding table getter, tokenizer); encoder scorers build their own model
TableFn = Callable[[], torch.Tensor]
TokenizeFn = Callable[[Sequence[str]], list[list[int]]]


def _sbert(reward: RewardSettings, device: str, **_: Any) -> OpenEndedScorer:
    from mixed_r1.rewards.open_ended.encoders import SentenceEmbeddingScorer

    return SentenceEmbeddingScorer(reward.sbert.path, device=device)


def _modernbert(reward: RewardSettings, device: str, **_: Any) -> OpenEndedScorer:
    from mixed_r1.rewards.open_ended.encoders import MeanPoolScorer

    return MeanPoolScorer(reward.modernbert.path, device=device)


def _llm_judge(reward: RewardSettings, device: str, **_: Any) -> OpenEndedScorer:
    from mixed_r1.rewards.open_ended.judge import LLMJudge

    judge = reward.llm_judge
    return LLMJudge(judge.path, prompt=judge.prompt, max_new_tokens=judge.max_new_tokens, device=device)


def _bmas(reward: RewardSettings, table: TableFn, tokenize: TokenizeFn, **_: Any) -> OpenEndedScorer:
    return BMASScorer(table, tokenize, reduction=reward.bmas.reduction)


def _bipartite(reward: RewardSettings, table: TableFn, tokenize: TokenizeFn, **_: Any) -> OpenEndedScorer:
    return BipartiteScorer(table, tokenize, reduction=reward.bmas.reduction)


OPEN_ENDED: dict[str, Callable[..., OpenEndedScorer]] = {
    "bmas": _bmas, "bipartite": _bipartite, "sbert": _sbert, "modernbert": _modernbert, "llm_judge": _llm_judge,
}


def build_open_ended(reward: RewardSettings, table: TableFn, tokenize: TokenizeFn, device: str = "cpu",
                     tiny_corpus: Callable[[], Sequence[str]] | None = None, seed: int = 0) -> OpenEndedScorer:
    """The scorer named by ``reward.open_ended``. An extra model with a ``tiny`` spec (CPU demo and
    tests) is first built, random weights, into its ``path`` when nothing is there yet."""
    from mixed_r1.rewards.settings import EncoderSettings

    name = reward.open_ended
    if name not in OPEN_ENDED:
        raise ConfigError(f"reward.open_ended={name!r}; expected one of {sorted(OPEN_ENDED)}")
    extra = getattr(reward, name, None)  # the variant's own model (sbert, modernbert, llm_judge), if it has one
    if isinstance(extra, EncoderSettings) and extra.tiny and not Path(extra.path).exists():
        from mixed_r1.rewards.open_ended.tiny import TINY_REWARD_BUILDERS

        if tiny_corpus is None:
            raise ConfigError(f"building the tiny {name} model needs a tokenizer corpus")
        TINY_REWARD_BUILDERS[name](extra.path, tiny_corpus(), dict(extra.tiny), seed)
    return OPEN_ENDED[name](reward, table=table, tokenize=tokenize, device=device)


__all__ = ["OPEN_ENDED", "BMASScorer", "BipartiteScorer", "OpenEndedScorer", "build_open_ended"]
