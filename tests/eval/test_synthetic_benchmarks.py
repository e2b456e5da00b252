"""The synthetic benchmark sets (mixed_r1.eval.synthetic): each written by its benchmark's own ``synthetic``
writer in the published layout and read back by that benchmark's own loader, every record answered right (1.0)
and wrong (0.0) through the public seam ``mixed_r1.eval.score``, the answers checked against the pixels,
determinism, and the CLI."""
from __future__ import annotations

import io
import random
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from PIL import Image

from mixed_r1.data.synthetic import BAR_MAX, COLOURS
from mixed_r1.errors import ConfigError
from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import NAMES, EvalItem, benchmark
from mixed_r1.eval.benchmarks.mmbench import GROUP_STRIDE
from mixed_r1.eval.benchmarks.mmstar import options as mmstar_options
from mixed_r1.eval.benchmarks.parsing import literal_list
from mixed_r1.eval.benchmarks.tiny_sets import Shard, write_shard
from mixed_r1.eval.synthetic import IMAGE_SIZE, main, write_benchmark, write_benchmarks

ITEMS = 8
SHARDS = {  # as `hf download <hf_id> --repo-type dataset` lays each split out
    "mathvista": ["MathVista/data/testmini-00000-of-00001-725687bf7a18d64b.parquet"],
    "mathvision": ["MathVision/data/test-00000-of-00001-3532b8d3f1b4047a.parquet"],
    "mmbench": ["mmbench/en/dev-00000-of-00001.parquet"],
    "mmmu": ["MMMU/data/validation-00000-of-00001.parquet"],
    "mmstar": ["mmstar/mmstar.parquet"],
    "ai2d": ["ai2d/data/test-00000-of-00002.parquet", "ai2d/data/test-00001-of-00002.parquet"],
}
FIELDS = {  # the published columns, in order
    "mathvista": ["pid", "question", "image", "decoded_image", "choices", "unit", "precision", "answer", "question_type",
                  "answer_type", "metadata", "query"],
    "mathvision": ["id", "question", "options", "image", "decoded_image", "answer", "solution", "level", "subject"],
    "mmbench": ["index", "question", "hint", "answer", "A", "B", "C", "D", "category", "image", "source", "L2-category",
                "comment", "split"],
    "mmmu": ["id", "question", "options", "explanation", *(f"image_{i}" for i in range(1, 8)), "img_type", "answer",
             "topic_difficulty", "question_type", "subfield"],
    "mmstar": ["index", "question", "image", "answer", "category", "l2_category", "meta_info"],
    "ai2d": ["question", "options", "answer", "image"],
}

IMAGES = {name: ["image"] for name in NAMES} | {"mathvista": ["decoded_image"], "mathvision": ["decoded_image"],
                                                "mmmu": [f"image_{i}" for i in range(1, 8)]}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    folders = write_benchmarks(root, num_items=ITEMS, seed=0)
    assert folders == {name: root / benchmark(name).folder for name in NAMES}
    return root


@pytest.fixture(scope="module")
def loaded(root: Path) -> dict[str, list[EvalItem]]:
    return {name: benchmark(name).load(root / benchmark(name).folder) for name in NAMES}


def decode(image: Any) -> Image.Image:
    assert isinstance(image, dict) and set(image) == {"bytes", "path"} and image["path"]
    picture = Image.open(io.BytesIO(image["bytes"]))
    assert picture.format == "PNG"
    return picture.convert("RGB")


# ----------------------------------------------------------------------------- layout and loading
@pytest.mark.parametrize("name", NAMES)
def test_written_in_the_published_layout(root: Path, name: str) -> None:
    folder = root / benchmark(name).folder
    files = sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file())
    assert files == SHARDS[name]
    for file in files:
        schema = pq.read_schema(root / file)
        assert schema.names == FIELDS[name]
        assert b"huggingface" in (schema.metadata or {})  # the `datasets` features, as its parquet files carry them
        embedded = [field.name for field in schema if str(field.type) == "struct<bytes: binary, path: string>"]
        assert embedded == IMAGES[name]  # HF image structs; MathVista/MathVision's 'image' is the path string


