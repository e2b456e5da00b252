"""The demo's supervised warm-up targets: a random-weight model must first learn to emit the format.

Only the CPU demo (a tiny random model on synthetic data) needs this; real checkpoints skip it
(``warmup.steps: 0``). It lives with SFT because it *is* SFT, on targets written from the synthetic
scenes that ``mixed_r1.data.synthetic`` records in each sample's ``meta``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from mixed_r1.data.schema import Sample
from mixed_r1.data.synthetic import questions
from mixed_r1.errors import ConfigError


@dataclass(frozen=True)
class WarmupNoise:
    """Noise of the demo's supervised warm-up targets.

    A random-weight model warmed up on clean targets ends near-perfect and leaves GRPO no
    headroom; one stopped early is unstable. Noisy targets leave it imperfect the way a real
    pretrained model is: some thoughts describe a *random* scene (with an answer consistent
    with that scene), some responses break the format.
    """

    fake_scene_prob: float = 0.5
    broken_format_prob: float = 0.3


def warmup_target(
    sample: Sample,
    rng: random.Random,
    noise: WarmupNoise,
    box_to_text: Callable[[list[float], tuple[int, int]], str],
) -> str:
    """A ``<think>…</think><answer>…</answer>`` target for a synthetic sample, with demo noise.

    ``box_to_text`` is the model adapter's writer of a box in its own output frame.
    """
    if "scene" not in sample.meta:
        raise ConfigError(f"sample {sample.id}: the supervised warm-up writes targets for synthetic samples only "
                          "(meta.scene missing); use data=synthetic or set warmup.steps=0")
    scene, question = sample.meta["scene"], sample.meta["question"]
    asked = questions(question["type"])
    if rng.random() < noise.fake_scene_prob:
        real = scene
        scene = asked.scene(rng, real["image_size"])
        # what the question names stays real (grounding: the object); the rest of the thought is about the fake
        scene.update({fact: real[fact] for fact in asked.named})
    answer = asked.answer(question, scene)
    answer_text = box_to_text(answer, sample.image_size) if isinstance(answer, list) else answer
    think = asked.reasoning(question, scene)
    if rng.random() < noise.broken_format_prob:
        return rng.choice([
            f"{think} {answer_text}",
            f"<think>{think}<answer>{answer_text}</answer>",
            f"<think>{think}</think> {answer_text}",
            f"<answer>{answer_text}</answer>",
        ])
    return f"<think>{think}</think><answer>{answer_text}</answer>"
