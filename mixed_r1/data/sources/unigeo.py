"""UniGeo calculation problems (GeoQA-derived), records exported from the release's pickles -> multiple_choice.

Layout: the UniGeo release (chen-judge/UniGeo README; read by ``Geoformer/src/geo_data.py`` there) stores
``calculation_{train,val,test}.pk``, pickled lists of dicts: ``id``, ``image`` (the diagram as a numpy
array), ``English_problem``, ``choices`` (option texts), ``choice_nums`` (the options as numbers), ``label``
(the index of the right option), ``numbers``, ``manual_program``, ... We do not unpickle files (a pickle
runs code); feed the records as JSON/JSONL (or parquet) with the same fields and ``image`` replaced by
the diagram saved as a PNG: a path relative to ``--images`` (e.g. ``calculation_images/<id>.png``) or an
HF image dict. Export sketch: ``Image.fromarray(item["image"]).save(f"calculation_images/{item['id']}.png")``.

The options are the printed ``choices`` (``"2√{3}"``, ``"40°"``): the model sees the question as published.
``choice_nums`` (the same options as the numbers UniGeo's own scoring compares) is kept in ``meta`` beside
them, written without float noise (30.0 -> "30", 0.30000000000000004 -> "0.3"); it becomes the options only
when a record has no ``choices``. Our checker needs no numbers: the answer is the letter ``label`` indexes.
``English_problem`` is the problem as published.

Paper type ``multiple_choice`` (section 3.1). A proving problem (``proving_*.pk``: ``input_text``,
``proving_sequence``, no options) does not fit: "not a calculation problem"; an image left as an array:
"image is an array"; a label outside the options: "answer index out of range".
"""
from __future__ import annotations

import math
from typing import Any, Iterator

from mixed_r1.data.schema import MAX_OPTIONS, Sample
from mixed_r1.data.sources.base import Context, Skip, require
from mixed_r1.data.sources.text import index_letter

PROVING_FIELDS = ("proving_sequence", "input_text")


def number_text(value: Any) -> str:
    """A choice number as an option text: '30' for 30.0, '2.5', '3.464102' (6 decimals at most)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Skip("malformed record", f"choice {value!r} is not a finite number")
    if isinstance(value, int):
        return str(value)
    text = format(round(value, 6), ".15g")
    return "0" if text == "-0" else text


def choice_numbers(record: dict[str, Any]) -> list[str] | None:
    """``choice_nums`` as texts ('30' for 30.0), or None when the record has none."""
    if record.get("choice_nums") is None:
        return None
    return [number_text(v) for v in require(record, "choice_nums", list)]


def options_of(record: dict[str, Any]) -> list[str]:
    """The printed ``choices`` (else the ``choice_nums`` as texts), 2..26 of them."""
    if record.get("choices") is not None:
        choices = require(record, "choices", list)
        if not all(isinstance(c, str) and c.strip() for c in choices):
            raise Skip("malformed record", f"field 'choices' holds a non-text or empty choice: {choices!r}")
        options = [c.strip() for c in choices]
    else:
        options = choice_numbers(record) or require(record, "choices", list)
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise Skip("malformed record", f"{len(options)} options; expected 2..{MAX_OPTIONS}")
    return options


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    if isinstance(record, dict) and "English_problem" not in record and any(k in record for k in PROVING_FIELDS):
        raise Skip("not a calculation problem", "a proving problem has no options")
    problem = require(record, "English_problem")
    options = options_of(record)
    label = require(record, "label", int)
    if not 0 <= label < len(options):
        raise Skip("answer index out of range", f"label {label} with {len(options)} options")
    own_id = require(record, "id", (int, str))
    picture = record.get("image")
    if isinstance(picture, list) and picture and isinstance(picture[0], list):
        raise Skip("image is an array", "save the diagram as a PNG and give its path")
    image, size = ctx.images.image(picture)
    meta: dict[str, Any] = {"unigeo_id": own_id}
    numbers = choice_numbers(record)
    if numbers is not None and record.get("choices") is not None:
        meta["choice_nums"] = numbers
    yield Sample(id=ctx.sample_id(own_id), image=image, problem=problem.strip(), answer=index_letter(label),
                 type="multiple_choice", source="unigeo", image_size=size, options=options, meta=meta)


SOURCES = {"unigeo": convert}
