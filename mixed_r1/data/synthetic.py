"""Deterministic synthetic mixed data: small images with questions of all five paper types.

Why: tests and the demo need data whose answers are known exactly, generated in seconds
with no download. Two kinds of scenes are drawn:

- a *shape scene*: one red/green/blue circle/square/triangle on a white canvas, used by
  yes/no, multiple-choice, grounding and open-ended (caption) questions;
- a *bar chart*: three bars (red, green, blue) with integer values, used by chart questions.

Every sample records its scene and question in ``meta`` so that answers can be recomputed
(and checked in tests) and the demo's warm-up (``mixed_r1.sft.warmup``) can write targets about a *different* scene.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from PIL import Image, ImageDraw

from mixed_r1.data.schema import SAMPLE_TYPES, Sample, write_samples

COLOURS: dict[str, tuple[int, int, int]] = {"red": (220, 30, 30), "green": (30, 170, 30), "blue": (30, 60, 220)}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
BAR_MAX = 5  # chart values are integers 1..BAR_MAX
BACKGROUND = (255, 255, 255)


# --------------------------------------------------------------------------- scenes
def random_shape_scene(rng: random.Random, image_size: int) -> dict[str, Any]:
    """One shape whose side is half to 4/5 of the image (small shapes are not learnable by a tiny model)."""
    side = rng.randint(image_size // 2, (image_size * 4) // 5)
    x1 = rng.randint(0, image_size - side)
    y1 = rng.randint(0, image_size - side)
    return {
        "kind": "shape",
        "colour": rng.choice(list(COLOURS)),
        "shape": rng.choice(SHAPES),
        "box": [x1, y1, x1 + side, y1 + side],
        "image_size": image_size,
    }


def random_chart_scene(rng: random.Random, image_size: int) -> dict[str, Any]:
    return {"kind": "chart", "values": {c: rng.randint(1, BAR_MAX) for c in COLOURS}, "image_size": image_size}


def render(scene: Mapping[str, Any]) -> Image.Image:
    size = scene["image_size"]
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if scene["kind"] == "shape":
        x1, y1, x2, y2 = scene["box"]
        fill = COLOURS[scene["colour"]]
        # PIL's box is inclusive of x2/y2; draw up to x2-1 so the painted extent equals the box.
        if scene["shape"] == "circle":
            draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=fill)
        elif scene["shape"] == "square":
            draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=fill)
        else:
            draw.polygon([((x1 + x2 - 1) / 2, y1), (x1, y2 - 1), (x2 - 1, y2 - 1)], fill=fill)
    else:
        slot = size // len(COLOURS)
        unit = (size - 4) / BAR_MAX
        for i, (colour, value) in enumerate(scene["values"].items()):
            left = i * slot + slot // 6
            right = (i + 1) * slot - slot // 6
            draw.rectangle([left, size - 1 - round(value * unit), right, size - 1], fill=COLOURS[colour])
    return image


def position_words(box: list[float], image_size: int) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    vertical = "top" if cy < image_size / 2 else "bottom"
    horizontal = "left" if cx < image_size / 2 else "right"
    return f"{vertical} {horizontal}"


# --------------------------------------------------------------------------- questions
def random_question(rng: random.Random, sample_type: str, scene: Mapping[str, Any]) -> dict[str, Any]:
    """A question spec: the type plus the parameters the answer depends on (not the answer itself)."""
    if sample_type == "yes_no":
        attribute = "colour" if rng.random() < 0.7 else "shape"
        pool = list(COLOURS) if attribute == "colour" else list(SHAPES)
        asked = scene[attribute] if rng.random() < 0.5 else rng.choice([v for v in pool if v != scene[attribute]])
        return {"type": sample_type, "attribute": attribute, "asked": asked}
    if sample_type == "multiple_choice":
        attribute = "colour" if rng.random() < 0.7 else "shape"
        options = list(COLOURS) if attribute == "colour" else list(SHAPES)
        rng.shuffle(options)
        return {"type": sample_type, "attribute": attribute, "options": options}
    if sample_type == "chart":
        return {"type": sample_type, "bar": rng.choice(list(COLOURS))}
    if sample_type in ("grounding", "open_ended"):
        return {"type": sample_type}
    raise ValueError(f"unknown sample type {sample_type!r}")


def problem_text(question: Mapping[str, Any], scene: Mapping[str, Any]) -> str:
    kind = question["type"]
    if kind == "yes_no":
        if question["attribute"] == "colour":
            return f"Is the shape {question['asked']}? Answer yes or no."
        return f"Is the shape a {question['asked']}? Answer yes or no."
    if kind == "multiple_choice":
        what = "What colour is the shape?" if question["attribute"] == "colour" else "What shape is it?"
        listed = " ".join(f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(question["options"]))
        return f"{what} Options: {listed}"
    if kind == "chart":
        return f"What is the value of the {question['bar']} bar?"
    if kind == "grounding":
        return f"Give the bounding box of the {scene['colour']} {scene['shape']}."
    return "Describe the image in one sentence."


def answer_for(question: Mapping[str, Any], scene: Mapping[str, Any]) -> str | list[float]:
    """The ground truth of ``question`` about ``scene`` (grounding: a box in image pixels)."""
    kind = question["type"]
    if kind == "yes_no":
        return "yes" if scene[question["attribute"]] == question["asked"] else "no"
    if kind == "multiple_choice":
        return chr(ord("A") + question["options"].index(scene[question["attribute"]]))
    if kind == "chart":
        return str(scene["values"][question["bar"]])
    if kind == "grounding":
        return [float(v) for v in scene["box"]]
    return f"a {scene['colour']} {scene['shape']} at the {position_words(scene['box'], scene['image_size'])}"


def reasoning_for(question: Mapping[str, Any], scene: Mapping[str, Any]) -> str:
    """A short thought consistent with ``scene`` (used only by warm-up targets)."""
    if scene["kind"] == "chart":
        return f"the {question['bar']} bar reaches {scene['values'][question['bar']]}"
    return f"the shape is a {scene['colour']} {scene['shape']} at the {position_words(scene['box'], scene['image_size'])}"


# --------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class SyntheticSpec:
    num_samples: int = 2000
    image_size: int = 56
    seed: int = 0
    type_weights: Mapping[str, float] | None = None  # None: all five types equally

    def weights(self) -> dict[str, float]:
        weights = dict(self.type_weights or dict.fromkeys(SAMPLE_TYPES, 1.0))
        unknown = set(weights) - set(SAMPLE_TYPES)
        if unknown:
            raise ValueError(f"synthetic type_weights: unknown types {sorted(unknown)}; expected {SAMPLE_TYPES}")
        if sum(weights.values()) <= 0:
            raise ValueError("synthetic type_weights must have a positive sum")
        return weights


def make_sample(index: int, sample_type: str, rng: random.Random, image_size: int, image_dir: Path) -> Sample:
    scene = random_chart_scene(rng, image_size) if sample_type == "chart" else random_shape_scene(rng, image_size)
    question = random_question(rng, sample_type, scene)
    image_path = image_dir / f"{index:06d}.png"
    render(scene).save(image_path)
    return Sample(
        id=f"syn-{index:06d}",
        image=str(image_path),
        problem=problem_text(question, scene),
        answer=answer_for(question, scene),
        type=sample_type,
        source=f"synthetic/{scene['kind']}",
        image_size=(image_size, image_size),
        options=list(question["options"]) if sample_type == "multiple_choice" else None,
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
        for sample_type in SAMPLE_TYPES:
            scene = random_chart_scene(rng, image_size) if sample_type == "chart" else random_shape_scene(rng, image_size)
            question = random_question(rng, sample_type, scene)
            answer = answer_for(question, scene)
            answer_text = "[" + ", ".join(str(int(v)) for v in answer) + "]" if isinstance(answer, list) else answer
            texts.append(problem_text(question, scene))
            texts.append(f"<think>{reasoning_for(question, scene)}</think><answer>{answer_text}</answer>")
    return texts
