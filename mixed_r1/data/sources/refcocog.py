"""RefCOCOg referring expressions (``jxu124/refcocog`` or ``lmms-lab/RefCOCOg`` parquet) -> grounding.

Two layouts on the Hugging Face hub, told apart by their fields:

- ``jxu124/refcocog`` (train/validation/test, the umd split; dataset card features): one row per referred
  object: ``ref_id``, ``ann_id``, ``image_id``, ``split``, ``category_id``, ``sentences`` (a list of
  ``{"raw", "sent", "sent_id", "tokens"}``), ``captions``, ``image_path`` (``coco/train2014/COCO_train2014_
  <id>.jpg``; no pixels: images are resolved under ``--images`` as that path, without its leading folders, or
  by file name), ``raw_anns`` (the COCO annotation as a JSON string, ``bbox`` in COCO ``[x, y, w, h]``) and a
  top-level ``bbox`` that is already ``[x1, y1, x2, y2]`` (its author's own loader, jxu124/TiO
  ``tio_core/utils/prompt.py`` ``refcoco_grounding``, reads it as corners). The COCO box is used; a top-level
  box that disagrees with it skips the row ("box fields disagree"), so a wrong reading cannot pass silently.
- ``lmms-lab/RefCOCOg`` (val/test only; lmms-eval's ``refcoco`` tasks): ``question_id``, ``image`` (embedded),
  ``answer`` (the referring expressions), ``bbox`` COCO ``[x, y, w, h]``, ``segmentation``, ``file_name``.

Every expression of an object is one sample (id: the object's id and the expression's index) asking for the
object's box (:data:`PROBLEM`); the answer is ``[x, y, x + w, y + h]`` in the image's own pixels. Paper type
``grounding`` (section 3.1). A box that is not 4 numbers is a "malformed record"; a zero-area or out-of-image
box fails the framework's schema check ("fails the schema").
"""
from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from mixed_r1.data.schema import Sample
from mixed_r1.data.sources.base import Context, Skip, require

PROBLEM = 'Locate "{expression}" in the image and give its bounding box.'
BOX_TOLERANCE = 1e-3  # pixels: the two box fields of a jxu124 row agree to float precision


def box_numbers(value: Any, field: str) -> list[float]:
    """Four finite numbers, or a counted 'malformed record' skip."""
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise Skip("malformed record", f"field '{field}' is not 4 numbers: {value!r}")
    return [float(v) for v in value]


def corners(xywh: list[float]) -> list[float]:
    """COCO ``[x, y, w, h]`` -> ``[x1, y1, x2, y2]``, same pixels."""
    x, y, w, h = xywh
    return [x, y, x + w, y + h]


def jxu124_box(record: dict[str, Any]) -> list[float]:
    """The object's corners from ``raw_anns``' COCO box, checked against the top-level corner box."""
    raw = record.get("raw_anns")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise Skip("malformed record", f"field 'raw_anns' is not JSON ({err.msg})") from None
    top = box_numbers(record.get("bbox"), "bbox") if record.get("bbox") is not None else None
    if not isinstance(raw, dict) or raw.get("bbox") is None:
        if top is None:
            raise Skip("malformed record", "no box: neither 'raw_anns' nor 'bbox' holds one")
        return top
    box = corners(box_numbers(raw["bbox"], "raw_anns.bbox"))
    if top is not None and any(abs(a - b) > BOX_TOLERANCE for a, b in zip(box, top)):
        raise Skip("box fields disagree", f"raw_anns bbox (xywh) -> {box}, top-level bbox {top}")
    return box


def jxu124_expressions(record: dict[str, Any]) -> list[str | Skip]:
    """Each sentence's text (``raw``, else ``sent``), or ``captions`` when there are no sentences."""
    sentences = record.get("sentences") or record.get("captions")
    if not isinstance(sentences, list) or not sentences:
        raise Skip("malformed record", "no referring expressions in 'sentences' or 'captions'")
    found: list[str | Skip] = []
    for number, sentence in enumerate(sentences):
        text = sentence if isinstance(sentence, str) else None
        if isinstance(sentence, dict):
            text = next((sentence[k] for k in ("raw", "sent") if isinstance(sentence.get(k), str) and sentence[k].strip()), None)
        found.append(text.strip() if isinstance(text, str) and text.strip()
                     else Skip("malformed record", f"expression {number} has no text: {sentence!r}"))
    return found


def image_candidates(path: str) -> list[str]:
    """``coco/train2014/X.jpg``, then ``train2014/X.jpg``, then ``X.jpg``: however the images were unpacked."""
    parts = PurePosixPath(path).parts
    return [str(PurePosixPath(*parts[i:])) for i in range(len(parts))] if not PurePosixPath(path).is_absolute() else [path]


def resolve(path: str, root: Path) -> str:
    """The first candidate of ``path`` present under ``root`` (the path itself when none is: skipped as not found)."""
    return next((c for c in image_candidates(path) if (root / c).is_file()), path)


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    if isinstance(record, dict) and ("sentences" in record or "raw_anns" in record):
        own_id = require(record, "ref_id", (int, str))
        expressions = jxu124_expressions(record)
        box = jxu124_box(record)
        picture: Any = resolve(require(record, "image_path"), ctx.images.root)
        meta = {k: record[k] for k in ("ref_id", "ann_id", "image_id", "split", "category_id") if record.get(k) is not None}
    else:
        own_id = require(record, "question_id", (int, str))
        answers = require(record, "answer", list)
        if not answers:
            raise Skip("malformed record", "field 'answer' holds no expression")
        expressions = [a.strip() if isinstance(a, str) and a.strip() else Skip("malformed record", f"expression {n}: {a!r}")
                       for n, a in enumerate(answers)]
        box = corners(box_numbers(record.get("bbox"), "bbox"))
        picture = record.get("image")
        meta = {k: record[k] for k in ("question_id", "file_name") if record.get(k) is not None}
    if all(isinstance(e, Skip) for e in expressions):
        yield from (e for e in expressions if isinstance(e, Skip))
        return
    image, size = ctx.images.image(picture)
    for number, expression in enumerate(expressions):
        if isinstance(expression, Skip):
            yield expression
            continue
        yield Sample(id=ctx.sample_id(own_id, number), image=image, problem=PROBLEM.format(expression=expression),
                     answer=list(box), type="grounding", source="refcocog", image_size=size,
                     meta={**meta, "expression": expression})


SOURCES = {"refcocog": convert}