@pytest.mark.parametrize("name", NAMES)
def test_loaded_back_with_decodable_images_and_unique_ids(loaded: dict[str, list[EvalItem]], name: str) -> None:
    items = loaded[name]
    if name == "mmbench":  # ITEMS circular groups, each once per option
        groups = {int(item.record["index"]) % GROUP_STRIDE for item in items}
        assert len(groups) == ITEMS and ITEMS * 3 <= len(items) <= ITEMS * 4
    else:
        assert len(items) == ITEMS
    assert len({item.id for item in items}) == len(items)
    for item in items:
        assert item.images and all(decode(image).size == (IMAGE_SIZE, IMAGE_SIZE) for image in item.images)
        assert not any(isinstance(value, dict) and "bytes" in value for value in item.record.values())
        assert item.question and item.hint and item.direct_prompt


@pytest.mark.parametrize("name", NAMES)
def test_every_name_brings_its_own_writer_read_by_its_own_loader(tmp_path: Path, name: str) -> None:
    """A name in NAMES is all the tiny sets need: its module's BENCHMARK.synthetic writes shards that its own load
    reads back, and write_benchmark writes exactly those (no second registry of writers)."""
    bench = benchmark(name)
    assert bench.name == name and callable(bench.synthetic)
    shards = bench.synthetic(random.Random(f"{name}:0"), 2)  # the rng write_benchmark(name, ..., seed=0) draws from
    assert shards and all(isinstance(shard, Shard) for shard in shards)
    for shard in shards:
        write_shard(tmp_path / "own" / bench.folder, shard)
    items = bench.load(tmp_path / "own" / bench.folder)
    assert len(items) == sum(len(shard.rows) for shard in shards)
    assert len({int(item.record["index"]) % GROUP_STRIDE for item in items} if name == "mmbench" else items) == 2
    written = write_benchmark(name, tmp_path / "cli", num_items=2, seed=0)
    assert {p.relative_to(written): p.read_bytes() for p in written.rglob("*") if p.is_file()} == {
        Path(shard.path): (tmp_path / "own" / bench.folder / shard.path).read_bytes() for shard in shards}


def test_mmbench_copies_rotate_the_options_of_one_question(loaded: dict[str, list[EvalItem]]) -> None:
    groups: dict[int, list[dict[str, Any]]] = {}
    for item in loaded["mmbench"]:
        groups.setdefault(int(item.record["index"]) % GROUP_STRIDE, []).append(item.record)
    three = four = 0
    for copies in groups.values():
        options = [[r[c] for c in "ABCD" if r[c] is not None] for r in copies]
        count = len(options[0])
        three, four = three + (count == 3), four + (count == 4)
        assert len(copies) == count and sorted(int(r["index"]) // GROUP_STRIDE for r in copies) == list(range(count))
        for record, listed in zip(copies, options):
            k = int(record["index"]) // GROUP_STRIDE
            assert listed == options[0][k:] + options[0][:k]
            assert record[record["answer"]] == copies[0][copies[0]["answer"]]  # the same option is right in every copy
    assert three and four  # 'D' is None for three options, as the published columns have it
    records = [item.record for item in loaded["mmbench"]]
    right = [score("mmbench", r, r["answer"]) for r in records]
    result = benchmark("mmbench").aggregate(records, right)
    assert (result["score"], result["groups"]) == (100.0, float(ITEMS))
    one_slip = [0.0 if int(r["index"]) == GROUP_STRIDE + 1 else s for r, s in zip(records, right)]
    assert benchmark("mmbench").aggregate(records, one_slip)["score"] == pytest.approx(100.0 * (ITEMS - 1) / ITEMS)


def test_each_benchmark_gets_its_kinds_of_question(loaded: dict[str, list[EvalItem]]) -> None:
    vista = [item.record for item in loaded["mathvista"]]
    assert {(r["question_type"], r["answer_type"]) for r in vista} == {
        ("multi_choice", "text"), ("free_form", "integer"), ("free_form", "float"), ("free_form", "list")}
    assert all((r["precision"] is not None) == (r["answer_type"] == "float") for r in vista)
    assert all(r["query"].startswith("Hint: ") and r["question"] in r["query"] for r in vista)
    assert all(r["answer"] in r["choices"] for r in vista if r["question_type"] == "multi_choice")

    vision = [item.record for item in loaded["mathvision"]]
    assert {len(r["options"]) for r in vision} == {0, 5} and all("<image1>" in r["question"] for r in vision)
    assert any(r["answer"].startswith("\\frac{") for r in vision)

    mmmu = loaded["mmmu"]
    assert {item.record["question_type"] for item in mmmu} == {"open", "multiple-choice"}
    assert all(isinstance(item.record["options"], str) and literal_list(item.record["options"]) is not None for item in mmmu)
    several = [item for item in mmmu if len(item.images) > 1]
    assert several and all("<image 2>" in item.question and len(item.images) == 2 for item in several)

    stars = [item.record["question"] for item in loaded["mmstar"]]
    assert any("\nOptions: A: " in q for q in stars) and any("\nChoices:\n(A) " in q for q in stars)
    assert all(str(item.record["answer"]).isdecimal() and isinstance(item.record["options"], list) for item in loaded["ai2d"])


# ----------------------------------------------------------------------------- answers
def _other_letter(letter: str) -> str:
    return "A" if letter != "A" else "B"


def _bumped(answer: str) -> str:
    """A different answer of the same form: its first number plus one ('2.3' -> '3.3', '\\frac{1}{2}' -> '\\frac{2}{2}')."""
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 1), answer, count=1)


