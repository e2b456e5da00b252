"""The synthetic world: small scenes with known contents, and the questions each sample type asks about them.

Two kinds of scenes are drawn:

- a *shape scene*: one red/green/blue circle/square/triangle on a white canvas, asked about by yes/no,
  multiple-choice, grounding and open-ended (caption) questions;
- a *bar chart*: three bars (red, green, blue) with integer values, asked about by chart questions.

A sample type's :class:`Questions` is the synthetic part of its registration
(:mod:`mixed_r1.data.sample_types`): the scene it draws, the question's parameters, and from them the
problem text, the ground truth and a one-line thought consistent with the scene. The generator
(:mod:`mixed_r1.data.synthetic`), the demo's warm-up targets (:mod:`mixed_r1.sft.warmup`) and the tiny
benchmark sets read them through the registry; nothing here names a type.

This module imports nothing of the project: the type registry, one floor up, names these classes.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, Mapping

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {"red": (220, 30, 30), "green": (30, 170, 30), "blue": (30, 60, 220)}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
BAR_MAX = 5  # chart values are integers 1..BAR_MAX
BACKGROUND = (255, 255, 255)

Scene = Mapping[str, Any]  # JSON-able: recorded in each synthetic sample's meta.scene
Question = Mapping[str, Any]  # {"type": <sample type>, **the parameters Questions.ask drew}: meta.question


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


def render(scene: Scene) -> Image.Image:
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
class Questions(ABC):
    """How the synthetic generator asks one sample type.

    Every method draws from ``rng`` in a fixed order: the same seed writes the same bytes.
    """

    # Scene facts the problem text names. A warm-up thought about a *different* scene keeps them: the
    # question still names the real object, only the rest of what the thought claims is wrong.
    named: tuple[str, ...] = ()

    @abstractmethod
    def scene(self, rng: random.Random, image_size: int) -> dict[str, Any]:
        """A random scene of the kind this type asks about."""

    def ask(self, rng: random.Random, scene: Scene) -> dict[str, Any]:
        """The question's parameters that the answer depends on (not the answer itself)."""
        return {}

    @abstractmethod
    def problem(self, question: Question, scene: Scene) -> str:
        """The problem text."""

    @abstractmethod
    def answer(self, question: Question, scene: Scene) -> str | list[float]:
        """The ground truth, as the schema stores it (grounding: a box in image pixels)."""

    @abstractmethod
    def reasoning(self, question: Question, scene: Scene) -> str:
        """A short thought consistent with ``scene`` (used only by warm-up targets)."""

    def options(self, question: Question) -> list[str] | None:
        """The sample's options (letter A is the first), or None."""
        return None


class AboutTheShape(Questions):
    """A question about a shape scene, whose thought describes the shape."""

    def scene(self, rng: random.Random, image_size: int) -> dict[str, Any]:
        return random_shape_scene(rng, image_size)

    def reasoning(self, question: Question, scene: Scene) -> str:
        return f"the shape is a {scene['colour']} {scene['shape']} at the {position_words(scene['box'], scene['image_size'])}"


def _attribute(rng: random.Random) -> str:
    return "colour" if rng.random() < 0.7 else "shape"


def _values(attribute: str) -> list[str]:
    return list(COLOURS) if attribute == "colour" else list(SHAPES)


class YesNoQuestions(AboutTheShape):
    """'Is the shape red?': the asked value is the true one half of the time."""

    def ask(self, rng: random.Random, scene: Scene) -> dict[str, Any]:
        attribute = _attribute(rng)
        pool = _values(attribute)
        asked = scene[attribute] if rng.random() < 0.5 else rng.choice([v for v in pool if v != scene[attribute]])
        return {"attribute": attribute, "asked": asked}

    def problem(self, question: Question, scene: Scene) -> str:
        if question["attribute"] == "colour":
            return f"Is the shape {question['asked']}? Answer yes or no."
        return f"Is the shape a {question['asked']}? Answer yes or no."

    def answer(self, question: Question, scene: Scene) -> str:
        return "yes" if scene[question["attribute"]] == question["asked"] else "no"


class MultipleChoiceQuestions(AboutTheShape):
    """'What colour is the shape? Options: A. blue B. red C. green', answered with the letter."""

    def ask(self, rng: random.Random, scene: Scene) -> dict[str, Any]:
        attribute = _attribute(rng)
        options = _values(attribute)
        rng.shuffle(options)
        return {"attribute": attribute, "options": options}

    def problem(self, question: Question, scene: Scene) -> str:
        what = "What colour is the shape?" if question["attribute"] == "colour" else "What shape is it?"
        listed = " ".join(f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(question["options"]))
        return f"{what} Options: {listed}"

    def answer(self, question: Question, scene: Scene) -> str:
        return chr(ord("A") + question["options"].index(scene[question["attribute"]]))

    def options(self, question: Question) -> list[str] | None:
        return list(question["options"])


class ChartQuestions(Questions):
    """'What is the value of the red bar?', answered with an integer."""

    def scene(self, rng: random.Random, image_size: int) -> dict[str, Any]:
        return random_chart_scene(rng, image_size)

    def ask(self, rng: random.Random, scene: Scene) -> dict[str, Any]:
        return {"bar": rng.choice(list(COLOURS))}

    def problem(self, question: Question, scene: Scene) -> str:
        return f"What is the value of the {question['bar']} bar?"

    def answer(self, question: Question, scene: Scene) -> str:
        return str(scene["values"][question["bar"]])

    def reasoning(self, question: Question, scene: Scene) -> str:
        return f"the {question['bar']} bar reaches {scene['values'][question['bar']]}"


class GroundingQuestions(AboutTheShape):
    """'Give the bounding box of the red circle.', answered with its box in image pixels."""

    named = ("colour", "shape")

    def problem(self, question: Question, scene: Scene) -> str:
        return f"Give the bounding box of the {scene['colour']} {scene['shape']}."

    def answer(self, question: Question, scene: Scene) -> list[float]:
        return [float(v) for v in scene["box"]]


class CaptionQuestions(AboutTheShape):
    """'Describe the image in one sentence.', answered with the shape, its colour and where it is."""

    def problem(self, question: Question, scene: Scene) -> str:
        return "Describe the image in one sentence."

    def answer(self, question: Question, scene: Scene) -> str:
        return f"a {scene['colour']} {scene['shape']} at the {position_words(scene['box'], scene['image_size'])}"
