"""MMMU val: 900 college-level questions over 30 subjects, multiple-choice and open, with 1-7 images each.

Layout read (``lmms-lab/MMMU``, split ``validation``, as ``hf download lmms-lab/MMMU --repo-type dataset
--local-dir <data_root>/MMMU`` lays it out: ``data/validation-0000N-of-0000M.parquet``; any parquet/arrow
file below the folder whose name carries ``validation`` is read, the ``dev``/``test`` shards are not):
``id`` ("validation_Art_Theory_3"), ``question`` (with ``<image N>`` placeholders), ``options`` (a
Python-literal *string*, "['cat', 'dog']", "[]" for open questions; read with ``ast.literal_eval``),
``explanation``, ``image_1`` .. ``image_7`` (embedded HF images, None when absent), ``img_type``,
``answer`` (a letter for multiple-choice; for open questions a string, or several accepted answers as a
list literal string "['24/7', '3.429']"), ``topic_difficulty``, ``question_type`` ("multiple-choice" or
"open"), ``subfield``.

Prompt (lmms-eval ``lmms_eval/tasks/mmmu/utils.py`` ``construct_prompt``, ``mmmu_val.yaml``): the question,
then for multiple-choice one option a line as ``A. text`` and "Answer with the option's letter from the
given choices directly."; open questions get "Answer the question using a single word or phrase.". The
``<image N>`` placeholders stay in the text verbatim, as lmms-eval's ``mmmu_doc_to_text`` leaves them
(``interleaved_format: false``; only its chat-message path swaps them for ``<image>`` to interleave). The
images are every non-null ``image_1`` .. ``image_7`` in that order (lmms-eval takes those the prompt names,
sorted: the same images unless a record carries one no placeholder names).

Scoring, the official MMMU rule (MMMU-Benchmark/MMMU ``mmmu/utils/eval_utils.py``, mirrored in lmms-eval's
``tasks/mmmu/utils.py`` and ``tasks/_task_utils/mmmu_mcq_utils.py``):

- multiple-choice: ``parse_multi_choice_response`` as lmms-eval runs it — a bracketed letter "(B)";
  else a letter followed by a space; else a letter followed by "."; else, in a reply of more than five
  words, an option's text; several candidates: the last one in the reply. Right when the letter is the
  answer (``eval_multi_choice``).
- open: ``parse_open_response`` — the tail after the last key phrase ("is ", "so ", "answer ", "=" ...)
  of each line, plus every number in those tails; numbers rounded to 2 decimals, strings lower-cased
  (``normalize_str``); right when a number equals an answer's rounded number or an answer's text is
  contained in a parsed string (``eval_open``).
- the reported number is the accuracy over all 900 (``calculate_ins_level_acc``); per-domain accuracies
  come as extras.

Deviations, each deterministic where the official code is not or fails:

- an unparseable multiple-choice reply is scored wrong with ``parsed=None`` (the official code picks a
  random letter), so the runner counts it;
- a reply holding ``\\boxed{...}`` is scored on the last box's content ("\\boxed{B}" names B) when that box is
  closed (:func:`~mixed_r1.eval.benchmarks.parsing.last_closed_boxed`; an unclosed one leaves the whole reply);
- an open answer stored as a list literal string is unwrapped to its accepted answers (the official
  ``answer_dict_val.json`` holds these three as lists; lmms-eval compares the literal text, so no reply
  can match them), and an open reply is scored on everything it parsed (lmms-eval keeps only
  ``str(parsed[0])`` of an unordered set and then iterates its characters);
- a run of more than 100 digits is left out of number extraction (the official regexes take quadratic
  time on it; no answer has such a number).
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from mixed_r1.errors import DataError
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, read_rows, split_shards
from mixed_r1.eval.benchmarks.parsing import last_closed_boxed, literal_list
from mixed_r1.eval.benchmarks.tiny_sets import (
    IMAGE,
    STRING,
    Columns,
    Row,
    Shard,
    bar_value,
    hf_image,
    shape_choice,
    which_image,
)
from mixed_r1.rewards.matching import option_letters

SPLIT = "validation"
IMAGE_FIELDS = tuple(f"image_{i}" for i in range(1, 8))
MC_PROMPT = "Answer with the option's letter from the given choices directly."  # lmms-eval mmmu_val.yaml
OPEN_PROMPT = "Answer the question using a single word or phrase."
MC_HINT = "Answer with the option's letter from the given choices."
OPEN_HINT = OPEN_PROMPT

DOMAINS: dict[str, tuple[str, ...]] = {  # MMMU's six disciplines and their 30 subjects (data_utils.py)
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
_DOMAIN_OF = {subject: domain for domain, subjects in DOMAINS.items() for subject in subjects}


# ----------------------------------------------------------------------------- record fields



def record_options(record: dict[str, Any]) -> list[str]:
    """The record's options ([] for an open question or a malformed field)."""
    return literal_list(record.get("options")) or []


