"""VSR (Visual Spatial Reasoning) caption-truth records, JSONL as published -> yes_no.

Layout (``cambridgeltl/vsr_random`` and ``cambridgeltl/vsr_zeroshot`` dataset cards; cambridgeltl/
visual-spatial-reasoning ``data/``): one JSON object per line, ``image`` (a COCO 2017 file name, e.g.
``000000050403.jpg``), ``image_link`` (its images.cocodataset.org URL), ``caption`` ("The teddy bear is in
front of the person."), ``label`` (1 the caption is true of the image, 0 it is false), ``relation``,
``annotator_id``, ``vote_true_validator_id``, ``vote_false_validator_id``. No id: samples are numbered by line.

Images are looked up under ``--images`` as ``<image>`` (the VSR image folder) or, failing that, as
``<split>/<image>`` named by the link (a COCO ``train2017``/``val2017`` tree).

Paper type ``yes_no`` (section 3.1): the question asks whether the caption is true (:data:`QUESTION`); the
answer is "yes" for label 1 (or true) and "no" for 0 (or false). Any other label: "label is not true/false".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from mixed_r1.data.schema import Sample
from mixed_r1.data.sources.base import Context, Skip, require
from mixed_r1.data.sources.text import yes_no

QUESTION = 'Is this statement about the image true? "{caption}"'


def answer_of(label: Any) -> str:
    """'yes'/'no' for a label 1/0, True/False or their text forms; a counted skip for anything else."""
    if isinstance(label, bool) or (isinstance(label, int) and label in (0, 1)):
        return "yes" if label else "no"
    if isinstance(label, str):
        text = label.strip()
        word = {"1": "yes", "0": "no"}.get(text) or yes_no(text)
        if word is not None:
            return word
    raise Skip("label is not true/false", repr(label))


def image_name(name: str, link: Any, root: Path) -> str:
    """``name`` when it is under ``root``, else ``<split>/<name>`` from the COCO link when that one is."""
    if (root / name).is_file() or not isinstance(link, str):
        return name
    parts = link.rstrip("/").split("/")
    nested = f"{parts[-2]}/{name}" if len(parts) >= 2 and parts[-1] == name else name
    return nested if (root / nested).is_file() else name


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    caption = require(record, "caption").strip()
    answer = answer_of(require(record, "label", (int, str, bool)))
    name = require(record, "image")
    image, size = ctx.images.image(image_name(name, record.get("image_link"), ctx.images.root))
    meta = {key: record[key] for key in ("relation", "image") if isinstance(record.get(key), str)}
    yield Sample(id=ctx.sample_id(), image=image, problem=QUESTION.format(caption=caption), answer=answer, type="yes_no",
                 source="vsr", image_size=size, meta=meta)


SOURCES = {"vsr": convert}
