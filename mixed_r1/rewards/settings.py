"""The ``reward`` group as frozen settings (``conf/reward/mixed.yaml``), validated at start-up: a bad chart mode
or open-ended scorer stops the run before any model loads, not when a model first answers."""
from __future__ import annotations

from dataclasses import dataclass

from mixed_r1.data.sample_types import RewardContext
from mixed_r1.errors import ConfigError
from mixed_r1.rewards.bmas import REDUCTIONS

# reward.aggregation: how the reward's terms (accuracy, format, over-length) become the advantage
AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")


@dataclass(frozen=True)
class ChartSettings:
    tolerance: float  # paper: correct when the error is below 1e-2
    mode: str  # absolute | relative

    def __post_init__(self) -> None:
        RewardContext(chart_tolerance=self.tolerance, chart_mode=self.mode)  # checks both, naming the key


@dataclass(frozen=True)
class BMASSettings:
    reduction: str  # sum (the paper's text) | mean

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise ConfigError(f"reward.bmas.reduction={self.reduction!r}; expected one of {', '.join(REDUCTIONS)}")


@dataclass(frozen=True)
class EncoderSettings:
    """An extra model of a Table 4 variant (sbert, modernbert): a hub id or folder, or a tiny twin built there."""

    path: str
    tiny: dict[str, int] | None = None  # a tiny random-weight twin's shape (CPU demo, tests)


@dataclass(frozen=True, kw_only=True)
class JudgeSettings(EncoderSettings):
    """The LLM-judge variant: a small causal LM rating each answer against the truth."""

    max_new_tokens: int
    prompt: str  # with {truth} and {response}

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"reward.llm_judge.max_new_tokens={self.max_new_tokens} must be >= 1")


@dataclass(frozen=True)
class RewardSettings:
    """Mixed-Reward: accuracy by sample type + ``format_weight`` x format; ``open_ended`` picks the Table 4 scorer."""

    format_weight: float
    chart: ChartSettings
    open_ended: str  # bmas | bipartite | sbert | modernbert | llm_judge
    bmas: BMASSettings
    sbert: EncoderSettings
    modernbert: EncoderSettings
    llm_judge: JudgeSettings
    aggregation: str = "sum_then_normalize"  # sum_then_normalize (paper) | normalize_then_sum (each term in its group)

    def __post_init__(self) -> None:
        from mixed_r1.rewards.open_ended import OPEN_ENDED

        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"reward.aggregation={self.aggregation!r}; expected one of {', '.join(AGGREGATIONS)}")

        if self.open_ended not in OPEN_ENDED:
            raise ConfigError(f"reward.open_ended={self.open_ended!r}; expected one of {', '.join(sorted(OPEN_ENDED))}")
