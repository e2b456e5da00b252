"""Every reward is linear-time in the response: its CPU time on an input 8x longer must grow about 8x,
not the ~64x of quadratic work (tests/linear_time.py: the measure, and why it is CPU time, not the wall
clock). Large inputs are 100,000 tags or ~1 MB.
"""
from __future__ import annotations

import re
from typing import Callable

import pytest
import torch

from mixed_r1.data import Sample
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward
from mixed_r1.rewards.mixed import MixedReward
from tests.linear_time import BOUND, SCALE, growth

N_TAGS, N_CHARS = 12_500, 128 * 1024  # the large inputs are 8x these: 100,000 tags, 1 MiB


# adversarial responses: name -> (size -> text, the small size)
INPUTS: dict[str, tuple[Callable[[int], str], int]] = {
    "unclosed <answer>": (lambda n: "<answer>" * n, N_TAGS),
    "stray </answer>": (lambda n: "</answer>" * n, N_TAGS),
    "unclosed <answer> then one block": (lambda n: "<answer>" * n + "<answer>7</answer>", N_TAGS),
    "many complete blocks": (lambda n: "<think>x</think>" + "<answer>yes</answer>" * n, N_TAGS),
    "unclosed <think>": (lambda n: "<think>" * n + "<answer>B</answer>", N_TAGS),
    "long digits": (lambda n: "<answer>" + "9" * n + "</answer>", N_CHARS),
    "unclosed boxes": (lambda n: "<answer>" + "[1, " * (n // 4) + "</answer>", N_CHARS),
    "unclosed points": (lambda n: "<answer>" + "(1,2)," * (n // 6) + "</answer>", N_CHARS),
    "digits after a bracket": (lambda n: "<answer>(" + "1" * n + "</answer>", N_CHARS),
    "whitespace after a lead-in": (lambda n: "<answer>So the final" + " " * n + "answer is: 7</answer>", N_CHARS),
    "repeated lead-in words": (lambda n: "<answer>" + "the final " * (n // 10) + "</answer>", N_CHARS),
    "yes and no words": (lambda n: "<answer>" + "yes no " * (n // 7) + "</answer>", N_CHARS),
    "long valid response": (lambda n: f"<think>{'a' * (n // 2)}</think><answer>{'A dog ' * (n // 12)}</answer>",
                            N_CHARS),
    "whitespace around tags": (lambda n: " " * n + "<think>a</think><answer>b</answer>x", N_CHARS),
}


class WordOverlap:
    """A tiny open-ended scorer: the share of truth words in the response (linear time)."""

    def __call__(self, responses: list[str], truths: list[str]) -> torch.Tensor:
        scores = [len(set(r.split()) & set(t.split())) / max(len(set(t.split())), 1)
                  for r, t in zip(responses, truths)]
        return torch.tensor(scores, dtype=torch.float32)


def _sample(kind: str, answer, options=None) -> Sample:
    return Sample(id=kind, image="x.png", problem="p", answer=answer, type=kind, source="t", image_size=(56, 56),
                  options=options)


MIXED_SAMPLES = [_sample("yes_no", "yes"), _sample("yes_no", "no", ["yes", "no"]),
                 _sample("multiple_choice", "B", ["A cat", "A dog"]), _sample("chart", "7"),
                 _sample("grounding", [1.0, 2.0, 30.0, 40.0]), _sample("open_ended", "a red circle")]
MIXED = MixedReward(open_ended=WordOverlap(), box_to_model_frame=lambda box, size: box)

REWARDS: dict[str, Callable[[str], object]] = {
    "extract": extract_answer,
    "format": format_reward,
    "matching yes/no": lambda t: matching_reward(t, "yes"),
    "matching yes/no with options": lambda t: matching_reward(t, "no", ["yes", "no"]),
    "matching caption options": lambda t: matching_reward(t, "B", ["A cat", "A dog"]),
    "chart": lambda t: chart_reward(t, "7"),
    "chart relative": lambda t: chart_reward(t, "12%", mode="relative"),
    "iou": lambda t: iou_reward(t, [0.0, 0.0, 5.0, 5.0]),
    "mixed (all types)": lambda t: MIXED(MIXED_SAMPLES, [t] * len(MIXED_SAMPLES)),
}


def test_the_harness_flags_the_old_quadratic_extraction():
    """The measure can fail: the old extraction, a regex scan restarted at every unclosed tag, grows
    ~64x on an 8x input (20,000 tags took 31 s; 300 take milliseconds)."""
    old_extraction = re.compile(r"<answer>(.*?)</answer>", re.DOTALL).findall
    assert growth(old_extraction, lambda n: "<answer>" * n, 300, attempts=1) > BOUND


def test_the_harness_passes_a_linear_baseline():
    assert growth(lambda t: len(t.lower()), lambda n: "<answer>" * n, N_TAGS) < BOUND


# the mixed reward runs every reward above: on the families that reach each of its parts, to save time
MIXED_INPUTS = ("unclosed <answer>", "stray </answer>", "many complete blocks", "unclosed boxes",
                "repeated lead-in words", "long valid response")
CASES = [(reward, name) for reward in REWARDS for name in INPUTS
         if not reward.startswith("mixed") or name in MIXED_INPUTS]


@pytest.mark.parametrize("reward_name,input_name", CASES)
def test_reward_is_linear_time(reward_name, input_name):
    make, n = INPUTS[input_name]
    ratio = growth(REWARDS[reward_name], make, n)
    assert ratio < BOUND, f"{reward_name} on '{input_name}': {SCALE}x input took {ratio:.1f}x the time"
