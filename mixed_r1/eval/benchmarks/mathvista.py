"""MathVista testmini: 1,000 math questions on images, scored by extracting the answer, normalising it to the
question's answer type and comparing it with the published answer.

Layout read (``AI4Math/MathVista``, split ``testmini``, as ``hf download AI4Math/MathVista --repo-type dataset
--local-dir <data_root>/MathVista`` lays it out: ``data/testmini-00000-of-00001-<hash>.parquet``; any parquet or
arrow file below the folder whose name carries the word ``testmini`` is read, so a ``datasets`` cache file
``math_vista-testmini.arrow`` works too). Fields (dataset card): ``pid``, ``question``, ``image`` (a path string),
``decoded_image`` (the embedded image, ``{"bytes", "path"}``), ``choices`` (list of texts, null for free-form),
``unit``, ``precision`` (float64, null unless the answer is a float), ``answer`` (a string: the choice text for
multiple choice), ``question_type`` (``multi_choice`` / ``free_form``), ``answer_type`` (``text`` / ``integer`` /
``float`` / ``list``), ``metadata`` (split, language, source, category, task, context, grade, skills), ``query``
(the official prompt: answer hint, question, lettered choices).

Official rule (lupantech/MathVista ``evaluation/extract_answer.py`` and ``evaluation/calculate_score.py``; the same
in lmms-eval ``lmms_eval/tasks/mathvista/mathvista_evals.py``): GPT extracts the answer from the response (prompt:
``evaluation/prompts/ext_ans.py``'s demo prompt, then the query, the response and ``Extracted answer: ``); the
extraction is normalised — multiple choice: the first ``(X)`` letter or a bare letter names that choice, anything
else the choice nearest in edit distance; integer: ``str(int(float(x)))`` (so 3.7 reads 3); float:
``str(round(float(x), int(precision)))``; list: ``str(x)`` — and compared with ``answer``; the score is the mean
accuracy. lmms-eval's ``mathvista_testmini`` group (``mathvista_testmini.yaml``) runs three prompt variants; its
long-standing default and the direct-answer one is ``format-prompt`` (``mathvista_testmini_format.yaml``), which
:func:`direct_prompt` builds: the question (with ``(Unit: u)``), ``A. text`` lines, then a one-line instruction.

Deviations, all in the extraction (the normalisation and comparison are the official ones):

- GPT extraction is replaced by rules (:func:`extract`). Candidates, most specific first: the last ``\\boxed{}``,
  the text after the last "answer is"/"Answer:", the whole reply, its last line. Multiple choice: every candidate
  is first read strictly (:func:`choice_index`: a choice letter, a choice text, a number equal to exactly one
  choice's number), then as prose (:func:`choice_in_prose`: a letter followed by its reason, 'C, since ...';
  else the one choice whose text stands in the sentence as words of its own, 'The angle measures 135°.'; two
  choices named: unreadable). Integer/float: a number. List: the last ``[a, b]``, a bare 'a, b' / 'a and b',
  else the last numbers joined so in a sentence ('between 2007 and 2008': the extraction prompt's own
  example). Every worked example of the official extraction prompt is read as GPT reads it (tested). The
  runner may plug in a local LLM instead: :func:`extraction_prompt` builds the official GPT prompt and
  :func:`judge_extracted` scores the LLM's extraction by the official normalisation.
- A reply naming no choice is wrong (``parsed`` None); officially an empty or unreadable extraction still
  becomes the nearest choice by edit distance, a free guess. :func:`judge_extracted` keeps the edit-distance
  pick for a non-empty LLM extraction, as the official code does.
- Numbers are compared by value: an integer answer by ``int``, a float by ``round(x, precision)`` on both sides,
  a list element by element; the official string comparison agrees whenever the answer is written as Python
  prints it, which holds for every testmini answer. A missing precision is read from the answer's decimals.
"""
from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from mixed_r1.errors import DataError
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, read_rows, split_shards
from mixed_r1.eval.benchmarks.parsing import (
    BRACKETED_LETTER,
    MAX_READ,
    choice_index,
    item_images,
    last_boxed,
    number_of,
    text_list,
    tidy,
)
from mixed_r1.eval.benchmarks.tiny_sets import (
    FLOAT64,
    IMAGE,
    IMAGE_SIZE,
    INT64,
    STRING,
    STRINGS,
    Asked,
    Columns,
    Row,
    Shard,
    bar_mean,
    bar_pair,
    bar_value,
    hf_image,
    shape_choice,
)
from mixed_r1.rewards.matching import normalise, option_letters

