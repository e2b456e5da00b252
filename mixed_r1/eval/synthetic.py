"""Tiny benchmark sets in each benchmark's published layout, asking about synthetic images with known answers.

Why: ``eval.py``, its tests and the demo must run end to end on a CPU with the tiny model and no download. Each
writer lays out the split Table 1 reports as ``hf download <hf_id> --repo-type dataset --local-dir
<root>/<folder>`` does (same shard names and folders, the published field names and Arrow types, images embedded
as Hugging Face image structs ``{"bytes": PNG, "path": name}``, the ``huggingface`` features in the schema
metadata), so the benchmark modules read them with the same loader and scorer as the real downloads:

- ``mathvista``: ``MathVista/data/testmini-00000-of-00001-725687bf7a18d64b.parquet`` (AI4Math/MathVista);
- ``mathvision``: ``MathVision/data/test-00000-of-00001-3532b8d3f1b4047a.parquet`` (MathLLMs/MathVision; the
  testmini shard is not written, so the loader takes ``test`` as for the full download);
- ``mmbench``: ``mmbench/en/dev-00000-of-00001.parquet`` (lmms-lab/MMBench, config ``en``);
- ``mmmu``: ``MMMU/data/validation-00000-of-00001.parquet`` (lmms-lab/MMMU);
- ``mmstar``: ``mmstar/mmstar.parquet`` (Lin-Chen/MMStar);
- ``ai2d``: ``ai2d/data/test-00000-of-00002.parquet`` and ``test-00001-of-00002.parquet`` (lmms-lab/ai2d; the
  rows split in two halves, the second empty for a single item).

The questions are the project's synthetic scenes (:mod:`mixed_r1.data.synthetic`, the images the tiny models
train on): the colour or the shape of one shape, and the values of a three-bar chart. Each benchmark gets its own
kinds, in turn: MathVista multiple choice (the answer the choice's text) and free-form integer, float (with
``precision``) and list answers; MathVision five numeric options (a letter answer) and free-form sums and
fractions (``\\frac{a}{b}``); MMBench lettered ``A``..``D`` columns (``D`` None for three options); MMMU an open
question, a multiple-choice one with the options as a Python-literal string, and one with two images whose
options are ``<image 1>``/``<image 2>``; MMStar inline ``Options: A: x, B: y`` and MathVista-style ``Choices:``
lists; AI2D an options list and the answer's index as a string.

``num_items`` is the number of questions, i.e. of items the loader returns, except for MMBench, where it is the
number of circular groups: each question is written once per option, copy ``k`` with its options rotated by
``k`` and index ``base + k * 1_000_000`` (VLMEvalKit's circular layout), so the loader returns three or four
items per question and the aggregate's ``groups`` is ``num_items``. Everything is a function of ``(name, seed)``:
the same arguments write the same bytes.

    python -m mixed_r1.eval.synthetic data/bench --items 8 --seed 0
    python eval.py model=tiny_qwen model.path=<checkpoint> eval.data_root=data/bench
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

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
from mixed_r1.errors import ConfigError, UserError
from mixed_r1.eval.benchmarks import NAMES, benchmark
from mixed_r1.eval.benchmarks.mathvista import official_query
from mixed_r1.eval.benchmarks.mmbench import GROUP_STRIDE
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
    buffer = io.BytesIO()
    render(scene).save(buffer, format="PNG")
    return buffer.getvalue()


def hf_image(scene: Scene, name: str) -> dict[str, Any]:
    """An image as ``datasets`` embeds it in parquet: the encoded bytes and a file name."""
    return {"bytes": png(scene), "path": name}


STRING, INT64, FLOAT64, STRINGS, IMAGE = "string", "int64", "float64", "list<string>", "image"
Columns = Sequence[tuple[str, Any]]  # (name, type); a struct's type is its own Columns


def _arrow_type(kind: Any) -> Any:
    import pyarrow as pa

    if not isinstance(kind, str):
        return pa.struct([pa.field(name, _arrow_type(sub)) for name, sub in kind])
    return {STRING: pa.string(), INT64: pa.int64(), FLOAT64: pa.float64(), STRINGS: pa.list_(pa.string()),
            IMAGE: pa.struct([("bytes", pa.binary()), ("path", pa.string())])}[kind]


def _hf_feature(kind: Any) -> dict[str, Any]:
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = {"info": {"features": {name: _hf_feature(kind) for name, kind in shard.columns}}}
    schema = pa.schema([pa.field(name, _arrow_type(kind)) for name, kind in shard.columns],
                       metadata={"huggingface": json.dumps(features)})
    path = folder / shard.path
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(shard.rows, schema=schema), path)
    return path


# ----------------------------------------------------------------------------- MathVista testmini
MATHVISTA_COLUMNS: Columns = (
    ("pid", STRING), ("question", STRING), ("image", STRING), ("decoded_image", IMAGE), ("choices", STRINGS),
    ("unit", STRING), ("precision", FLOAT64), ("answer", STRING), ("question_type", STRING), ("answer_type", STRING),
    ("metadata", (("category", STRING), ("context", STRING), ("grade", STRING), ("img_height", INT64),
                  ("img_width", INT64), ("language", STRING), ("skills", STRINGS), ("source", STRING),
                  ("split", STRING), ("task", STRING))),
    ("query", STRING),
)
MATHVISTA_PLACES = 1  # the float answers' precision


def _mathvista_question(rng: random.Random, kind: int) -> tuple[Asked, dict[str, Any]]:
    """The question of kind ``kind`` (0 choice, 1 integer, 2 float, 3 list) and its type fields."""
    if kind == 0:
        return shape_choice(rng), {"question_type": "multi_choice", "answer_type": "text", "precision": None,
                                   "context": "synthetic scene", "category": "general-vqa", "skills": ["logical reasoning"],
                                   "task": "visual question answering"}
    chart = {"question_type": "free_form", "precision": None, "context": "bar chart", "category": "math-targeted-vqa",
             "skills": ["statistical reasoning"], "task": "figure question answering"}
    if kind == 1:
        return bar_value(rng), {**chart, "answer_type": "integer"}
    if kind == 2:
        return bar_mean(rng, MATHVISTA_PLACES), {**chart, "answer_type": "float", "precision": float(MATHVISTA_PLACES),
                                                 "skills": ["arithmetic reasoning", "statistical reasoning"]}
    return bar_pair(rng), {**chart, "answer_type": "list"}


def _mathvista_row(index: int, rng: random.Random) -> Row:
    asked, kind = _mathvista_question(rng, index % 4)
    pid = str(index + 1)
    metadata = {"category": kind["category"], "context": kind["context"], "grade": "elementary school",
                "img_height": IMAGE_SIZE, "img_width": IMAGE_SIZE, "language": "english", "skills": kind["skills"],
                "source": "synthetic", "split": "testmini", "task": kind["task"]}
    record = {"pid": pid, "question": asked.text, "image": f"images/{pid}.png", "choices": list(asked.options) or None,
              "unit": None, "precision": kind["precision"], "answer": asked.answer, "question_type": kind["question_type"],
              "answer_type": kind["answer_type"], "metadata": metadata}
    return {**record, "decoded_image": hf_image(asked.scenes[0], f"{pid}.png"), "query": official_query(record)}


def mathvista_shards(rng: random.Random, count: int) -> list[Shard]:
    rows = [_mathvista_row(i, rng) for i in range(count)]
    return [Shard("data/testmini-00000-of-00001-725687bf7a18d64b.parquet", MATHVISTA_COLUMNS, rows)]


# ----------------------------------------------------------------------------- MathVision test
MATHVISION_COLUMNS: Columns = (
    ("id", STRING), ("question", STRING), ("options", STRINGS), ("image", STRING), ("decoded_image", IMAGE),
    ("answer", STRING), ("solution", STRING), ("level", INT64), ("subject", STRING),
)
MATHVISION_OPTIONS = 5  # MathVision's multiple-choice questions have five options, A-E


def _mathvision_row(index: int, rng: random.Random) -> Row:
    kind = index % 3
    asked = bar_choice(rng, MATHVISION_OPTIONS) if kind == 0 else bar_sum(rng) if kind == 1 else bar_fraction(rng)
    qid = str(index + 1)
    answer = option_letters(len(asked.options))[asked.index] if asked.options else asked.answer
    return {"id": qid, "question": f"{asked.text}\n<image1>", "options": list(asked.options), "image": f"images/{qid}.png",
            "decoded_image": hf_image(asked.scenes[0], f"{qid}.png"), "answer": answer, "solution": asked.why.capitalize() + ".",
            "level": kind + 1, "subject": "statistics" if kind == 0 else "arithmetic"}


def mathvision_shards(rng: random.Random, count: int) -> list[Shard]:
    rows = [_mathvision_row(i, rng) for i in range(count)]
    return [Shard("data/test-00000-of-00001-3532b8d3f1b4047a.parquet", MATHVISION_COLUMNS, rows)]


# ----------------------------------------------------------------------------- MMBench en dev (circular)
MMBENCH_COLUMNS: Columns = (
    ("index", INT64), ("question", STRING), ("hint", STRING), ("answer", STRING), ("A", STRING), ("B", STRING),
    ("C", STRING), ("D", STRING), ("category", STRING), ("image", IMAGE), ("source", STRING), ("L2-category", STRING),
    ("comment", STRING), ("split", STRING),
)
MMBENCH_HINT = "The picture shows a single shape or a bar chart on a white background."


def _mmbench_copies(index: int, rng: random.Random) -> list[Row]:
    """Question ``index`` once per option: copy ``k`` has its options rotated by ``k`` and index ``index + k * 1e6``."""
    asked = shape_choice(rng) if index % 2 == 0 else bar_choice(rng, 4)
    image = hf_image(asked.scenes[0], f"{index}.png")
    hint = MMBENCH_HINT if index % 3 == 1 else None
    category = "attribute_recognition" if index % 2 == 0 else "image_scene"
    l2 = "finegrained_perception (instance-level)" if index % 2 == 0 else "coarse_perception"
    copies = []
    for k in range(len(asked.options)):
        options = asked.options[k:] + asked.options[:k]
        letters = option_letters(len(options))
        columns = {letter: (options[i] if i < len(options) else None) for i, letter in enumerate("ABCD")}
        copies.append({"index": index + k * GROUP_STRIDE, "question": asked.text, "hint": hint,
                       "answer": letters[options.index(asked.answer)], **columns, "category": category, "image": image,
                       "source": "synthetic", "L2-category": l2, "comment": None, "split": "dev"})
    return copies


def mmbench_shards(rng: random.Random, count: int) -> list[Shard]:
    groups = [_mmbench_copies(i, rng) for i in range(count)]
    rounds = max(len(g) for g in groups)
    rows = [g[k] for k in range(rounds) for g in groups if k < len(g)]  # originals first, then each rotation
    return [Shard("en/dev-00000-of-00001.parquet", MMBENCH_COLUMNS, rows)]


# ----------------------------------------------------------------------------- MMMU validation
MMMU_COLUMNS: Columns = (
    ("id", STRING), ("question", STRING), ("options", STRING), ("explanation", STRING),
    *((f"image_{i}", IMAGE) for i in range(1, 8)),
    ("img_type", STRING), ("answer", STRING), ("topic_difficulty", STRING), ("question_type", STRING), ("subfield", STRING),
)


def _mmmu_row(index: int, rng: random.Random, counts: dict[str, int]) -> Row:
    """Kinds in turn: two images (multiple choice), a bar's value (open), a colour or shape (multiple choice)."""
    kind = index % 3
    asked = which_image(rng) if kind == 0 else bar_value(rng) if kind == 1 else shape_choice(rng)
    subject, subfield, img_type = (("Art", "Drawing and Painting", "['Paintings']") if kind == 0 else
                                   ("Math", "Statistics", "['Plots and Charts']") if kind == 1 else
                                   ("Design", "Color Theory", "['Diagrams']"))
    counts[subject] = counts.get(subject, 0) + 1
    qid = f"validation_{subject}_{counts[subject]}"
    images = {f"image_{i + 1}": hf_image(scene, f"{qid}_{i + 1}.png") for i, scene in enumerate(asked.scenes)}
    choice = bool(asked.options)
    question = asked.text if kind == 0 else f"<image 1> {asked.text}"
    return {"id": qid, "question": question, "options": repr(list(asked.options)), "explanation": "",
            **{f"image_{i}": images.get(f"image_{i}") for i in range(1, 8)}, "img_type": img_type,
            "answer": option_letters(len(asked.options))[asked.index] if choice else asked.answer,
            "topic_difficulty": "Easy", "question_type": "multiple-choice" if choice else "open", "subfield": subfield}


