"""Geo170K (G-LLaVA) geometry QA in its LLaVA conversation layout -> multiple_choice; GeoQA+ in that layout too.

Layout (``Luckyjhg/Geo170K`` on the Hugging Face hub; pipilurj/G-LLaVA README, "Data Preparation"):
``qa_tuning.json`` and ``alignment.json`` are JSON lists of ``{"image": "geoqa_plus/10756.png",
"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}`` (an ``id`` where a
re-release adds one, e.g. LLaVA-OneVision's ``geo170k(qa)``), images relative to the ``images/`` folder
(``--images``). An embedded HF image dict works as well. A QA item reads::

    human: "<image>\\nFirst perform reasoning, then finally select the question from the choices in the
            following format: Answer: xxx.\\nQuestion: <question>\\nChoices:\\nA: 32°\\nB: 68°\\nC: 58°\\nD: 34°"
    gpt:   "<worked solution>. Therefore, the answer is: C.\\nAnswer:C"

The ``<image>`` token, the format instruction (the training prompt has its own) and the ``Question:`` label
are dropped; the lettered choices become ``options``; the letter on the solution's last line is the answer.

Paper type ``multiple_choice`` (section 3.1, GeoQA). The alignment split (image descriptions, no choices)
does not fit: "no options in the question"; a solution without a final letter: "answer is not a letter".
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from mixed_r1.data.schema import MAX_OPTIONS, Sample
from mixed_r1.data.sources.base import Context, Skip, require
from mixed_r1.data.sources.text import option_letter, split_options

IMAGE_TOKEN = "<image>"
# the answer-format instruction G-LLaVA puts before the question (our prompt template adds its own)
INSTRUCTIONS = ("First perform reasoning, then finally select the question from the choices",)
_QUESTION_LABEL = re.compile(r"^\s*Question\s*:\s*", re.IGNORECASE)
# "Answer:C", "Answer: C: 58°", "the answer is option C." on the solution's last line
_FINAL_LETTER = re.compile(r"(?i:answer)(?:\s+is)?\s*[:：]?\s*(?:(?i:option)\s*)?\(?([A-Z])(?![A-Za-z0-9])")


def question_pair(record: Any) -> tuple[str, str]:
    """The human question and the gpt answer of the record's one exchange."""
    turns = require(record, "conversations", list)
    if len(turns) != 2 or not all(isinstance(t, dict) for t in turns):
        raise Skip("not one question-answer pair", f"{len(turns)} turns")
    if (turns[0].get("from"), turns[1].get("from")) != ("human", "gpt"):
        raise Skip("malformed record", f"turns from {turns[0].get('from')!r}, {turns[1].get('from')!r}")
    return require(turns[0], "value"), require(turns[1], "value")


def clean_question(text: str) -> str:
    """The question without the image token and the answer-format instruction lines."""
    lines = [line for line in text.replace(IMAGE_TOKEN, "").splitlines()
             if not line.strip().startswith(INSTRUCTIONS)]
    return "\n".join(lines).strip()


def final_letter(solution: str) -> str | None:
    """The letter the solution ends with ('...\\nAnswer:C' -> 'C'), any letter A-Z; None when it names none."""
    lines = [line for line in solution.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    letter = option_letter(last, MAX_OPTIONS)
    if letter is None:
        found = _FINAL_LETTER.findall(last)
        letter = found[-1] if found else None
    return letter


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    human, gpt = question_pair(record)
    parsed = split_options(clean_question(human))
    if parsed is None:
        raise Skip("no options in the question", repr(human[:80]))
    question, options = parsed
    question = _QUESTION_LABEL.sub("", question, count=1).strip()
    if not question:
        raise Skip("malformed record", "empty question")
    letter = final_letter(gpt)
    if letter is None:
        raise Skip("answer is not a letter", repr(gpt[-80:]))
    if ord(letter) - ord("A") >= len(options):
        raise Skip("answer letter not among the options", f"{letter} with {len(options)} options")
    own_id = record.get("id")
    has_id = (isinstance(own_id, str) and own_id.strip()) or (isinstance(own_id, int) and not isinstance(own_id, bool))
    sample_id = ctx.sample_id(own_id) if has_id else ctx.sample_id()
    image, size = ctx.images.image(record.get("image"))
    meta = {"image_file": record["image"]} if isinstance(record.get("image"), str) else {}
    yield Sample(id=sample_id, image=image, problem=question, answer=letter, type="multiple_choice", source="geo170k",
                 image_size=size, options=options, meta=meta)


SOURCES = {"geo170k": convert}
