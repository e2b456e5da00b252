"""R1-V records (Deep-Agent/R1-V: ``image``, ``problem``, ``<answer>`` solution) -> yes_no, multiple_choice, chart; export too.

Layout: the Hugging Face datasets R1-V trains on (``src/r1-v/src/open_r1/grpo.py`` loads them with
``load_dataset``; README "Supported Training Datasets"): ``leonardPKU/clevr_cogen_a_train`` (CLEVR-70k
counting), ``MMInstruction/Clevr_CoGenT_TrainA_70K_Complex``, ``leonardPKU/GEOQA_R1V_Train_8K``,
``MMInstruction/Clevr_CoGenT_TrainA_R1`` (parquet rows, ``image`` an embedded ``{"bytes", "path"}`` dict),
and their source form, an ``imagefolder`` ``metadata.jsonl`` (``src/distill_r1/create_hf_dataset.py``:
``file_name``, ``problem``, ``solution``, ``thinking``). JSON/JSONL records with ``image`` as a path (relative
to the image folder) are read too. Other fields (``thinking``) are ignored.

R1-V has no type field; its accuracy reward (``accuracy_reward`` in grpo.py) is math-verify, then exact
match of the ``<answer>`` text. The type is read off the answer (:func:`read_answer`): an option letter
(or option text) of lettered options in the problem -> multiple_choice; yes/no -> yes_no; one plain
number -> chart (CLEVR counting answers are numbers, so chart-typed here although the paper lists CLEVR
under yes/no; a degree sign is allowed: GeoQA's ``140°``); anything else is skipped ("answer type not
recognised"). A solution without ``<answer>`` tags is taken whole, as R1-V's reward does.

Export (:func:`export`): ``{"image": path, "problem": question (+ options as lettered lines), "solution":
"<answer> X </answer>"}``, one JSON object per line. R1-V's reward cannot score a box or free text:
grounding and open_ended samples are skipped with a counted reason. To train R1-V on it, load it as
``load_dataset("json", data_files=FILE)`` and ``cast_column("image", datasets.Image())`` (the image paths
are relative to ``--image-root``, the folder to run from).
"""
from __future__ import annotations

import re
from typing import Any, Iterator, NamedTuple

from mixed_r1.data.schema import MAX_OPTIONS, Sample
from mixed_r1.data.sources.base import Context, ExportContext, Skip, require
from mixed_r1.data.sources.text import index_letter, option_letter, plain_number, split_options, yes_no

_ANSWER_TAGS = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


class Typed(NamedTuple):
    """A question and answer in one of our types (``answer`` a box for grounding)."""

    type: str
    problem: str
    answer: str | list[float]
    options: list[str] | None = None


def answer_text(solution: str) -> str:
    """The text inside ``<answer> ... </answer>``, or the whole solution when it has no tags (R1-V's reward
    reads it the same way)."""
    match = _ANSWER_TAGS.search(solution)
    return (match.group(1) if match else solution).strip()


def _by_text(answer: str, options: list[str]) -> str | None:
    """The letter of the one option whose text is the answer (any case), if exactly one is."""
    hits = [index_letter(i) for i, option in enumerate(options) if option.strip().lower() == answer.strip().lower()]
    return hits[0] if len(hits) == 1 else None


def _choice(problem: str, answer: str) -> Typed | None:
    split = split_options(problem)
    if split is None:
        return None
    question, options = split
    letter = option_letter(answer, len(options)) or _by_text(answer, options)
    return Typed("multiple_choice", question, letter, options) if letter else None


def multiple_choice(problem: str, answer: str) -> Typed:
    """A multiple-choice question: lettered options listed in ``problem``, ``answer`` naming one of them."""
    typed = _choice(problem, answer)
    if typed is not None:
        return typed
    split = split_options(problem)
    if split is None:
        raise Skip("no options in the question", problem[:80])
    if option_letter(answer, MAX_OPTIONS):
        raise Skip("answer letter not among the options", f"{answer!r} of {len(split[1])} options")
    raise Skip("answer is not an option letter", repr(answer))


def read_answer(problem: str, answer: str) -> Typed:
    """The type of a question whose layout has no type field, read off the answer: an option of the
    listed options, yes/no, or one plain number; anything else is a counted skip."""
    typed = _choice(problem, answer)
    if typed is not None:
        return typed
    verdict = yes_no(answer)
    if verdict is not None:
        return Typed("yes_no", problem, verdict)
    number = plain_number(answer)
    if number is not None:
        return Typed("chart", problem, number)
    if option_letter(answer, MAX_OPTIONS):
        reason = "answer letter not among the options" if split_options(problem) else "no options in the question"
        raise Skip(reason, f"answer {answer!r}")
    raise Skip("answer type not recognised", repr(answer[:80]))


def problem_text(sample: Sample) -> str:
    """The question as a peer reads it: a multiple-choice question gets its options as lettered lines
    (the form :func:`~mixed_r1.data.sources.text.split_options` reads back)."""
    if sample.type != "multiple_choice" or not sample.options:
        return sample.problem
    if any(not option.strip() or "\n" in option for option in sample.options):
        raise Skip("options cannot be listed one per line", repr(sample.options))
    return sample.problem + "\n" + "\n".join(f"{index_letter(i)}. {o.strip()}" for i, o in enumerate(sample.options))


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    problem = require(record, "problem").strip()
    solution = require(record, "solution", (str, int, float))
    answer = answer_text(str(solution))
    if not answer:
        raise Skip("malformed record", "the <answer> is empty")
    typed = read_answer(problem, answer)
    image_value = record.get("image") if record.get("image") is not None else record.get("file_name")
    image, size = ctx.images.image(image_value)
    yield Sample(id=ctx.sample_id(), image=image, problem=typed.problem, answer=typed.answer, type=typed.type,
                 source="r1_v", image_size=size, options=typed.options)


def export(sample: Sample, ctx: ExportContext) -> dict[str, Any]:
    """One R1-V record; a box or free text cannot be scored by R1-V's accuracy reward and is skipped."""
    if sample.type == "grounding":
        raise Skip("grounding cannot be scored by R1-V", "R1-V's accuracy reward compares answer text, not boxes")
    if sample.type == "open_ended":
        raise Skip("open_ended cannot be scored by R1-V", "R1-V's accuracy reward is exact match, not free text")
    return {"image": ctx.image_path(sample), "problem": problem_text(sample), "solution": f"<answer> {sample.answer} </answer>"}


SOURCES = {"r1_v": convert}
EXPORTS = {"r1_v": export}
