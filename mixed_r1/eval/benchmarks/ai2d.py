"""AI2D test: 3,088 multiple-choice questions on grade-school science diagrams, answered with an option letter.

Layout read (``lmms-lab/ai2d``, split ``test``, as ``hf download lmms-lab/ai2d --repo-type dataset
--local-dir <data_root>/ai2d`` lays it out: ``data/test-00000-of-00002.parquet``,
``data/test-00001-of-00002.parquet``; any parquet/arrow file below the folder whose name carries ``test``
is read, in name order): ``question``, ``options`` (a list of strings), ``answer`` (the right option's
index as a *string*, "2" for the third option), ``image`` (embedded HF image). Records carry no id: an
item's id is its row number in published order ("0" .. "3087", counted across the shards in name order).

Prompt (lmms-eval ``lmms_eval/tasks/ai2d/utils.py`` ``ai2d_doc_to_text``, ``ai2d.yaml`` default
``prompt_format: mcq``): the question, one option a line as ``A. text``, then "\\nAnswer with the option's
letter from the given choices directly.".

Scoring (lmms-eval ``ai2d.yaml``): the target is the answer index as a letter (``ai2d_doc_to_target``:
"2" -> "C"); a reply opening with a letter and a dot ("C. ...") reads as that letter (its
``MultiChoiceRegexFilter``), else the reply must equal the letter ignoring case and punctuation
(``exact_match``). Deviation, more lenient and still deterministic: a reply that is not a leading
"X." is read by the project's option matcher (:func:`mixed_r1.rewards.matching.choice_letter`), which
also takes "The answer is C", "(C)", "**C**", "C text-of-C" and the text of exactly one option; a reply
naming no option (or an ambiguous one) is unparseable (``parsed=None``).
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from mixed_r1.errors import DataError
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, read_rows, split_shards
from mixed_r1.eval.benchmarks.parsing import literal_list
from mixed_r1.eval.benchmarks.tiny_sets import IMAGE, STRING, STRINGS, Columns, Row, Shard, bar_choice, hf_image, shape_choice
from mixed_r1.rewards.matching import choice_letter, option_letters

SPLIT = "test"
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."  # lmms-eval ai2d.yaml
HINT = "Answer with the option's letter from the given choices."
_LEADING_LETTER = re.compile(r"\s*([A-Z])\.")  # lmms-eval's filter: ^\s*([A-Z])\.


def record_options(record: dict[str, Any]) -> list[str]:
    """The record's options as strings ([] when the field is missing or malformed)."""
    return literal_list(record.get("options")) or []


def gold_letter(record: dict[str, Any]) -> str | None:
    """The right option's letter: the ``answer`` index ("2" or 2) as a letter; None when out of range."""
    letters = option_letters(len(record_options(record)))
    answer = record.get("answer")
    text = str(answer).strip() if isinstance(answer, (str, int)) and not isinstance(answer, bool) else ""
    if text.isdecimal() and int(text) < len(letters):
        return letters[int(text)]
    return None


def lettered(question: str, options: list[str]) -> str:
    """The question and its options as lmms-eval's ``mcq`` format lists them."""
    lines = "\n".join(f"{letter}. {option}" for letter, option in zip(option_letters(len(options)), options))
    return f"{question}\n{lines}"


def item(index: int, record: dict[str, Any], where: str) -> EvalItem:
    """Row ``index`` as a model input; the image is kept apart from the scorer's record."""
    if not isinstance(record.get("question"), str) or record.get("image") is None:
        raise DataError(f"{where}: an AI2D record needs a string 'question' and an 'image'")
    kept = {k: v for k, v in record.items() if k != "image"}
    question = lettered(record["question"], record_options(record))
    return EvalItem(id=str(index), record=kept, images=(record["image"],), question=question, hint=HINT,
                    direct_prompt=question + POST_PROMPT)


# what every published row must hold (Benchmark.columns): read_rows names a file or row without it
COLUMNS = ("question", "options", "answer", "image")


def load(folder: Path) -> list[EvalItem]:
    """Every test record below ``folder``, numbered in published order."""
    rows = read_rows(split_shards(folder, SPLIT), COLUMNS)
    return [item(index, record, where) for index, (where, record) in enumerate(rows)]


def parse_choice(answer: str, options: list[str]) -> str | None:
    """The letter a reply names: lmms-eval's leading 'X.' first, else the project's option matcher."""
    letters = option_letters(len(options))
    match = _LEADING_LETTER.match(answer)
    if match and match.group(1) in letters:
        return match.group(1)
    return choice_letter(answer, options) if options else None


def judge(record: dict[str, Any], answer: str) -> Judgement:
    """Right when the reply names the option at the record's answer index; never raises on model text."""
    answer = answer if isinstance(answer, str) else ""
    letter = parse_choice(answer, record_options(record))
    gold = gold_letter(record)
    return Judgement(correct=gold is not None and letter == gold, parsed=letter)


# ----------------------------------------------------------------------------- the tiny synthetic set
PUBLISHED_COLUMNS: Columns = (("question", STRING), ("options", STRINGS), ("answer", STRING), ("image", IMAGE))


def _synthetic_row(index: int, rng: random.Random) -> Row:
    asked = shape_choice(rng) if index % 2 == 0 else bar_choice(rng, 4)
    return {"question": asked.text, "options": list(asked.options), "answer": str(asked.index),
            "image": hf_image(asked.scenes[0], f"{index}.png")}


def synthetic_shards(rng: random.Random, count: int) -> list[Shard]:
    """``count`` test questions (an options list, the answer's index as a string) split in two halves as
    ``data/test-00000-of-00002.parquet`` and ``data/test-00001-of-00002.parquet``; the second is empty for one."""
    rows = [_synthetic_row(i, rng) for i in range(count)]
    half = (count + 1) // 2
    return [Shard("data/test-00000-of-00002.parquet", PUBLISHED_COLUMNS, rows[:half]),
            Shard("data/test-00001-of-00002.parquet", PUBLISHED_COLUMNS, rows[half:])]


BENCHMARK = Benchmark(
    name="ai2d",
    column="AI2D",
    lmms_task="ai2d",
    hf_id="lmms-lab/ai2d",
    split=SPLIT,
    folder="ai2d",
    load=load,
    judge=judge,
    synthetic=synthetic_shards,
    rule_source="lmms-eval lmms_eval/tasks/ai2d (utils.py ai2d_doc_to_target, MultiChoiceRegexFilter; ai2d.yaml exact_match)",
    columns=COLUMNS,
)