def gold_answers(record: dict[str, Any]) -> list[str]:
    """The accepted answers: one string, or each item of a list (or list literal string)."""
    answer = record.get("answer")
    listed = literal_list(answer)
    if listed is not None:
        return listed
    return [] if answer is None else [str(answer)]


def is_multiple_choice(record: dict[str, Any]) -> bool:
    """The record's ``question_type`` decides; a record without one is multiple-choice when it has options."""
    kind = record.get("question_type")
    if isinstance(kind, str) and kind.strip():
        return kind.strip() == "multiple-choice"
    return bool(record_options(record))


# ----------------------------------------------------------------------------- prompts and loading
def lettered(options: Sequence[str]) -> str:
    """lmms-eval's option block: 'A. text' lines."""
    return "\n".join(f"{letter}. {option}" for letter, option in zip(option_letters(len(options)), options))


def prompts(record: dict[str, Any]) -> tuple[str, str, str]:
    """``(question, hint, direct_prompt)`` of a record, as lmms-eval's ``construct_prompt`` builds them."""
    question = str(record.get("question") or "")
    if is_multiple_choice(record):
        question = f"{question}\n{lettered(record_options(record))}"
        return question, MC_HINT, f"{question}\n\n{MC_PROMPT}"
    return question, OPEN_HINT, f"{question}\n\n{OPEN_PROMPT}"


def _image_present(value: Any) -> bool:
    return value is not None and not (isinstance(value, dict) and not value.get("bytes") and not value.get("path"))


def item(record: dict[str, Any], where: str) -> EvalItem:
    """One record as a model input: images in ``image_1`` .. ``image_7`` order, the rest kept for the scorer."""
    if not isinstance(record.get("id"), str) or not isinstance(record.get("question"), str):
        raise DataError(f"{where}: an MMMU record needs string 'id' and 'question' fields")
    images = tuple(record[f] for f in IMAGE_FIELDS if _image_present(record.get(f)))
    kept = {k: v for k, v in record.items() if k not in IMAGE_FIELDS}
    question, hint, direct = prompts(kept)
    return EvalItem(id=record["id"], record=kept, images=images, question=question, hint=hint, direct_prompt=direct)


# what every published row must hold (Benchmark.columns): read_rows names a file or row without it
COLUMNS = ("id", "question", "options", "answer", "image_1")


def load(folder: Path) -> list[EvalItem]:
    """Every validation record below ``folder``, in published order."""
    return [item(record, where) for where, record in read_rows(split_shards(folder, SPLIT), COLUMNS)]


# ----------------------------------------------------------------------------- reading a reply
_EDGE_PUNCT = (",", ".", "!", "?", ";", ":", "'")


