"""Mixed-Reward (section 3.2): each sample's type picks its accuracy reward; total = accuracy + w · format.

A type's accuracy reward is part of its one registration (:data:`mixed_r1.data.sample_types.REGISTRY`,
where types are added), all with one signature ``(text, sample, ctx) -> float``. Types registered without
one (open-ended) go, as one batch, to the configured open-ended scorer (BMAS by default).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

# RewardContext and the accuracy signature are defined with the type registry, one floor below
from mixed_r1.data.sample_types import REGISTRY, BoxFrameFn, RewardContext
from mixed_r1.data.schema import Sample
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.open_ended import OpenEndedScorer

OPEN_ENDED_TYPE = "open_ended"  # the paper's type without a closed-form reward (registered with accuracy=None)


@dataclass
class RewardOutput:
    total: torch.Tensor  # [N] accuracy + format_weight * format
    format: torch.Tensor  # [N] R_format ∈ {0, 1}
    accuracy: torch.Tensor  # [N] the type's accuracy reward
    types: list[str]  # [N] sample type of each completion
    overlong: torch.Tensor | None = None  # [N] DAPO's soft over-length penalty, already in ``total`` (None: off)
    format_weight: float = 1.0  # the λ ``total`` weighs ``format`` by (reward.aggregation=normalize_then_sum reads it)

    def take(self, rows: Sequence[int]) -> RewardOutput:
        """The given completions' rewards."""
        index = torch.tensor(list(rows), dtype=torch.long)
        return RewardOutput(total=self.total[index], format=self.format[index], accuracy=self.accuracy[index],
                            types=[self.types[i] for i in rows],
                            overlong=self.overlong[index] if self.overlong is not None else None,
                            format_weight=self.format_weight)

    @staticmethod
    def concat(parts: Sequence[RewardOutput]) -> RewardOutput:
        """The rewards of several ranks' rollouts as one batch (for global metrics)."""
        overlong = [p.overlong for p in parts]
        return RewardOutput(total=torch.cat([p.total for p in parts]), format=torch.cat([p.format for p in parts]),
                            accuracy=torch.cat([p.accuracy for p in parts]),
                            types=[t for p in parts for t in p.types],
                            overlong=torch.cat(overlong) if all(o is not None for o in overlong) else None,
                            format_weight=parts[0].format_weight)


class MixedReward:
    """Scores completions by their sample's type: closed-form types with their registered accuracy reward
    (yes/no and multiple choice → matching, chart → chart, grounding → IoU with the ground truth in
    the model's box frame), open-ended → the configured scorer on the extracted answers, in one
    batch. Never raises on model output."""

    def __init__(self, open_ended: OpenEndedScorer, box_to_model_frame: BoxFrameFn, format_weight: float = 1.0,
                 chart_tolerance: float = 1e-2, chart_mode: str = "absolute") -> None:
        self.open_ended = open_ended
        self.format_weight = format_weight
        self.context = RewardContext(chart_tolerance=chart_tolerance, chart_mode=chart_mode,
                                     box_to_model_frame=box_to_model_frame)

    def closed_form(self, sample: Sample, text: str) -> float:
        kind = REGISTRY.get(sample.type)
        if kind is None or kind.accuracy is None:  # types are validated at load time: a registry gap, not model output
            raise ValueError(f"sample {sample.id}: no closed-form accuracy reward for type {sample.type!r}")
        return kind.accuracy(text, sample, self.context)

    def __call__(self, samples: Sequence[Sample], texts: Sequence[str]) -> RewardOutput:
        if len(samples) != len(texts):
            raise ValueError(f"{len(samples)} samples but {len(texts)} completions")
        accuracy = [0.0] * len(texts)
        open_idx, open_replies = [], []
        for i, (sample, text) in enumerate(zip(samples, texts)):
            kind = REGISTRY.get(sample.type)
            if kind is not None and kind.accuracy is None:  # open-ended
                reply = extract_answer(text)
                if reply:  # no answer: 0, like every other type
                    open_idx.append(i)
                    open_replies.append(reply)
            else:
                accuracy[i] = self.closed_form(sample, text)
        if open_idx:  # one batched call for all open-ended completions
            scores = self.open_ended(open_replies, [str(samples[i].answer) for i in open_idx])
            for i, score in zip(open_idx, scores.tolist()):
                accuracy[i] = score if math.isfinite(score) else 0.0
        fmt = torch.tensor([format_reward(t) for t in texts], dtype=torch.float32)
        acc = torch.tensor(accuracy, dtype=torch.float32)
        return RewardOutput(total=acc + self.format_weight * fmt, format=fmt, accuracy=acc,
                            types=[s.type for s in samples], format_weight=self.format_weight)


def per_type_means(values: torch.Tensor, types: Sequence[str], prefix: str) -> dict[str, float | None]:
    """``{prefix/<type>: mean}`` over the completions of each type; ``None`` for a type this batch lacks
    (every step logs the same keys)."""
    out: dict[str, float | None] = {}
    for sample_type in REGISTRY:
        mask = torch.tensor([t == sample_type for t in types], dtype=torch.bool)
        out[f"{prefix}/{sample_type}"] = float(values[mask].mean()) if mask.any() else None
    return out
