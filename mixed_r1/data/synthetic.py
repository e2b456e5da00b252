"""Deterministic synthetic mixed data: small images with questions of every registered sample type.

Why: tests and the demo need data whose answers are known exactly, generated in seconds
with no download. The scenes and what each type asks about them live in :mod:`mixed_r1.data.scenes`
(a type's ``synthetic`` part in :mod:`mixed_r1.data.sample_types`); this module draws them, renders
the images and writes the samples.

Every sample records its scene and question in ``meta`` so that answers can be recomputed
(and checked in tests) and the demo's warm-up (``mixed_r1.sft.warmup``) can write targets about a *different* scene.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mixed_r1.data.sample_types import REGISTRY, registered
from mixed_r1.data.scenes import (
    BAR_MAX,
    COLOURS,
    SHAPES,
    Question,
    Questions,
    Scene,
    random_chart_scene,
    random_shape_scene,
    render,
)
from mixed_r1.data.schema import Sample, write_samples

__all__ = [  # with the scenes' names that the tiny benchmark sets and the tests import from here
    "BAR_MAX", "COLOURS", "SHAPES", "SyntheticSpec", "answer_for", "corpus", "generate", "make_sample", "problem_text",
    "questions", "random_chart_scene", "random_question", "random_shape_scene", "reasoning_for", "render",
]


# --------------------------------------------------------------------------- questions of any type
def questions(sample_type: str) -> Questions:
    """How the synthetic generator asks the registered type ``sample_type``."""
    return registered(sample_type).synthetic


def random_question(rng: random.Random, sample_type: str, scene: Scene) -> dict[str, Any]:
    """A question spec: the type plus the parameters the answer depends on (not the answer itself)."""
    return {"type": sample_type, **questions(sample_type).ask(rng, scene)}


def problem_text(question: Question, scene: Scene) -> str:
    return questions(question["type"]).problem(question, scene)


def answer_for(question: Question, scene: Scene) -> str | list[float]:
    """The ground truth of ``question`` about ``scene`` (grounding: a box in image pixels)."""
    return questions(question["type"]).answer(question, scene)


def reasoning_for(question: Question, scene: Scene) -> str:
    """A short thought consistent with ``scene`` (used only by warm-up targets)."""
    return questions(question["type"]).reasoning(question, scene)


# --------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class SyntheticSpec:
    num_samples: int = 2000
    image_size: int = 56
    seed: int = 0
    type_weights: Mapping[str, float] | None = None  # None: every registered type equally

    def weights(self) -> dict[str, float]:
        weights = dict(self.type_weights or dict.fromkeys(REGISTRY, 1.0))
        unknown = set(weights) - set(REGISTRY)
        if unknown:
            raise ValueError(f"synthetic type_weights: unknown types {sorted(unknown)}; expected {tuple(REGISTRY)}")
        if sum(weights.values()) <= 0:
            raise ValueError("synthetic type_weights must have a positive sum")
        return weights


def make_sample(index: int, sample_type: str, rng: random.Random, image_size: int, image_dir: Path) -> Sample:
    asked = questions(sample_type)
    scene = asked.scene(rng, image_size)
    question = random_question(rng, sample_type, scene)
    image_path = image_dir / f"{index:06d}.png"
    render(scene).save(image_path)
    return Sample(
        id=f"syn-{index:06d}",
        image=str(image_path),
        problem=asked.problem(question, scene),
        answer=asked.answer(question, scene),
        type=sample_type,
        source=f"synthetic/{scene['kind']}",
        image_size=(image_size, image_size),
        options=asked.options(question),
        meta={"scene": scene, "question": question},
    )


def generate(out_dir: str | Path, spec: SyntheticSpec) -> Path:
    """Write ``spec.num_samples`` samples (PNG images + ``train.jsonl``) into ``out_dir``; returns the JSONL path.

    The same spec always writes the same bytes. Types are assigned round-robin in proportion to
    the weights (every type with a positive weight is present once ``num_samples`` is large enough),
    then shuffled.
    """
    out_dir = Path(out_dir)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed)
    weights = spec.weights()
    total = sum(weights.values())
    types: list[str] = []
    for sample_type, weight in weights.items():
        types += [sample_type] * max(1 if weight > 0 else 0, round(spec.num_samples * weight / total))
    while len(types) < spec.num_samples:  # rounding fell short: top up by weight
        types += rng.choices(list(weights), weights=list(weights.values()))
    types = types[: spec.num_samples]
    rng.shuffle(types)
    samples = [make_sample(i, t, rng, spec.image_size, image_dir) for i, t in enumerate(types)]
    return write_samples(samples, out_dir / "train.jsonl")


def corpus(image_size: int = 56, num_samples: int = 300, seed: int = 0) -> list[str]:
    """Texts covering the synthetic vocabulary (problems, thoughts, answers, numbers, tags).

    Used to train the tiny models' tokenizer so that demo sequences stay short.
    """
    rng = random.Random(seed)
    texts = [" ".join(str(i) for i in range(image_size + 1)), "<think> </think> <answer> </answer> yes no A B C"]
    for _ in range(num_samples):
        for sample_type in REGISTRY:
            asked = questions(sample_type)
            scene = asked.scene(rng, image_size)
            question = random_question(rng, sample_type, scene)
            answer = asked.answer(question, scene)
            answer_text = "[" + ", ".join(str(int(v)) for v in answer) + "]" if isinstance(answer, list) else answer
            texts.append(asked.problem(question, scene))
            texts.append(f"<think>{asked.reasoning(question, scene)}</think><answer>{answer_text}</answer>")
    return texts