SPLIT = "testmini"
IMAGE_FIELD = "decoded_image"
MAX_SCAN = 20_000  # the last number of a long reply is looked for in its tail only

# ----------------------------------------------------------------------------- reading a reply
_ANSWER_WORD = re.compile(r"answer\b\s*(?:is|was|would\s+be|will\s+be|should\s+be)?\s*[:=]?", re.IGNORECASE)
_NUMBER = re.compile(r"[-+−]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")
# a letter then its reason: "C, since the angle is obtuse", "C because ..." (not "A, B and C are ...")
_LETTER_REASON = re.compile(r"\(?(?P<letter>[A-Za-z])\)?\s*[,;:\-–—]?\s+(?:because|since|as|given|which|due|for)\b",
                            re.IGNORECASE)
# numbers joined as a list in a sentence: "between 2007 and 2008", "2, 3, and 5"
_LIST_JOIN = re.compile(r"\s*(?:,\s*and|,|;|and|&)\s*", re.IGNORECASE)
_LIST = re.compile(r"\[([^\[\]]*)\]")
_LIST_SEP = re.compile(r"\s*(?:,|;|\band\b)\s*")


def _after_answer_word(text: str) -> str | None:
    """The first line (and sentence) after the last 'answer is' / 'Answer:' of ``text``, or None."""
    lower = text.lower()
    at = lower.rfind("answer")
    while at >= 0:
        match = _ANSWER_WORD.match(text, at)
        if match:
            tail = text[match.end():].strip().split("\n", 1)[0]
            return tail.split(". ", 1)[0].strip()
        at = lower.rfind("answer", 0, at)
    return None


def candidates(text: str) -> list[str]:
    """Where a reply's answer may be, most specific first: the last box, the text after the last 'answer is',
    the whole reply, its last line."""
    text = text.strip()
    found = [c for c in (last_boxed(text), _after_answer_word(text), text) if c]
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        found.append(lines[-1].strip())
    return found


def choice_in_prose(text: str, choices: Sequence[str]) -> int | None:
    """The choice a sentence names when no :func:`choice_index` reading does (what GPT extraction reads): a
    letter followed by its reason ('C, since the angle is obtuse', 'C because ...'), else the one choice whose
    text stands in it as words of its own."""
    short = tidy(text)
    if not short or len(short) > MAX_READ or not choices:
        return None
    letters = option_letters(len(choices))
    reason = _LETTER_REASON.match(short)
    if reason and reason.group("letter").upper() in letters:
        return letters.index(reason.group("letter").upper())
    return _choice_in_sentence(short, choices)


def _choice_in_sentence(text: str, choices: Sequence[str]) -> int | None:
    """The one choice whose text stands in ``text`` as words of its own ('The angle measures 135°.' with a
    choice '135°'); a choice found only inside a longer found one ('red' in 'dark red') does not count. None when
    no choice or several do."""
    lower = text.lower()
    found = []
    for index, choice in enumerate(choices):
        needle = choice.strip().lower()
        if needle and re.search(rf"(?<![\w.]){re.escape(needle)}(?![\w]|\.\d)", lower):
            found.append(index)
    texts = {i: choices[i].strip().lower() for i in found}
    alone = [i for i in found if not any(j != i and texts[i] in texts[j] for j in found)]
    return alone[0] if len(alone) == 1 else None


