"""What every benchmark's ``synthetic`` writer shares (:attr:`Benchmark.synthetic`): questions with known answers
about the project's synthetic scenes, and writing them as a Hugging Face parquet shard.

Why here: each benchmark module writes its own tiny set in its own published layout, next to the loader that
reads it back; the scenes, the questions about them and the parquet writing are the same for all six, so they
live once, in this module, which imports nothing of the benchmarks (no import cycle).

The questions are :mod:`mixed_r1.data.synthetic`'s scenes (the images the tiny models train on): the colour or the
shape of one shape, and the values of a three-bar chart. A writer draws every question from the ``rng`` it is
given, in order, so the same ``rng`` state writes the same bytes.
"""
from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from mixed_r1.data.synthetic import (
    BAR_MAX,
    SyntheticSpec,
    answer_for,
    problem_text,
    random_chart_scene,
    random_question,
    random_shape_scene,
    reasoning_for,
    render,
)
from mixed_r1.rewards.matching import option_letters

IMAGE_SIZE = SyntheticSpec().image_size  # the synthetic training images' size: what the tiny models have seen
Row = dict[str, Any]
Scene = dict[str, Any]


# ----------------------------------------------------------------------------- questions about scenes
@dataclass(frozen=True)
class Asked:
    """A question about one or more scenes: its text, its options (empty: free-form), the right answer (an
    option's text, or the free-form answer as published) and a one-line solution."""

    scenes: tuple[Scene, ...]
    text: str
    options: tuple[str, ...]
    answer: str
    why: str

    @property
    def index(self) -> int:
        """The right option's position."""
        return self.options.index(self.answer)


def shape_choice(rng: random.Random) -> Asked:
    """'What colour is the shape?' or 'What shape is it?' with its three options, as the training data asks."""
    scene = random_shape_scene(rng, IMAGE_SIZE)
    question = random_question(rng, "multiple_choice", scene)
    options = tuple(question["options"])
    letter = str(answer_for(question, scene))
    stem = problem_text(question, scene).split(" Options:")[0]  # the training question without its inline options
    return Asked((scene,), stem, options, options[option_letters(len(options)).index(letter)], reasoning_for(question, scene))


def _bar(rng: random.Random) -> tuple[Scene, dict[str, Any], int]:
    scene = random_chart_scene(rng, IMAGE_SIZE)
    question = random_question(rng, "chart", scene)
    return scene, question, int(str(answer_for(question, scene)))


def bar_value(rng: random.Random) -> Asked:
    """'What is the value of the red bar?', answered with an integer."""
    scene, question, value = _bar(rng)
    return Asked((scene,), problem_text(question, scene), (), str(value), reasoning_for(question, scene))


def bar_choice(rng: random.Random, count: int) -> Asked:
    """A bar's value among ``count`` numeric options in increasing order (1..BAR_MAX)."""
    asked = bar_value(rng)
    value = int(asked.answer)
    values = sorted([value] + rng.sample([v for v in range(1, BAR_MAX + 1) if v != value], count - 1))
    return Asked(asked.scenes, asked.text, tuple(str(v) for v in values), asked.answer, asked.why)


def _values(scene: Scene) -> list[int]:
    return [int(v) for v in scene["values"].values()]


def _bars_why(scene: Scene) -> str:
    return "the bars reach " + ", ".join(f"{value} ({colour})" for colour, value in scene["values"].items())


def bar_mean(rng: random.Random, places: int) -> Asked:
    """The mean of the three bars, rounded to ``places`` decimals as Python prints it (MathVista's float answers)."""
    scene = random_chart_scene(rng, IMAGE_SIZE)
    mean = sum(_values(scene)) / len(scene["values"])
    text = "What is the average value of the three bars?"
    return Asked((scene,), text, (), str(round(mean, places)), _bars_why(scene))


def bar_sum(rng: random.Random) -> Asked:
    """The sum of the three bars, answered with an integer."""
    scene = random_chart_scene(rng, IMAGE_SIZE)
    return Asked((scene,), "What is the sum of the values of the three bars?", (), str(sum(_values(scene))), _bars_why(scene))


