"""ScienceQA in its Hugging Face layout (``derek-thomas/ScienceQA``, ``lmms-lab/ScienceQA``; parquet) -> multiple_choice.

Layout (both dataset cards): ``image`` (an embedded HF image dict, or None for the text-only questions),
``question``, ``choices`` (the option texts), ``answer`` (the index of the right choice), ``hint`` (the
context, often empty), ``task``, ``grade``, ``subject``, ``topic``, ``category``, ``skill``, ``lecture``,
``solution``. Rows carry no id, so samples are numbered by their row.

The problem is built as lmms-eval's ``scienceqa`` task builds its prompt (``lmms_eval/tasks/scienceqa/utils.py``,
``sqa_doc_to_text``): ``"Context: <hint>\\n"`` before the question when the hint is not empty (``text.scienceqa_problem``,
which ``cauldron_scienceqa`` uses too, so one item gives one problem in either layout); the options go to
``options`` (the model adapter lists them) and the answer index becomes its letter.

Paper type ``multiple_choice`` (section 3.1). A question without an image is skipped ("no image": the schema
is multimodal); so is an answer index outside the choices ("answer index out of range").
"""
from __future__ import annotations

from typing import Any, Iterator

from mixed_r1.data.schema import MAX_OPTIONS, Sample
from mixed_r1.data.sources.base import Context, Skip, require
from mixed_r1.data.sources.text import index_letter, scienceqa_problem

META_FIELDS = ("subject", "topic", "category", "skill", "grade", "task")


def options_of(choices: list[Any]) -> list[str]:
    """The option texts, or a counted skip when they are not 2..26 non-empty strings."""
    if not all(isinstance(c, str) and c.strip() for c in choices):
        raise Skip("malformed record", f"field 'choices' holds a non-text or empty choice: {choices!r}")
    if not 2 <= len(choices) <= MAX_OPTIONS:
        raise Skip("malformed record", f"field 'choices' has {len(choices)} choices; expected 2..{MAX_OPTIONS}")
    return [c.strip() for c in choices]


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    question = require(record, "question")
    options = options_of(require(record, "choices", list))
    index = require(record, "answer", int)
    if not 0 <= index < len(options):
        raise Skip("answer index out of range", f"answer {index} with {len(options)} choices")
    hint = record.get("hint")
    if hint is not None and not isinstance(hint, str):
        raise Skip("malformed record", f"field 'hint' is {type(hint).__name__}, expected str")
    problem = scienceqa_problem(question, hint)
    image, size = ctx.images.image(record.get("image"))  # None: a text-only question, skipped as "no image"
    meta = {key: record[key] for key in META_FIELDS if isinstance(record.get(key), str) and record[key]}
    yield Sample(id=ctx.sample_id(), image=image, problem=problem, answer=index_letter(index), type="multiple_choice",
                 source="scienceqa", image_size=size, options=options, meta=meta)


SOURCES = {"scienceqa": convert}