def right_and_wrong(name: str, record: dict[str, Any]) -> tuple[str, str]:
    """A reply stating the record's published answer, and one stating another, read from the published fields only."""
    answer = str(record["answer"])
    if name == "mathvista" and record["question_type"] == "multi_choice":
        return answer, next(c for c in record["choices"] if c != answer)
    if name == "ai2d":
        letter = "ABCD"[int(answer)]
        return letter, _other_letter(letter)
    if re.fullmatch(r"[A-E]", answer):  # MMBench, MMStar, MMMU and MathVision multiple choice
        return answer, _other_letter(answer)
    return answer, _bumped(answer)


@pytest.mark.parametrize("name", NAMES)
def test_the_right_answer_scores_one_and_a_wrong_one_zero(loaded: dict[str, list[EvalItem]], name: str) -> None:
    for item in loaded[name]:
        right, wrong = right_and_wrong(name, item.record)
        assert score(name, item.record, right) == 1.0, (item.id, right)
        assert score(name, item.record, f"<think>I look at the image.</think><answer>{right}</answer>") == 1.0
        assert score(name, item.record, wrong) == 0.0, (item.id, wrong)
        assert score(name, item.record, f"<think>{right}?</think><answer>{wrong}</answer>") == 0.0


def _counts(picture: Image.Image) -> dict[str, int]:
    pixels = list(picture.getdata())
    return {name: pixels.count(rgb) for name, rgb in COLOURS.items()}


def _shape(picture: Image.Image) -> str:
    """The shape by how much of its bounding box it fills: a square all, a circle ~pi/4, a triangle ~1/2."""
    colour = max(_counts(picture).items(), key=lambda kv: kv[1])[0]
    mask = Image.new("L", picture.size)
    mask.putdata([255 if p == COLOURS[colour] else 0 for p in picture.getdata()])
    left, top, right, bottom = mask.getbbox() or (0, 0, 1, 1)
    fill = _counts(picture)[colour] / ((right - left) * (bottom - top))
    return "square" if fill > 0.95 else "circle" if fill > 0.7 else "triangle"


def _bar(picture: Image.Image, colour: str) -> int:
    """A bar's value from its height: the chart draws value v as round(v * unit) + 1 rows."""
    rows = {y for y in range(picture.height) for x in range(picture.width) if picture.getpixel((x, y)) == COLOURS[colour]}
    return round((len(rows) - 1) / ((picture.height - 4) / BAR_MAX))


