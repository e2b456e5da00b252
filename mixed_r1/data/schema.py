"""The project's one sample schema. Every data source converts into it; every consumer reads it.

A sample is one JSON object per line of a JSONL file:

    {"id": "syn-000001", "image": "images/000001.png", "problem": "Is the shape red?",
     "answer": "yes", "type": "yes_no", "source": "synthetic",
     "options": null, "image_size": [56, 56], "meta": {...}}

- ``image`` is relative to the JSONL file's folder (or absolute).
- ``answer`` is a string, except for ``grounding`` where it is a box
  ``[x1, y1, x2, y2]`` in pixels of the *original* image (the model adapter converts it
  into the frame its model emits).
- ``options`` lists the choice texts of a multiple-choice question (letter A is
  ``options[0]``); ``answer`` is then the letter.
- ``image_size`` is ``[width, height]`` of the original image.
- ``meta`` is free-form, source-specific information; rewards never read it.

Bad ground truth is a data error raised at load time with the file, line and sample id,
never a crash in the middle of training.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mixed_r1.errors import DataError

SAMPLE_TYPES: tuple[str, ...] = ("yes_no", "multiple_choice", "chart", "grounding", "open_ended")


@dataclass(frozen=True)
class Sample:
    id: str
    image: str  # absolute path once loaded
    problem: str
    answer: str | list[float]
    type: str
    source: str
    image_size: tuple[int, int]  # (width, height) of the original image
    options: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        """JSON form; ``image`` is written relative to ``root`` when it lies below it."""
        record = asdict(self)
        record["image_size"] = list(self.image_size)
        if root is not None and Path(self.image).is_relative_to(root):  # else keep the absolute path
            record["image"] = str(Path(self.image).relative_to(root))
        return record


def _check_box(value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ValueError("a grounding answer must be a list of 4 numbers [x1, y1, x2, y2]")
    box = [float(v) for v in value]
    if not all(math.isfinite(v) for v in box):
        raise ValueError("a grounding box must hold finite numbers")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"a grounding box needs x2 > x1 and y2 > y1, got {box}")
    return box


def sample_from_json(record: dict[str, Any], root: Path) -> Sample:
    """Validate one JSON record and build a :class:`Sample`; raises ``ValueError`` naming the field."""
    if not isinstance(record, dict):
        raise ValueError("a sample must be a JSON object")
    for key in ("id", "image", "problem", "answer", "type"):
        if key not in record:
            raise ValueError(f"missing field '{key}'")
    sample_type = record["type"]
    if sample_type not in SAMPLE_TYPES:
        raise ValueError(f"field 'type' is {sample_type!r}; expected one of {', '.join(SAMPLE_TYPES)}")
    answer = record["answer"]
    options = record.get("options")
    if sample_type == "grounding":
        answer = _check_box(answer)
    else:
        if not isinstance(answer, (str, int, float)) or isinstance(answer, bool):
            raise ValueError(f"field 'answer' must be a string for type {sample_type}")
        answer = str(answer).strip()
        if not answer:
            raise ValueError("field 'answer' is empty")
    if sample_type == "multiple_choice":
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ValueError("a multiple_choice sample needs 'options': a list of at least 2 strings")
        letters = [chr(ord("A") + i) for i in range(len(options))]
        if answer.upper() not in letters:
            raise ValueError(f"field 'answer' is {answer!r}; expected one of the option letters {letters}")
        answer = answer.upper()
    size = record.get("image_size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ValueError("field 'image_size' must be [width, height] in positive integers")
    image = Path(record["image"])
    if not image.is_absolute():
        image = root / image
    return Sample(
        id=str(record["id"]),
        image=str(image),
        problem=str(record["problem"]),
        answer=answer,
        type=sample_type,
        source=str(record.get("source", "unknown")),
        image_size=(size[0], size[1]),
        options=list(options) if options is not None else None,
        meta=dict(record.get("meta") or {}),
    )


def load_samples(path: str | Path, check_images: bool = True) -> list[Sample]:
    """Load and validate every line of a JSONL file; the first bad line raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    samples: list[Sample] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg})") from None
            sample_id = record.get("id", "?") if isinstance(record, dict) else "?"
            try:
                sample = sample_from_json(record, path.parent)
            except ValueError as err:
                raise DataError(f"{where} (id {sample_id}): {err}") from None
            if sample.id in seen:
                raise DataError(f"{where}: duplicate id {sample.id}")
            if check_images and not Path(sample.image).is_file():
                raise DataError(f"{where} (id {sample.id}): image not found: {sample.image}")
            seen.add(sample.id)
            samples.append(sample)
    if not samples:
        raise DataError(f"{path}: no samples")
    return samples


def write_samples(samples: Iterable[Sample], path: str | Path) -> Path:
    """Write samples as JSONL, images relative to the file's folder where possible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.to_json(root=path.parent)) + "\n")
    return path