def mmmu_shards(rng: random.Random, count: int) -> list[Shard]:
    counts: dict[str, int] = {}
    rows = [_mmmu_row(i, rng, counts) for i in range(count)]
    return [Shard("data/validation-00000-of-00001.parquet", MMMU_COLUMNS, rows)]


# ----------------------------------------------------------------------------- MMStar val
MMSTAR_COLUMNS: Columns = (
    ("index", INT64), ("question", STRING), ("image", IMAGE), ("answer", STRING), ("category", STRING),
    ("l2_category", STRING), ("meta_info", (("source", STRING), ("split", STRING), ("image_path", STRING))),
)
MMSTAR_MC_HINT = "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."


def _mmstar_row(index: int, rng: random.Random) -> Row:
    """Kinds in turn: MMStar's inline 'Options: A: x, B: y' and the MathVista-style 'Choices:' list."""
    inline = index % 2 == 0
    asked = shape_choice(rng) if inline else bar_choice(rng, 4)
    letters = option_letters(len(asked.options))
    if inline:
        question = f"{asked.text}\nOptions: " + ", ".join(f"{k}: {o}" for k, o in zip(letters, asked.options))
    else:
        listed = "\n".join(f"({k}) {o}" for k, o in zip(letters, asked.options))
        question = f"{MMSTAR_MC_HINT}\nQuestion: {asked.text}\nChoices:\n{listed}"
    category, l2 = ("instance reasoning", "single-instance reasoning") if inline else ("math", "statistical analysis")
    return {"index": index, "question": question, "image": hf_image(asked.scenes[0], f"{index}.png"),
            "answer": letters[asked.index], "category": category, "l2_category": l2,
            "meta_info": {"source": "synthetic", "split": "val", "image_path": f"images/{index}.png"}}


