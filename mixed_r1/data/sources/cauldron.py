"""HuggingFaceM4/the_cauldron subsets (images + user/assistant turns) as yes_no, multiple_choice or chart samples.

The Mixed-45K sources it carries: mapqa, clevr, figureqa, vsr, ai2d, scienceqa, chartqa, docvqa, infographic_vqa,
multihiertt; converter ``cauldron_<subset>`` each.

Layout (``HuggingFaceM4/the_cauldron`` dataset card: one parquet config per subset): a row is ``images``, a list
of HF image dicts ``{"bytes", "path"}``, and ``texts``, a list of turns ``{"user", "assistant", "source"}``
about those images. The rows were written by huggingface/smollm
``vision/data/datasets_processing_scripts/build_concatenation_datasets_sft/build_ds_sft.py`` and merged on
identical images by ``merge_on_image_individual_dataset.py`` there, so one row holds every question about one
image. That script fixes the phrasing each subset has:

- mapqa, infographic_vqa, chartqa: question + ``"\\n"`` + one of its short-answer hints ("Answer briefly.",
  "Keep it brief.", ...); answers pass ``correct_casing`` (first letter up, a period added: "Yes.", "14.").
- clevr, docvqa: question + one of its brevity hints ("Give a very brief answer.", "Offer a terse
  response.", ...); answers as above. The re-prompted ChartQA/DocVQA variants instead put an instruction
  block before ``"Question: <q>"`` and leave the answer as it is.
- figureqa, vsr: question + ``"\\nAnswer yes or no."``; answer "Yes." / "No." (VSR's caption question is
  'Is this affirmation: "<caption>" correct?' and the like).
- ai2d, scienceqa: ``"Question: <q>\\nChoices:\\nA. <a>\\nB. <b>...\\nAnswer with the letter."`` (ScienceQA
  may put ``"Lecture: ..."`` before and ``"Hint: ..."`` after the question); answer ``"Answer: B"``. ScienceQA's
  sections are parsed: the lecture is dropped and the problem is built as the ``scienceqa`` converter builds it
  for the same item (``"Context: <hint>\\n<question>"``, or the bare question; ``text.scienceqa_problem``).
- multihiertt: the bare question; answer ``"\\nComputations: <program>\\nAnswer: <value>."``.

Each turn is one sample of the subset's paper type (section 3.1: yes_no, multiple_choice or chart), all
turns sharing the row's one image; the instruction boilerplate is stripped from the question and the answer
prefix from the answer. A turn that does not fit its type is a counted skip; so is a row without exactly
one image.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from mixed_r1.data.schema import MAX_OPTIONS, Sample
from mixed_r1.data.sources.base import Context, Converter, Skip, require
from mixed_r1.data.sources.text import (
    option_letter,
    plain_number,
    scienceqa_problem,
    scienceqa_sections,
    split_options,
    strip_answer_prefix,
    yes_no,
)

# the hints build_ds_sft.py appends after "\n" (PROMPTS_ANSWER_SHORTLY and QUESTION_BRIEVETY_HINT there)
SHORT_ANSWER_HINTS = ("Give a very brief answer.", "Answer briefly.", "Write a very short answer.",
                      "Quick response, please.", "Short answer required.", "Keep it brief.", "Concise answer only.",
                      "Be succinct.")
BREVITY_HINTS = ("Make the answer very short.", "Give a very brief answer.", "Your answer should be very brief.",
                 "Offer a terse response.", "Provide a succinct answer.", "Keep it short and to the point.",
                 "Ensure brevity in your answer.", "Offer a very short reply.", "Your response must be concise.",
                 "Your answer should be compact.", "Provide a short and direct response.")
YES_NO_HINTS = ("Answer yes or no.",)
LETTER_HINTS = ("Answer with the letter.",)
# first lines of the instruction blocks the re-prompted variants put before "Question: <q>"
CHARTQA_PREAMBLE = "For the question below, follow the following instructions:"
DOCVQA_PREAMBLE = "Give a short and terse answer to the following question."

_QUESTION_LABEL = re.compile(r"^\s*Question\s*:\s*", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^\s*Answer\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Subset:
    """How one subset is phrased: its paper type, the hints ending its questions, the blocks opening them."""

    type: str
    hints: tuple[str, ...] = ()
    preambles: tuple[str, ...] = ()
    #: the problem from the question text left after the options are split off (default: that text)
    problem: Callable[[str], str] | None = None


def _scienceqa(text: str) -> str:
    """The same problem the ``scienceqa`` converter gives for the item: the labelled sections parsed."""
    return scienceqa_problem(*scienceqa_sections(text))


SUBSETS: dict[str, Subset] = {
    "mapqa": Subset("yes_no", SHORT_ANSWER_HINTS),
    "clevr": Subset("yes_no", BREVITY_HINTS),
    "figureqa": Subset("yes_no", YES_NO_HINTS),
    "vsr": Subset("yes_no", YES_NO_HINTS),
    "ai2d": Subset("multiple_choice", LETTER_HINTS),
    "scienceqa": Subset("multiple_choice", LETTER_HINTS, problem=_scienceqa),
    "chartqa": Subset("chart", SHORT_ANSWER_HINTS, (CHARTQA_PREAMBLE,)),
    "docvqa": Subset("chart", BREVITY_HINTS, (DOCVQA_PREAMBLE,)),
    "infographic_vqa": Subset("chart", SHORT_ANSWER_HINTS),
    "multihiertt": Subset("chart"),
}


def clean_question(text: str, subset: Subset) -> str:
    """The question without the subset's instruction block, its closing hint line and a 'Question:' label."""
    text = text.strip()
    for preamble in subset.preambles:
        start = text.find("\nQuestion:")
        if text.startswith(preamble) and start >= 0:
            text = text[start + 1:]
    lines = text.splitlines()
    hints = {hint.lower() for hint in subset.hints}
    if len(lines) > 1 and lines[-1].strip().lower() in hints:
        lines = lines[:-1]
    return _QUESTION_LABEL.sub("", "\n".join(lines).strip(), count=1)