def _number_text(value: Fraction) -> str | None:
    """A number as a reply would write it: '14', '1.45' (None when it does not fit a float)."""
    if value.denominator == 1:
        return str(value.numerator)
    try:
        return repr(float(value))
    except OverflowError:
        return None


def _first_number(text: str) -> Fraction | None:
    match = _NUMBER.search(text)
    return number_of(match.group()) if match else None


def _read_number(text: str) -> str | None:
    """A reply's number: one number in a candidate (after its last '='); else the first number in its box or after
    its 'answer is' ('The answer is 5 because 2 + 3'); else the reply's last number."""
    found = candidates(text)
    for candidate in found:
        if len(candidate) > MAX_READ:
            continue
        value = number_of(tidy(candidate.rsplit("=", 1)[-1]))
        if value is not None:
            return _number_text(value)
    for specific in (last_boxed(text), _after_answer_word(text)):
        value = _first_number(specific[:MAX_READ]) if specific else None
        if value is not None:
            return _number_text(value)
    for number in reversed(_NUMBER.findall(text[-MAX_SCAN:])):
        value = number_of(number)
        if value is not None:
            return _number_text(value)
    return None


def _numbers_joined(text: str) -> list[str] | None:
    """The last run of two or more numbers joined by ',' / ';' / 'and' in a sentence ('The line graph saw its
    maximum peak between 2007 and 2008.' -> 2007, 2008: the official extraction prompt's own example)."""
    runs: list[list[str]] = []
    previous_end = -1
    for match in _NUMBER.finditer(text):
        number = match.group().rstrip(",")  # "2, 3": the comma joins, it is not part of the 2
        if previous_end >= 0 and _LIST_JOIN.fullmatch(text[previous_end:match.start()]):
            runs[-1].append(number)
        else:
            runs.append([number])
        previous_end = match.start() + len(number)
    lists = [run for run in runs if len(run) > 1]
    return lists[-1] if lists else None


def _list_items(text: str) -> list[str] | None:
    """The items of the last '[a, b, ...]' in ``text``, of a bare 'a, b' / 'a and b' of numbers, or of the last
    numbers joined so inside a sentence."""
    found = _LIST.findall(text[-MAX_SCAN:])
    if found:
        body = found[-1]
    else:
        body = tidy(text)
        if len(body) > MAX_READ:
            return None
        if not _LIST_SEP.search(body) or any(number_of(item) is None for item in _LIST_SEP.split(body.strip())):
            return _numbers_joined(body)
    items = [item.strip().strip("'\"") for item in _LIST_SEP.split(body.strip())]
    if not items or any(not item for item in items):
        return None
    if not found and any(number_of(item) is None for item in items):
        return None
    return items


def _read_list(text: str) -> str | None:
    for candidate in candidates(text):
        items = _list_items(candidate)
        if items is not None:
            return "[" + ", ".join(items) + "]"
    return None


def extract(record: dict[str, Any], response: str) -> str | None:
    """The rule-based stand-in for the official GPT extraction: what the reply answers, as the extraction prompt
    asks for it (a choice letter, a number, a list, a text), or None when it answers nothing readable."""
    if not isinstance(response, str) or not response.strip():
        return None
    choices = text_list(record.get("choices"))
    if record.get("question_type") == "multi_choice" and choices:
        if response in choices:  # the official shortcut, kept as a letter so normalisation cannot misread it
            return option_letters(len(choices))[choices.index(response)]
        found = candidates(response)
        for read in (choice_index, choice_in_prose):  # every candidate read strictly first, then as prose
            for candidate in found:
                index = read(candidate, choices)
                if index is not None:
                    return option_letters(len(choices))[index]
        return None
    answer_type = record.get("answer_type")
    if answer_type in ("integer", "float"):
        return _read_number(response)
    if answer_type == "list":
        return _read_list(response)
    short = tidy(last_boxed(response) or response)
    return short if short and len(short) <= MAX_READ else None