def mmstar_shards(rng: random.Random, count: int) -> list[Shard]:
    return [Shard("mmstar.parquet", MMSTAR_COLUMNS, [_mmstar_row(i, rng) for i in range(count)])]


# ----------------------------------------------------------------------------- AI2D test
AI2D_COLUMNS: Columns = (("question", STRING), ("options", STRINGS), ("answer", STRING), ("image", IMAGE))


def _ai2d_row(index: int, rng: random.Random) -> Row:
    asked = shape_choice(rng) if index % 2 == 0 else bar_choice(rng, 4)
    return {"question": asked.text, "options": list(asked.options), "answer": str(asked.index),
            "image": hf_image(asked.scenes[0], f"{index}.png")}


def ai2d_shards(rng: random.Random, count: int) -> list[Shard]:
    rows = [_ai2d_row(i, rng) for i in range(count)]
    half = (count + 1) // 2
    return [Shard("data/test-00000-of-00002.parquet", AI2D_COLUMNS, rows[:half]),
            Shard("data/test-00001-of-00002.parquet", AI2D_COLUMNS, rows[half:])]


# ----------------------------------------------------------------------------- public API
WRITERS: dict[str, Callable[[random.Random, int], list[Shard]]] = {
    "mathvista": mathvista_shards, "mathvision": mathvision_shards, "mmbench": mmbench_shards,
    "mmmu": mmmu_shards, "mmstar": mmstar_shards, "ai2d": ai2d_shards,
}


