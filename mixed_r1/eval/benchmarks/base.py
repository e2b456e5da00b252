"""What every benchmark module provides: a loader of the benchmark's published Hugging Face layout (local
parquet/arrow shards, images embedded in the rows) and a scorer that applies the benchmark's official rule
to one record and one answer, plus how per-record scores aggregate into the reported number.

A benchmark module defines ``BENCHMARK = Benchmark(...)``; ``mixed_r1.eval.benchmarks.benchmark(name)`` returns it
for each name of ``NAMES``. It also writes a tiny set of its own in its published layout (``synthetic``), which
its loader reads back: what the tests and the CPU demo run on.

Scorers read only the record's published fields (no images), so they are checked on hand-written records and
responses, and the same scorer serves our runner and lmms-eval's predictions.
"""
from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from PIL import Image

from mixed_r1.data.sources.base import read_records
from mixed_r1.errors import DataError
from mixed_r1.eval.benchmarks.tiny_sets import Shard
from mixed_r1.rewards.extract import extract_answer


@dataclass(frozen=True)
class EvalItem:
    """One question of a benchmark, ready for a model."""

    id: str  # unique within the benchmark (its published index / pid / id)
    record: dict[str, Any]  # the published record with its image fields removed: what the scorer reads
    images: tuple[Any, ...]  # the record's images as published: HF dicts {"bytes", "path"}, bytes, or file paths
    question: str  # the question as the model sees it, hint and options included, without an answer instruction
    hint: str  # the answer instruction of the thinking prompt ("Answer with the option's letter.")
    direct_prompt: str  # the benchmark's own prompt for a direct answer (thinking off), options included


@dataclass(frozen=True)
class Judgement:
    """A scorer's verdict on one answer: whether it is right and what it read (None: unparseable)."""

    correct: bool
    parsed: str | None


def mean_percent(records: Sequence[dict[str, Any]], scores: Sequence[float]) -> dict[str, float]:
    """The usual aggregate: the mean per-record score, in percent."""
    return {"score": 100.0 * sum(scores) / len(scores) if scores else float("nan")}


@dataclass(frozen=True)
class Benchmark:
    """Everything the project knows of one benchmark, in one place: its module ``eval/benchmarks/<name>.py``.

    To add a benchmark, write that module (its ``BENCHMARK`` with a loader, the columns it reads, the official
    scorer and a ``synthetic`` writer; :mod:`~mixed_r1.eval.benchmarks.parsing` and :mod:`~mixed_r1.eval.benchmarks.tiny_sets`
    hold what benchmarks share) and add its name to ``benchmarks.NAMES`` (Table 1's column order). No other code
    names it: the runner, the lmms-eval backend and ``python -m mixed_r1.eval.synthetic`` reach it through
    ``benchmark(name)``; which benchmarks a run scores is the config's ``eval.benchmarks``."""

    name: str  # the registry name: mathvista, mathvision, mmbench, mmmu, mmstar, ai2d
    column: str  # its column heading in Table 1 and in results tables, e.g. "MathVista"
    lmms_task: str  # the lmms-eval task of the same split (lmms_eval/tasks/<folder>/<task>.yaml)
    hf_id: str  # the published dataset, e.g. "AI4Math/MathVista"
    split: str  # the split Table 1 reports, e.g. "testmini"
    folder: str  # where below eval.data_root the downloaded shards are expected (README: how to download)
    load: Callable[[Path], list[EvalItem]]  # the folder -> every item of the split
    judge: Callable[[dict[str, Any], str], Judgement]  # (record, answer text) -> verdict
    # (rng, num_items) -> num_items tiny items about synthetic scenes, as the published shards lay them out
    # (``python -m mixed_r1.eval.synthetic`` writes them below ``folder``; ``load`` reads them back)
    synthetic: Callable[[random.Random, int], list[Shard]]
    aggregate: Callable[[Sequence[dict[str, Any]], Sequence[float]], dict[str, float]] = mean_percent
    rule_source: str = ""  # where the scoring rule comes from (lmms-eval task folder, the benchmark's repo)
    # the published columns every row must hold (not null) for the loader and scorer to read it: its id, question,
    # answer and first image; ``load`` passes them to :func:`read_rows`, which names a file that lacks one
    columns: tuple[str, ...] = ()
    # the shard files ``load`` reads below the folder (a DataError when there are none); None: the split's shards
    # (:func:`split_shards`). What a start-up check looks for without reading any row.
    files: Callable[[Path], list[Path]] | None = None

    def shards(self, folder: Path) -> list[Path]:
        """The shard files ``load`` reads below ``folder``; a :class:`DataError` naming it when there are none."""
        return self.files(folder) if self.files is not None else split_shards(folder, self.split)


