"""ALLaVA-4V caption records (``FreedomIntelligence/ALLaVA-4V``, LLaVA conversation JSON) -> open_ended.

Layout (FreedomIntelligence/ALLaVA README "Sample Demonstration" and the dataset card):
``ALLaVA-Caption-LAION-4V.json`` / ``ALLaVA-Caption-VFLAN-4V.json`` are JSON lists of ``{"id":
"allava_laion_cap_100277305", "image": "allava_laion/images/100277305.jpeg", "conversations": [{"from":
"human", "value": "<image>\\nPlease depict the image in words."}, {"from": "gpt", "value": "<the GPT-4V
caption>"}]}``; the image path is relative to the dataset folder (``--images``).

Paper type ``open_ended`` (section 3.1): the human turn without the ``<image>`` token is the problem, the
caption the answer. A record that is not one human/gpt exchange: "not one question-answer pair"; a record
without an image (the text-only ``ALLaVA-Text`` files, ``{"idx", "conversations"}``): "no image".
"""
from __future__ import annotations

from typing import Any, Iterator

from mixed_r1.data.schema import Sample
from mixed_r1.data.sources.base import Context, Skip, require

IMAGE_TOKEN = "<image>"


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    if isinstance(record, dict) and not record.get("image"):  # ALLaVA-Text's records: no image (and no id)
        raise Skip("no image", "text-only record (the schema is multimodal)")
    own_id = require(record, "id", (str, int))
    turns = require(record, "conversations", list)
    if len(turns) != 2 or not all(isinstance(t, dict) for t in turns):
        raise Skip("not one question-answer pair", f"{len(turns)} turns")
    if (turns[0].get("from"), turns[1].get("from")) != ("human", "gpt"):
        raise Skip("malformed record", f"turns from {turns[0].get('from')!r}, {turns[1].get('from')!r}")
    problem = require(turns[0], "value").replace(IMAGE_TOKEN, "").strip()
    caption = require(turns[1], "value").strip()
    if not problem:
        raise Skip("malformed record", "the human turn holds only the image token")
    image, size = ctx.images.image(record.get("image"))
    yield Sample(id=ctx.sample_id(own_id), image=image, problem=problem, answer=caption, type="open_ended",
                 source="allava", image_size=size, meta={"allava_id": own_id})


SOURCES = {"allava": convert}