def final_answer(text: str) -> str:
    """The answer a turn ends with, without its 'Answer:' prefix: the turn's one line, or the closing
    'Answer: ...' line after a worked solution (MultiHiertt's 'Computations: ...' line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and not _ANSWER_LINE.match(lines[-1]):
        raise Skip("no final answer line", repr(text))
    return strip_answer_prefix(lines[-1]) if lines else ""


def _number(answer: str) -> str:
    number = plain_number(answer)  # correct_casing() ended every short answer with a period ("14."): dropped there
    if number is None:
        raise Skip("answer is not a number", repr(answer))
    return number


def _yes_no(answer: str) -> str:
    word = yes_no(answer)
    if word is None:
        raise Skip("answer is not yes/no", repr(answer))
    return word


def read_turn(turn: Any, subset: Subset) -> tuple[str, str, list[str] | None]:
    """``(problem, answer, options)`` of one turn, or a counted Skip saying why it does not fit its type."""
    user, assistant = require(turn, "user"), require(turn, "assistant")
    question, answer = clean_question(user, subset), final_answer(assistant)
    options = None
    if subset.type == "multiple_choice":
        parsed = split_options(question)
        if parsed is None:
            raise Skip("no options in the question", repr(user[:80]))
        question, options = parsed
        if subset.problem is not None:
            question = subset.problem(question)
        letter = option_letter(answer, len(options))
        if letter is None:
            lettered = option_letter(answer, MAX_OPTIONS) is not None
            reason = "answer letter not among the options" if lettered else "answer is not a letter"
            raise Skip(reason, f"{answer!r} with {len(options)} options")
        answer = letter
    else:
        answer = _yes_no(answer) if subset.type == "yes_no" else _number(answer)
    if not question:
        raise Skip("malformed record", "empty question")
    return question, answer, options


def converter(name: str) -> Converter:
    """The converter of subset ``name``: one sample per convertible turn, all on the row's one image."""
    subset = SUBSETS[name]

    def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
        texts = require(record, "texts", list)
        if not texts:
            raise Skip("malformed record", "field 'texts' is empty")
        turns: list[tuple[int, Any, tuple[str, str, list[str] | None] | Skip]] = []
        for number, turn in enumerate(texts):
            try:
                turns.append((number, turn, read_turn(turn, subset)))
            except Skip as skip:
                turns.append((number, turn, skip))
        if all(isinstance(read, Skip) for _, _, read in turns):  # nothing to write: leave its image unwritten
            yield from (Skip(read.reason, f"turn {n}: {read.detail}") for n, _, read in turns if isinstance(read, Skip))
            return
        image, size = ctx.images.image(record.get("images"))  # not exactly one image: the row is skipped
        for number, turn, read in turns:
            if isinstance(read, Skip):
                yield Skip(read.reason, f"turn {number}: {read.detail}")
                continue
            problem, answer, options = read
            meta: dict[str, Any] = {"subset": name, "turn": number}
            if isinstance(turn.get("source"), str):
                meta["turn_source"] = turn["source"]
            yield Sample(id=ctx.sample_id(ctx.index, number), image=image, problem=problem, answer=answer,
                         type=subset.type, source=name, image_size=size, options=options, meta=meta)

    convert.__doc__ = f"the_cauldron '{name}' rows -> {subset.type} samples, one per turn."
    return convert


SOURCES: dict[str, Converter] = {f"cauldron_{name}": converter(name) for name in SUBSETS}