def answer_text(response: str) -> str:
    """What is scored: the last complete ``<answer>`` block when the response has one, else the whole
    response (a model prompted without thinking answers directly)."""
    answer = extract_answer(response)
    return answer if answer is not None else response.strip()


SHARD_SUFFIXES = (".parquet", ".arrow")


def split_shards(folder: Path, split: str, subset: str | None = None, fallback_all: bool = False) -> list[Path]:
    """The parquet/arrow shards of ``split`` below a downloaded dataset folder, in path order: files whose
    name, or a folder on whose path, carries the split as a word ('testmini-00000-of-00001.parquet' is
    not 'test'; 'val/0000.parquet' is 'val'); hidden folders (``.cache``) left out. When some lie below a
    ``subset`` folder (one config of a multi-config download) only those; with ``fallback_all`` every
    shard when none names the split (a repository publishing one file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: benchmark folder not found (download the dataset there first)")
    shards = sorted(p for p in folder.rglob("*") if p.suffix in SHARD_SUFFIXES and p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    word = re.compile(rf"(?:^|[^a-z]){re.escape(split.lower())}(?:[^a-z]|$)")
    named = [p for p in shards if any(word.search(part.lower()) for part in p.relative_to(folder).parts)]
    if subset is not None:
        named = [p for p in named if subset in p.relative_to(folder).parts[:-1]] or named
    if named:
        return named
    if fallback_all and shards:
        return shards
    raise DataError(f"{folder}: no .parquet/.arrow file of split '{split}' below this folder")


def read_rows(files: Iterable[Path], columns: Sequence[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` of every row of ``files``; anything but a row is a broken download, and so is a row
    without one of ``columns`` (the benchmark's :attr:`Benchmark.columns`) or with it null: without its answer
    every item would score wrong, a result that looks like one. Every embedded image is decoded here, before any
    generation: a damaged one is named by file, row and column rather than ending a run mid-generation."""
    for file in files:
        for where, record in read_records(file):
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a row, got {type(record).__name__}")
            for column in columns:
                if column not in record:
                    raise DataError(f"{where}{item_label(record)}: column '{column}' is missing (the published layout "
                                    f"has {', '.join(repr(c) for c in columns)}; columns here: "
                                    f"{', '.join(sorted(record)) or 'none'}); download the dataset again")
                if record[column] is None:
                    raise DataError(f"{where}{item_label(record)}: column '{column}' is null; the published layout "
                                    f"always fills it")
            for column, value in record.items():
                if isinstance(value, dict) and value.get("bytes"):
                    verify_image(value["bytes"], f"{where}{item_label(record)}, column '{column}'")
                elif isinstance(value, dict) and set(value) == {"bytes", "path"} and value.get("path"):
                    located = locate_image(Path(file), value["path"], f"{where}{item_label(record)}, column '{column}'")
                    record[column] = {"bytes": None, "path": str(located)}
            yield str(where), record


IMAGE_SEARCH_DEPTH = 3  # a relative image path is looked up from the shard's folder and this many folders above


def locate_image(shard: Path, path: str, where: str) -> Path:
    """An image published as a file path rather than embedded bytes (``{"bytes": None, "path": ...}``): an
    absolute path, or one relative to the shard's folder or a folder above it (the layouts keep ``images/`` at
    the dataset's root, shards under ``data/``), checked and decoded now like an embedded one — never opened
    relative to wherever ``eval.py`` was started, never first found missing mid-generation."""
    candidates = [Path(path)] if Path(path).is_absolute() else \
        [folder / path for folder in [shard.parent, *shard.parent.parents][:IMAGE_SEARCH_DEPTH + 1]]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise DataError(f"{where}: the image is given as the path {path!r}, which is not a file "
                        f"(looked in {', '.join(str(c.parent) for c in candidates)}); download the images too")
    verify_image(found.read_bytes(), f"{where} ({found})")
    return found.resolve()


ID_COLUMNS = ("id", "pid", "index", "question_id")  # what the published layouts call an item's id


def item_label(record: dict[str, Any]) -> str:
    """`` (item <id>)`` for a row that carries an id column, else nothing (the row number names the item)."""
    for column in ID_COLUMNS:
        if record.get(column) is not None:
            return f" (item {column}={record[column]})"
    return ""


def verify_image(data: bytes, where: str) -> None:
    """Decode an embedded image completely (a truncated file opens but fails to load); a damaged one is a
    :class:`DataError` saying where it is."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{where}: the image cannot be decoded ({type(err).__name__}: {err}); the file is damaged, "
                        f"download it again") from None
