"""ChartQA in its Hugging Face layout (``HuggingFaceM4/ChartQA``, parquet): ``image`` (embedded),
``query`` (the question), ``label`` (a list holding the answer string), ``human_or_machine``.

Paper type ``chart`` (section 3.1): only numeric answers fit the chart reward; a textual answer
("Yes", "Canada") is skipped with the reason "answer is not a number".
"""
from __future__ import annotations

from typing import Any, Iterator

from mixed_r1.data.schema import Sample
from mixed_r1.data.sources.base import Context, Skip, require
from mixed_r1.data.sources.text import plain_number


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    question = require(record, "query")
    labels = require(record, "label", (list, str))
    labels = [labels] if isinstance(labels, str) else labels
    if len(labels) != 1 or not isinstance(labels[0], str):
        raise Skip("not one answer", f"label {labels!r}")
    answer = plain_number(labels[0])
    if answer is None:
        raise Skip("answer is not a number", repr(labels[0]))
    image, size = ctx.images.image(record.get("image"))  # none: a text-only record, skipped as such
    origin = record.get("human_or_machine")
    yield Sample(id=ctx.sample_id(), image=image, problem=question.strip(), answer=answer, type="chart",
                 source="chartqa", image_size=size, meta={"human_or_machine": origin} if origin is not None else {})


SOURCES = {"chartqa": convert}