def shown(question: str, images: tuple[Any, ...]) -> str | None:
    """What the image(s) say about a question the synthetic scenes ask, or None for another question."""
    pictures = [decode(image) for image in images]
    if "What colour is the shape?" in question:
        return max(_counts(pictures[0]).items(), key=lambda kv: kv[1])[0]
    if "What shape is it?" in question:
        return _shape(pictures[0])
    bar = re.search(r"What is the value of the (\w+) bar\?", question)
    if bar:
        return str(_bar(pictures[0], bar.group(1)))
    values = {colour: _bar(pictures[0], colour) for colour in COLOURS} if "three bars" in question else {}
    share = re.search(r"total of the three bars is the (\w+) bar", question)
    if share:
        fraction = Fraction(values[share.group(1)], sum(values.values()))
        return f"\\frac{{{fraction.numerator}}}{{{fraction.denominator}}}"
    if "average value of the three bars" in question:
        return str(round(sum(values.values()) / len(values), 1))
    if "sum of the values of the three bars" in question:
        return str(sum(values.values()))
    pair = re.search(r"values of the (\w+) bar and the (\w+) bar", question)
    if pair:
        return f"[{_bar(pictures[0], pair.group(1))}, {_bar(pictures[0], pair.group(2))}]"
    which = re.search(r"Which image shows a (\w+) (\w+)\?", question)
    if which:
        showing = [i for i, p in enumerate(pictures) if _shape(p) == which.group(2) and _counts(p)[which.group(1)] > 0]
        return f"<image {showing[0] + 1}>" if len(showing) == 1 else None
    return None


def answer_text(name: str, record: dict[str, Any]) -> str:
    """The right answer as text (an option's text for a letter or an index), from the published fields."""
    answer = str(record["answer"])
    if name == "ai2d":
        return record["options"][int(answer)]
    if name in ("mmbench",):
        return record[answer]
    if name == "mmstar":
        return mmstar_options(record["question"])[answer]
    if name == "mmmu" and record["question_type"] == "multiple-choice":
        return (literal_list(record["options"]) or [])["ABCDEFG".index(answer)]
    if name == "mathvision" and len(record["options"]):
        return record["options"]["ABCDE".index(answer)]
    return answer


@pytest.mark.parametrize("name", NAMES)
def test_the_answers_are_what_the_images_show(loaded: dict[str, list[EvalItem]], name: str) -> None:
    checked = 0
    for item in loaded[name]:
        seen = shown(item.record["question"], item.images)
        if seen is not None:
            assert seen == answer_text(name, item.record), (item.id, item.record["question"])
            checked += 1
    assert checked == len(loaded[name])  # every question is one the scenes answer


# ----------------------------------------------------------------------------- determinism, arguments, CLI
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    for name in NAMES:
        write_benchmark(name, tmp_path / "a", num_items=3, seed=7)
        write_benchmark(name, tmp_path / "b", num_items=3, seed=7)
        write_benchmark(name, tmp_path / "c", num_items=3, seed=8)
    first, again, other = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert first == again and len(first) == 7
    assert first.keys() == other.keys() and all(first[f] != other[f] for f in first)


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown benchmark"):
        write_benchmark("chartqa", tmp_path)
    with pytest.raises(ConfigError, match="num_items"):
        write_benchmark("ai2d", tmp_path, num_items=0)
    one = write_benchmark("ai2d", tmp_path, num_items=1)  # the second published shard is then empty
    assert len(benchmark("ai2d").load(one)) == 1


def test_cli_writes_the_named_benchmarks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--items", "2", "--seed", "3", "--benchmarks", "mmstar,mmmu"]) == 0
    out = capsys.readouterr().out
    assert f"mmstar: 2 items in {tmp_path / 'mmstar'}" in out and f"eval.data_root={tmp_path}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MMMU", "mmstar"]
    assert main([str(tmp_path), "--benchmarks", "mmstar,nope"]) == 2
    assert "error: unknown benchmark 'nope'" in capsys.readouterr().err


def test_module_entry_point(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mixed_r1.eval.synthetic", str(tmp_path), "--items", "1",
                           "--benchmarks", "mmbench"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mmbench: 3 items" in done.stdout or "mmbench: 4 items" in done.stdout
    assert (tmp_path / "mmbench" / "en" / "dev-00000-of-00001.parquet").is_file()