def bar_fraction(rng: random.Random) -> Asked:
    """One bar's share of the three bars' total, as a LaTeX fraction in lowest terms."""
    scene, question, value = _bar(rng)
    share = Fraction(value, sum(_values(scene)))
    text = f"What fraction of the total of the three bars is the {question['bar']} bar? Give the fraction in lowest terms."
    return Asked((scene,), text, (), f"\\frac{{{share.numerator}}}{{{share.denominator}}}", _bars_why(scene))


def bar_pair(rng: random.Random) -> Asked:
    """The first and the last bar's values as a Python list (MathVista's list answers)."""
    scene = random_chart_scene(rng, IMAGE_SIZE)
    first, *_, last = list(scene["values"])
    text = f"What are the values of the {first} bar and the {last} bar? List them from left to right."
    return Asked((scene,), text, (), f"[{scene['values'][first]}, {scene['values'][last]}]", _bars_why(scene))


def which_image(rng: random.Random) -> Asked:
    """Two shape scenes of different colour or shape; which image shows the one asked about (MMMU options
    '<image 1>', '<image 2>')."""
    first = random_shape_scene(rng, IMAGE_SIZE)
    second = random_shape_scene(rng, IMAGE_SIZE)
    while (second["colour"], second["shape"]) == (first["colour"], first["shape"]):
        second = random_shape_scene(rng, IMAGE_SIZE)
    right = rng.randrange(2)
    shown = (first, second)[right]
    options = ("<image 1>", "<image 2>")
    text = f"<image 1> <image 2> Which image shows a {shown['colour']} {shown['shape']}?"
    why = f"image {right + 1} shows a {shown['colour']} {shown['shape']}"
    return Asked((first, second), text, options, options[right], why)


# ----------------------------------------------------------------------------- images and shards
def png(scene: Scene) -> bytes:
    """The scene rendered as PNG bytes."""
    buffer = io.BytesIO()
    render(scene).save(buffer, format="PNG")
    return buffer.getvalue()


def hf_image(scene: Scene, name: str) -> dict[str, Any]:
    """An image as ``datasets`` embeds it in parquet: the encoded bytes and a file name."""
    return {"bytes": png(scene), "path": name}


STRING, INT64, FLOAT64, STRINGS, IMAGE = "string", "int64", "float64", "list<string>", "image"
Kind = str | Sequence[tuple[str, "Kind"]]  # a column's type: one of the names above, or a struct's Columns
Columns = Sequence[tuple[str, Kind]]  # (name, type), in the published order


def _arrow_type(kind: Kind) -> Any:
    import pyarrow as pa

    if not isinstance(kind, str):
        return pa.struct([pa.field(name, _arrow_type(sub)) for name, sub in kind])
    return {STRING: pa.string(), INT64: pa.int64(), FLOAT64: pa.float64(), STRINGS: pa.list_(pa.string()),
            IMAGE: pa.struct([("bytes", pa.binary()), ("path", pa.string())])}[kind]


def _hf_feature(kind: Kind) -> dict[str, Any]:
    """The ``datasets`` feature of a column, as its parquet files carry it in the schema's ``huggingface`` key."""
    if not isinstance(kind, str):
        return {name: _hf_feature(sub) for name, sub in kind}
    if kind == IMAGE:
        return {"_type": "Image"}
    if kind == STRINGS:
        return {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"}
    return {"dtype": kind, "_type": "Value"}


@dataclass(frozen=True)
class Shard:
    """One published file: where below the benchmark's folder, its columns, its rows."""

    path: str
    columns: Columns
    rows: list[Row]


def write_shard(folder: Path, shard: Shard) -> Path:
    """``shard`` as a parquet file below ``folder``, with the ``datasets`` features in its schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = {"info": {"features": {name: _hf_feature(kind) for name, kind in shard.columns}}}
    schema = pa.schema([pa.field(name, _arrow_type(kind)) for name, kind in shard.columns],
                       metadata={"huggingface": json.dumps(features)})
    path = folder / shard.path
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(shard.rows, schema=schema), path)
    return path