# ----------------------------------------------------------------------------- the official normalisation
def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (the official ``Levenshtein.distance``)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _normalised_choice(extraction: str, choices: list[str]) -> str:
    """The official multiple-choice normalisation: the first '(X)', a bare capital letter, (here also any reading
    of :func:`choice_index`), else the choice nearest in edit distance."""
    letters = option_letters(len(choices))
    bracketed = BRACKETED_LETTER.search(extraction)
    letter = bracketed.group(1).upper() if bracketed else extraction
    if letter in letters:
        return choices[letters.index(letter)]
    index = choice_index(extraction, choices)
    if index is not None:
        return choices[index]
    short = extraction[:MAX_READ]
    distances = [_edit_distance(short, choice) for choice in choices]
    return choices[distances.index(min(distances))]


def _float_of(text: str) -> float | None:
    """``float(text)`` as the official code reads an extraction, else the number a rule reads in it."""
    try:
        return float(text)
    except (ValueError, OverflowError):
        pass
    value = number_of(text)
    try:
        return float(value) if value is not None else None
    except OverflowError:
        return None


def precision_of(record: dict[str, Any]) -> int:
    """Decimal places of a float answer: the published ``precision``, else the answer's own decimals."""
    raw = record.get("precision")
    try:
        value = float(raw) if raw is not None else math.nan
        if math.isfinite(value) and value >= 0:
            return int(value)
    except (TypeError, ValueError):
        pass
    answer = str(record.get("answer", ""))
    return len(answer.split(".", 1)[1]) if "." in answer else 0


def _list_key(items: Sequence[str]) -> tuple[str, ...]:
    """List items compared by value when numbers ('2014' == '2014.0'), else by normalised text."""
    keys = []
    for item in items:
        value = number_of(item)
        keys.append(str(value) if value is not None else normalise(item))
    return tuple(keys)


def _truth_choice(record: dict[str, Any], choices: list[str]) -> str:
    """The right choice's text: the published answer; a letter answer (not published so) names its choice."""
    answer = str(record.get("answer", "")).strip()
    letters = option_letters(len(choices))
    if answer not in [c.strip() for c in choices] and answer.upper() in letters and len(answer) == 1:
        return choices[letters.index(answer.upper())].strip()
    return answer


def judge_extracted(record: dict[str, Any], extracted: str | None) -> Judgement:
    """The official normalisation and comparison of an extraction (the rule-based one of :func:`extract`, or a
    local LLM's answer to :func:`extraction_prompt`) against the record's ``answer``."""
    if not isinstance(extracted, str) or not extracted.strip():
        return Judgement(False, None)
    extracted = extracted.strip()
    choices = text_list(record.get("choices"))
    answer = str(record.get("answer", "")).strip()
    answer_type = record.get("answer_type")
    if record.get("question_type") == "multi_choice" and choices:
        chosen = _normalised_choice(extracted, choices).strip()
        return Judgement(chosen == _truth_choice(record, choices), chosen)
    if answer_type in ("integer", "float"):
        value, truth = _float_of(extracted), _float_of(answer)
        if value is None or not math.isfinite(value):
            return Judgement(False, None)
        if answer_type == "integer":
            said = int(value)
            return Judgement(truth is not None and math.isfinite(truth) and said == int(truth), str(said))
        places = precision_of(record)
        rounded = round(value, places)
        return Judgement(truth is not None and rounded == round(truth, places), str(rounded))
    if answer_type == "list":
        items, truth_items = _list_items(extracted), _list_items(answer)
        if items is None:
            return Judgement(False, None)
        parsed = "[" + ", ".join(items) + "]"
        return Judgement(truth_items is not None and _list_key(items) == _list_key(truth_items), parsed)
    return Judgement(normalise(extracted) == normalise(answer) and bool(normalise(answer)), extracted)


