"""Mixed-Reward: each sample's type picks its accuracy reward; total = accuracy + w · format."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from mixed_r1.data.schema import SAMPLE_TYPES, Sample
from mixed_r1.rewards.bmas import bmas
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward

# texts -> one [n_tokens, d] embedding per text (the policy's input-embedding table)
EmbedFn = Callable[[list[str]], list[torch.Tensor]]
# (box in original pixels, (width, height)) -> box in the frame the model emits
BoxFrameFn = Callable[[list[float], tuple[int, int]], list[float]]


@dataclass
class RewardOutput:
    total: torch.Tensor  # [N]
    format: torch.Tensor  # [N]
    accuracy: torch.Tensor  # [N]
    types: list[str]  # [N] sample type of each completion


class MixedReward:
    """Scores completions by their sample's type (section 3.2).

    yes_no / multiple_choice → matching; chart → chart; grounding → IoU; open_ended → BMAS on
    the policy's input embeddings of the extracted answer and the ground truth.
    """

    def __init__(
        self,
        embed: EmbedFn,
        box_to_model_frame: BoxFrameFn,
        format_weight: float = 1.0,
        chart_tolerance: float = 1e-2,
        chart_mode: str = "absolute",
    ) -> None:
        self.embed = embed
        self.box_to_model_frame = box_to_model_frame
        self.format_weight = format_weight
        self.chart_tolerance = chart_tolerance
        self.chart_mode = chart_mode

    def accuracy(self, sample: Sample, text: str) -> float:
        if sample.type in ("yes_no", "multiple_choice"):
            return matching_reward(text, str(sample.answer), sample.options)
        if sample.type == "chart":
            return chart_reward(text, str(sample.answer), self.chart_tolerance, self.chart_mode)
        if sample.type == "grounding":
            return iou_reward(text, self.box_to_model_frame(list(sample.answer), sample.image_size))
        raise ValueError(f"sample {sample.id}: no accuracy reward for type {sample.type!r}")

    def __call__(self, samples: Sequence[Sample], texts: Sequence[str]) -> RewardOutput:
        if len(samples) != len(texts):
            raise ValueError(f"{len(samples)} samples but {len(texts)} completions")
        accuracy = [0.0] * len(texts)
        open_idx: list[int] = []
        for i, (sample, text) in enumerate(zip(samples, texts)):
            if sample.type == "open_ended":
                open_idx.append(i)
            else:
                accuracy[i] = self.accuracy(sample, text)
        if open_idx:  # one embedding call for all open-ended completions of the batch
            replies = [extract_answer(texts[i]) for i in open_idx]
            scored = [i for i, reply in zip(open_idx, replies) if reply]
            if scored:
                reply_emb = self.embed([extract_answer(texts[i]) or "" for i in scored])
                truth_emb = self.embed([str(samples[i].answer) for i in scored])
                for i, r, t in zip(scored, reply_emb, truth_emb):
                    accuracy[i] = bmas(r, t)
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
