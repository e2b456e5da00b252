"""Mixed-Reward (section 3.2): each sample's type picks its accuracy reward; total = accuracy + w · format.

The registry :data:`ACCURACY_BY_TYPE` names the reward of each closed-form type; open-ended
samples go, as one batch, to the configured open-ended scorer (BMAS by default).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from mixed_r1.data.schema import SAMPLE_TYPES, Sample
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward
from mixed_r1.rewards.open_ended import OpenEndedScorer

# (box in original pixels, (width, height)) -> box in the frame the model emits
BoxFrameFn = Callable[[list[float], tuple[int, int]], list[float]]

ACCURACY_BY_TYPE: dict[str, str] = {
    "yes_no": "matching", "multiple_choice": "matching", "chart": "chart", "grounding": "iou",
    "open_ended": "open_ended",
}


@dataclass
class RewardOutput:
    total: torch.Tensor  # [N] accuracy + format_weight * format
    format: torch.Tensor  # [N] R_format ∈ {0, 1}
    accuracy: torch.Tensor  # [N] the type's accuracy reward
    types: list[str]  # [N] sample type of each completion

    @staticmethod
    def concat(parts: Sequence["RewardOutput"]) -> "RewardOutput":
        """The rewards of several ranks' rollouts as one batch (for global metrics)."""
        return RewardOutput(total=torch.cat([p.total for p in parts]), format=torch.cat([p.format for p in parts]),
                            accuracy=torch.cat([p.accuracy for p in parts]),
                            types=[t for p in parts for t in p.types])


class MixedReward:
    """Scores completions by their sample's type: yes/no and multiple choice → matching, chart →
    chart, grounding → IoU (ground truth converted to the model's box frame first), open-ended → the
    configured scorer on the extracted answers. Never raises on model output."""

    def __init__(self, open_ended: OpenEndedScorer, box_to_model_frame: BoxFrameFn, format_weight: float = 1.0,
                 chart_tolerance: float = 1e-2, chart_mode: str = "absolute") -> None:
        self.open_ended = open_ended
        self.box_to_model_frame = box_to_model_frame
        self.format_weight = format_weight
        self.chart_tolerance = chart_tolerance
        self.chart_mode = chart_mode

    def closed_form(self, sample: Sample, text: str) -> float:
        kind = ACCURACY_BY_TYPE.get(sample.type)
        if kind == "matching":
            return matching_reward(text, str(sample.answer), sample.options)
        if kind == "chart":
            return chart_reward(text, str(sample.answer), self.chart_tolerance, self.chart_mode)
        if kind == "iou":
            return iou_reward(text, self.box_to_model_frame(list(sample.answer), sample.image_size))
        raise ValueError(f"sample {sample.id}: no closed-form accuracy reward for type {sample.type!r}")

    def __call__(self, samples: Sequence[Sample], texts: Sequence[str]) -> RewardOutput:
        if len(samples) != len(texts):
            raise ValueError(f"{len(samples)} samples but {len(texts)} completions")
        accuracy = [0.0] * len(texts)
        open_idx, open_replies = [], []
        for i, (sample, text) in enumerate(zip(samples, texts)):
            if sample.type == "open_ended":
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
                            types=[s.type for s in samples])


def per_type_means(values: torch.Tensor, types: Sequence[str], prefix: str) -> dict[str, float]:
    """``{prefix/<type>: mean}`` over the completions of each type present."""
    out: dict[str, float] = {}
    for sample_type in SAMPLE_TYPES:
        mask = torch.tensor([t == sample_type for t in types])
        if mask.any():
            out[f"{prefix}/{sample_type}"] = float(values[mask].mean())
    return out