def judge(record: dict[str, Any], answer: str) -> Judgement:
    """Rule-based extraction (:func:`extract`), then the official normalisation and comparison."""
    return judge_extracted(record, extract(record, answer))


# ----------------------------------------------------------------------------- the official extraction prompt
# evaluation/prompts/ext_ans.py of lupantech/MathVista (DEMO_PROMPT in lmms-eval's mathvista_evals.py): the
# few-shot prompt GPT answers with the extracted answer. Kept verbatim: it is data the extractor model reads.
DEMO_PROMPT = """
Please read the following example. Then extract the answer from the model response and type it at the end of the prompt.

Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.
Question: Which number is missing?

Model response: The number missing in the sequence is 14.

Extracted answer: 14

Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.
Question: What is the fraction of females facing the camera?

Model response: The fraction of females facing the camera is 0.6, which means that six out of ten females in the group are facing the camera.

Extracted answer: 0.6

Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.
Question: How much money does Luca need to buy a sour apple candy and a butterscotch candy? (Unit: $)

Model response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.

Extracted answer: 1.45

Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.
Question: Between which two years does the line  graph saw its maximum peak?

Model response: The line graph saw its maximum peak between 2007 and 2008.

Extracted answer: [2007, 2008]

Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
Question: What fraction of the shape is blue?\nChoices:\n(A) 3/11\n(B) 8/11\n(C) 6/11\n(D) 3/5

Model response: The correct answer is (B) 8/11.

Extracted answer: B
"""  # noqa: E501 (verbatim)

_DECIMALS = {1: "one decimal place", 2: "two decimal places"}
_EXAMPLES = {1: "1.2, 1.3, 1.4", 2: "1.23, 1.34, 1.45"}


def official_hint(record: dict[str, Any]) -> str:
    """The 'Hint: ...' line the published ``query`` opens with (evaluation/build_query.py, shot_type solution)."""
    answer_type = record.get("answer_type")
    if record.get("question_type") == "multi_choice":
        return "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."
    if answer_type == "integer":
        return ("Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, "
                "at the end.")
    if answer_type == "float":
        places = precision_of(record)
        decimals = _DECIMALS.get(places, f"{places} decimal places")
        examples = _EXAMPLES.get(places, "1.2, 1.3, 1.4")
        return (f"Hint: Please answer the question requiring a floating-point number with {decimals} and provide the final "
                f"value, e.g., {examples}, at the end.")
    if answer_type == "list":
        return ("Hint: Please answer the question requiring a Python list as an answer and provide the final list, "
                "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.")
    return "Hint: Please answer the question and provide the final answer at the end."


def official_query(record: dict[str, Any]) -> str:
    """The published ``query`` (the official prompt with its hint), rebuilt when a record lacks it."""
    query = record.get("query")
    if isinstance(query, str) and query.strip():
        return query
    question = f"Question: {record.get('question', '')}"
    if record.get("unit"):
        question += f" (Unit: {record['unit']})"
    parts = [official_hint(record), question]
    choices = text_list(record.get("choices"))
    if choices:
        parts.append("Choices:\n" + "\n".join(f"({letter}) {c}" for letter, c in zip(option_letters(len(choices)), choices)))
    return "\n".join(parts).strip()


def extraction_prompt(record: dict[str, Any], response: str) -> str:
    """The prompt the official code sends to GPT to extract the answer of ``response`` (create_test_prompt):
    the demo prompt, the record's query, the response, then 'Extracted answer: '. A local LLM's reply to it
    goes to :func:`judge_extracted`."""
    return f"{DEMO_PROMPT.strip()}\n\n{official_query(record)}\n\n{response}\n\nExtracted answer: "