def write_benchmark(name: str, root: Path, num_items: int = 8, seed: int = 0) -> Path:
    """Write ``num_items`` synthetic questions of benchmark ``name`` under ``root / benchmark(name).folder`` in its
    published layout; returns that folder. MMBench: ``num_items`` circular groups (3-4 rows each)."""
    bench = benchmark(name)  # an unknown name raises ConfigError
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 1:
        raise ConfigError(f"num_items={num_items!r}: must be an integer >= 1")
    folder = Path(root) / bench.folder
    rng = random.Random(f"{name}:{seed}")  # a string seed is hashed deterministically (not PYTHONHASHSEED)
    for shard in WRITERS[name](rng, num_items):
        write_shard(folder, shard)
    return folder


def write_benchmarks(root: Path, names: Sequence[str] = NAMES, num_items: int = 8, seed: int = 0) -> dict[str, Path]:
    """Every benchmark of ``names`` under ``root`` (an ``eval.data_root``); name -> its folder."""
    return {name: write_benchmark(name, root, num_items, seed) for name in names}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixed_r1.eval.synthetic",
                                     description="Write tiny synthetic benchmark sets in their published layouts.")
    parser.add_argument("root", type=Path, help="the data root to write (eval.data_root)")
    parser.add_argument("--items", type=int, default=8, help="questions per benchmark (MMBench: circular groups)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmarks", default=",".join(NAMES), help=f"comma-separated, of {','.join(NAMES)}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()]
    try:
        if not names:
            raise ConfigError("--benchmarks names no benchmark")
        folders = write_benchmarks(args.root, names, args.items, args.seed)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, folder in folders.items():
        print(f"{name}: {len(benchmark(name).load(folder))} items in {folder}")
    print(f"score a checkpoint on them: python eval.py ... eval.data_root={args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