def parse_multi_choice(reply: str, options: Sequence[str]) -> str | None:
    """The letter a reply names by ``parse_multi_choice_response`` (lmms-eval's version), or None where
    the official code would pick a random letter."""
    letters = option_letters(len(options))
    for char in _EDGE_PUNCT:  # one character kind after another, as the official code strips
        reply = reply.strip(char)
    padded = f" {reply} "
    found = [c for c in letters if f"({c})" in padded]
    where = [padded.rfind(f"({c})") for c in found]
    if not found:
        found = [c for c in letters if f"{c} " in padded] or [c for c in letters if f"{c}." in padded]
        where = [padded.rfind(f" {c} ") for c in found]
    if not found and len(padded.split()) > 5:
        lowered = padded.lower()
        texts = {c: str(o).lower() for c, o in zip(letters, options)}
        found = [c for c in letters if texts[c] in lowered]
        where = [lowered.rfind(texts[c]) for c in found]
    if not found:
        return None
    return found[max(range(len(found)), key=where.__getitem__)]  # the last named; ties: the first letter


_KEY_PHRASES = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}
_COMMA_NUMBER = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_SIMPLE_NUMBER = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")
_DIGIT_RUN = re.compile(r"\d+")
_MAX_DIGITS = 100


def key_responses(reply: str) -> list[str]:
    """``get_key_subresponses``: per line, the shortest tail after a key phrase ('=' too on the last line);
    the whole reply when no line has one. The official split also breaks at '. ' before a capital, but it
    runs on the lower-cased reply, where that never happens: lines are what it splits."""
    text = reply.strip().strip(".").lower()
    lines = text.split("\n")
    keys = []
    for index, line in enumerate(lines):
        phrases = _KEY_PHRASES + ("=",) if index == len(lines) - 1 else _KEY_PHRASES
        shortest: str | None = None
        for phrase in phrases:
            at = line.rfind(phrase)  # no phrase overlaps itself, so this is split(phrase)[-1]
            if at >= 0:
                tail = line[at + len(phrase):].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    return keys or [text]