# ----------------------------------------------------------------------------- prompts and loading
def _question_line(record: dict[str, Any]) -> str:
    question = str(record.get("question") or "").strip()
    return f"{question} (Unit: {record['unit']})" if record.get("unit") else question


def question_text(record: dict[str, Any]) -> str:
    """The question as the model reads it: the question, its unit, the lettered choices as the query lists them."""
    choices = text_list(record.get("choices"))
    lines = [_question_line(record)]
    if choices:
        lines.append("Choices:")
        lines += [f"({letter}) {choice}" for letter, choice in zip(option_letters(len(choices)), choices)]
    return "\n".join(lines)


def answer_hint(record: dict[str, Any]) -> str:
    """The short answer instruction of the thinking prompt, by answer type."""
    answer_type = record.get("answer_type")
    if record.get("question_type") == "multi_choice":
        return "Answer with the option's letter from the given choices."
    if answer_type == "integer":
        return "Answer with an integer."
    if answer_type == "float":
        places = precision_of(record)
        return f"Answer with a number with {_DECIMALS.get(places, f'{places} decimal places')}."
    if answer_type == "list":
        return "Answer with a Python list, e.g. [1, 2, 3]."
    return "Answer with a word or a short phrase."


def direct_prompt(record: dict[str, Any]) -> str:
    """lmms-eval's ``format-prompt`` (``mathvista_testmini_format``, the group's direct-answer variant):
    question and unit, 'A. text' choice lines, then the one-line answer instruction."""
    answer_type = record.get("answer_type")
    places = precision_of(record)
    if record.get("question_type") == "multi_choice":
        instruction = "Answer with the option's letter from the given choices directly."
    elif answer_type == "integer":
        instruction = "Answer the question using a single integer number."
    elif answer_type == "float":
        decimals = _DECIMALS.get(places, f"{places} decimal places")
        instruction = f"Answer the question using a single floating-point number with {decimals}."
    elif answer_type == "list":
        instruction = "Answer the question using a Python list."
    else:
        instruction = ""
    choices = text_list(record.get("choices"))
    choice_lines = "\n".join(f"{letter}. {choice}" for letter, choice in zip(option_letters(len(choices)), choices))
    return "\n".join(part for part in (_question_line(record), choice_lines, instruction) if part)


# what every published row must hold (Benchmark.columns): read_rows names a file or row without it
COLUMNS = ("pid", "question", "answer", "question_type", "answer_type", IMAGE_FIELD)


def load(folder: Path) -> list[EvalItem]:
    """Every testmini question under ``folder`` (see the module docstring for the layout)."""
    files = split_shards(folder, SPLIT)
    if not files:
        raise DataError(f"{folder}: no parquet/arrow file named '*{SPLIT}*'; download with "
                        f"`hf download AI4Math/MathVista --repo-type dataset --local-dir {folder}`")
    items: list[EvalItem] = []
    seen: set[str] = set()
    for where, row in read_rows(files, COLUMNS):
        pid = str(row.get("pid", "")).strip()
        if not pid or pid in seen:
            raise DataError(f"{where}: {'missing' if not pid else 'duplicate'} pid {pid!r}")
        seen.add(pid)
        record = {k: v for k, v in row.items() if k != IMAGE_FIELD}
        items.append(EvalItem(id=pid, record=record, images=item_images(row, where), question=question_text(record),
                              hint=answer_hint(record), direct_prompt=direct_prompt(record)))
    return items


def aggregate(records: Sequence[dict[str, Any]], scores: Sequence[float]) -> dict[str, float]:
    """Mean accuracy in percent (the official 'average'), and per question type and per category as the
    official score file breaks it down."""
    result = {"score": 100.0 * sum(scores) / len(scores) if scores else float("nan")}
    groups: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        metadata = record.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        for key, value in (("question_type", record.get("question_type")), ("category", metadata.get("category"))):
            if value:
                groups[f"{key}/{value}"].append(score)
    result.update({name: 100.0 * sum(values) / len(values) for name, values in sorted(groups.items())})
    return result