def extract_numbers(text: str) -> list[str]:
    """``extract_numbers``: numbers with thousands commas, in scientific notation, and plain ones."""
    text = _DIGIT_RUN.sub(lambda m: " " if len(m.group()) > _MAX_DIGITS else m.group(), text)
    return _COMMA_NUMBER.findall(text) + _SCIENTIFIC.findall(text) + _SIMPLE_NUMBER.findall(text)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def normalize(text: str) -> list[str | float]:
    """``normalize_str``: a number rounded to 2 decimals; else the lower-cased text, a one-character text
    padded with a space on either side (so 'c' matches ' c' or 'c ', never inside a word)."""
    text = text.strip()
    number = _number(text)
    if number is not None:
        return [round(number, 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def parse_open(reply: str) -> tuple[list[str], set[str | float]]:
    """``parse_open_response``: the key responses, and every normalised reading of them and of their numbers."""
    keys = key_responses(reply)
    readings: set[str | float] = set()
    for text in keys + [n for key in keys for n in extract_numbers(key)]:
        readings.update(normalize(text))
    return keys, readings


def open_correct(golds: Sequence[str], readings: set[str | float]) -> bool:
    """``eval_open``: a reading equal to a gold number, or a string reading containing a gold text."""
    answers = [a for gold in golds for a in normalize(gold)]
    numbers = {a for a in answers if isinstance(a, float)}
    texts = [a for a in answers if isinstance(a, str)]
    return any(r in numbers if isinstance(r, float) else any(t in r for t in texts) for r in readings)


def judge(record: dict[str, Any], answer: str) -> Judgement:
    """The official MMMU verdict on ``answer`` (the scored part of a reply); never raises on model text."""
    answer = answer if isinstance(answer, str) else ""
    boxed = last_closed_boxed(answer)
    if boxed is not None:
        answer = boxed
    golds = gold_answers(record)
    if is_multiple_choice(record):
        letter = parse_multi_choice(answer, record_options(record))
        return Judgement(correct=letter is not None and letter in golds, parsed=letter)
    if not answer.strip():
        return Judgement(correct=False, parsed=None)
    keys, readings = parse_open(answer)
    return Judgement(correct=open_correct(golds, readings), parsed=" | ".join(keys)[:200])


# ----------------------------------------------------------------------------- aggregation
def subject(record_id: Any) -> str | None:
    """The subject in an id 'validation_Art_Theory_3' ('Art_Theory'), or None."""
    match = re.fullmatch(r"[A-Za-z]+_(.+)_\d+", record_id) if isinstance(record_id, str) else None
    return match.group(1) if match else None


def aggregate(records: Sequence[dict[str, Any]], scores: Sequence[float]) -> dict[str, float]:
    """Accuracy over all questions in percent (the official overall: instances weighted equally), and
    the accuracy of each of the six disciplines present as ``Overall-<discipline>``."""
    result = {"score": 100.0 * sum(scores) / len(scores) if scores else float("nan")}
    by_domain: dict[str, list[float]] = defaultdict(list)
    for record, value in zip(records, scores):
        domain = _DOMAIN_OF.get(subject(record.get("id")) or "")
        if domain is not None:
            by_domain[domain].append(value)
    for domain in DOMAINS:
        if by_domain[domain]:
            result[f"Overall-{domain}"] = 100.0 * sum(by_domain[domain]) / len(by_domain[domain])
    return result


# ----------------------------------------------------------------------------- the tiny synthetic set
PUBLISHED_COLUMNS: Columns = (
    ("id", STRING), ("question", STRING), ("options", STRING), ("explanation", STRING),
    *((field, IMAGE) for field in IMAGE_FIELDS),
    ("img_type", STRING), ("answer", STRING), ("topic_difficulty", STRING), ("question_type", STRING), ("subfield", STRING),
)


def _synthetic_row(index: int, rng: random.Random, counts: dict[str, int]) -> Row:
    """Kinds in turn: two images (multiple choice), a bar's value (open), a colour or shape (multiple choice)."""
    kind = index % 3
    asked = which_image(rng) if kind == 0 else bar_value(rng) if kind == 1 else shape_choice(rng)
    subject, subfield, img_type = (("Art", "Drawing and Painting", "['Paintings']") if kind == 0 else
                                   ("Math", "Statistics", "['Plots and Charts']") if kind == 1 else
                                   ("Design", "Color Theory", "['Diagrams']"))
    counts[subject] = counts.get(subject, 0) + 1
    qid = f"validation_{subject}_{counts[subject]}"
    images = {f"image_{i + 1}": hf_image(scene, f"{qid}_{i + 1}.png") for i, scene in enumerate(asked.scenes)}
    choice = bool(asked.options)
    question = asked.text if kind == 0 else f"<image 1> {asked.text}"
    return {"id": qid, "question": question, "options": repr(list(asked.options)), "explanation": "",
            **{field: images.get(field) for field in IMAGE_FIELDS}, "img_type": img_type,
            "answer": option_letters(len(asked.options))[asked.index] if choice else asked.answer,
            "topic_difficulty": "Easy", "question_type": "multiple-choice" if choice else "open", "subfield": subfield}


def synthetic_shards(rng: random.Random, count: int) -> list[Shard]:
    """``count`` validation questions as ``data/validation-00000-of-00001.parquet``, kinds in turn: one with two
    images whose options are ``<image 1>``/``<image 2>``, an open one, a multiple-choice one; the options a
    Python-literal string, as published."""
    counts: dict[str, int] = {}
    rows = [_synthetic_row(i, rng, counts) for i in range(count)]
    return [Shard("data/validation-00000-of-00001.parquet", PUBLISHED_COLUMNS, rows)]


BENCHMARK = Benchmark(
    name="mmmu",
    column="MMMU",
    lmms_task="mmmu_val",
    hf_id="lmms-lab/MMMU",
    split=SPLIT,
    folder="MMMU",
    load=load,
    judge=judge,
    synthetic=synthetic_shards,
    aggregate=aggregate,
    rule_source="MMMU-Benchmark/MMMU mmmu/utils/eval_utils.py; lmms-eval lmms_eval/tasks/mmmu/utils.py",
    columns=COLUMNS,
)