# ----------------------------------------------------------------------------- the tiny synthetic set
PUBLISHED_COLUMNS: Columns = (
    ("pid", STRING), ("question", STRING), ("image", STRING), ("decoded_image", IMAGE), ("choices", STRINGS),
    ("unit", STRING), ("precision", FLOAT64), ("answer", STRING), ("question_type", STRING), ("answer_type", STRING),
    ("metadata", (("category", STRING), ("context", STRING), ("grade", STRING), ("img_height", INT64),
                  ("img_width", INT64), ("language", STRING), ("skills", STRINGS), ("source", STRING),
                  ("split", STRING), ("task", STRING))),
    ("query", STRING),
)
SYNTHETIC_PLACES = 1  # the synthetic float answers' precision


def _synthetic_question(rng: random.Random, kind: int) -> tuple[Asked, dict[str, Any]]:
    """The question of kind ``kind`` (0 choice, 1 integer, 2 float, 3 list) and its type fields."""
    if kind == 0:
        return shape_choice(rng), {"question_type": "multi_choice", "answer_type": "text", "precision": None,
                                   "context": "synthetic scene", "category": "general-vqa", "skills": ["logical reasoning"],
                                   "task": "visual question answering"}
    chart = {"question_type": "free_form", "precision": None, "context": "bar chart", "category": "math-targeted-vqa",
             "skills": ["statistical reasoning"], "task": "figure question answering"}
    if kind == 1:
        return bar_value(rng), {**chart, "answer_type": "integer"}
    if kind == 2:
        return bar_mean(rng, SYNTHETIC_PLACES), {**chart, "answer_type": "float", "precision": float(SYNTHETIC_PLACES),
                                                 "skills": ["arithmetic reasoning", "statistical reasoning"]}
    return bar_pair(rng), {**chart, "answer_type": "list"}


def _synthetic_row(index: int, rng: random.Random) -> Row:
    asked, kind = _synthetic_question(rng, index % 4)
    pid = str(index + 1)
    metadata = {"category": kind["category"], "context": kind["context"], "grade": "elementary school",
                "img_height": IMAGE_SIZE, "img_width": IMAGE_SIZE, "language": "english", "skills": kind["skills"],
                "source": "synthetic", "split": "testmini", "task": kind["task"]}
    record = {"pid": pid, "question": asked.text, "image": f"images/{pid}.png", "choices": list(asked.options) or None,
              "unit": None, "precision": kind["precision"], "answer": asked.answer, "question_type": kind["question_type"],
              "answer_type": kind["answer_type"], "metadata": metadata}
    return {**record, "decoded_image": hf_image(asked.scenes[0], f"{pid}.png"), "query": official_query(record)}


def synthetic_shards(rng: random.Random, count: int) -> list[Shard]:
    """``count`` testmini questions as ``data/testmini-00000-of-00001-725687bf7a18d64b.parquet``, kinds in turn:
    multiple choice (the answer the choice's text), free-form integer, float (with ``precision``) and list; the
    ``query`` built as the official one."""
    rows = [_synthetic_row(i, rng) for i in range(count)]
    return [Shard("data/testmini-00000-of-00001-725687bf7a18d64b.parquet", PUBLISHED_COLUMNS, rows)]


BENCHMARK = Benchmark(
    name="mathvista",
    column="MathVista",
    lmms_task="mathvista_testmini",
    hf_id="AI4Math/MathVista",
    split=SPLIT,
    folder="MathVista",
    load=load,
    judge=judge,
    synthetic=synthetic_shards,
    aggregate=aggregate,
    rule_source="lupantech/MathVista evaluation/extract_answer.py + calculate_score.py; "
                "lmms-eval lmms_eval/tasks/mathvista/mathvista_evals.py (format-prompt)",
    columns=COLUMNS,
)
