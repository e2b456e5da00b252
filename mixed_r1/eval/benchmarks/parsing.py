"""Parsers more than one benchmark uses, in one place: reading the published fields (images, lists of options)
and reading a reply (the last box, a short answer's option, VLMEvalKit's option matcher). Each benchmark module
keeps only what its own official rule does differently."""
from __future__ import annotations

import ast
import re
from fractions import Fraction
from typing import Any, Mapping, Sequence

from mixed_r1.errors import DataError
from mixed_r1.rewards.chart import parse_number
from mixed_r1.rewards.matching import normalise, option_letters, strip_answer_prefix

IMAGE_FIELD = "decoded_image"  # MathVista's and MathVision's embedded image
MAX_READ = 300  # a candidate longer than this is not "an answer" and is not read as one

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_LETTER_HEAD = re.compile(r"(?P<open>\()?(?P<letter>[A-Za-z])(?P<close>\))?(?P<sep>[.:)]|\s+|$)")
BRACKETED_LETTER = re.compile(r"\(([A-Za-z])\)")


# ----------------------------------------------------------------------------- published fields
def item_images(record: dict[str, Any], where: str, field: str = IMAGE_FIELD) -> tuple[Any, ...]:
    """The record's embedded image as published (``{"bytes", "path"}``); a row without one is a broken download."""
    image = record.get(field)
    if isinstance(image, dict) and (image.get("bytes") or image.get("path")):
        return (image,)
    if isinstance(image, (bytes, bytearray)) and image:
        return (bytes(image),)
    raise DataError(f"{where}: field '{field}' holds no image")


def text_list(value: Any) -> list[str]:
    """A published list of texts (choices/options) as a list of str: a list, a tuple, an array, a Python or JSON
    literal string; None or anything else is no list (``[]``), and a None item reads ``""``.

    For fields that hold nothing but a list (MathVista's ``choices``, MathVision's ``options``), where "no
    list" and "an empty list" mean the same: free-form. :func:`literal_list` is the strict reading for fields
    where they differ."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip()) if value.strip() else []
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return []
        if not isinstance(value, (list, tuple)):
            return []
    try:
        return ["" if v is None else str(v) for v in value]
    except TypeError:
        return []


def literal_list(value: Any) -> list[str] | None:
    """A list given as a list (or array) or as its Python-literal string ("['a', 'b']"), as strings;
    None when ``value`` is not one. ``ast.literal_eval`` only: a record's text is never executed.

    Stricter than :func:`text_list`, on purpose: MMMU's ``answer`` is a list only for a few open questions and
    otherwise any text, so only a bracketed literal is a list ('(1, 2)' or "'a', 'b'" stay one answer) and
    "not a list" (None) differs from "[]". MMMU's and AI2D's ``options`` are read with it too. One function
    for both would change how such edge values read (a tuple literal, a None item: ``"None"`` here)."""
    if hasattr(value, "tolist"):  # a numpy array from pandas
        value = value.tolist()
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            return None
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return None


# ----------------------------------------------------------------------------- reading a reply
def _box_end(text: str, begin: int) -> int | None:
    """Where the box opened just before ``begin`` closes (nested braces matched), or None when it never does."""
    depth = 1
    for i in range(begin, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox``), braces matched (nested ones kept); an unclosed
    box runs to the end of the text; None when there is no box.

    MathVista's and MathVision's reading of a box. Neither official rule has this function: MathVista's
    extraction is GPT's (the box is one of the rules standing in for it, so a reply cut off inside its box
    still gives its answer) and MathVision's a greedy regex (that module's deviations say where they differ)."""
    if not isinstance(text, str):
        return None
    start = -1
    for match in _BOX.finditer(text):
        start = match.end()
    if start < 0:
        return None
    end = _box_end(text, start)
    return text[start:end].strip() if end is not None else text[start:].strip()


def last_closed_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{`` when that box is closed (braces matched), else None; ``\\fbox`` is
    not read.

    MMMU's reading, narrower than :func:`last_boxed` on purpose: the official MMMU parser reads no box at all,
    so a box is only our deviation, taken where it is unambiguous; an unclosed or ``\\fbox`` box leaves the whole
    reply to the official parser."""
    if not isinstance(text, str):
        return None
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    begin = start + len("\\boxed{")
    end = _box_end(text, begin)
    return text[begin:end].strip() if end is not None else None


def tidy(text: str) -> str:
    """A short answer without a lead-in ('The answer is'), markdown emphasis, quotes or a final period."""
    text = strip_answer_prefix(text.strip().strip("*_`\"'"))
    return text.strip().strip("*_`\"'").rstrip(".").strip()


def number_of(text: str) -> Fraction | None:
    number = parse_number(text)
    return number.value if number is not None else None


def choice_index(text: str, choices: Sequence[str]) -> int | None:
    """The index of the choice a short reply names, or None.

    In order: the reply is a choice's text ('145°'); a letter in range, bare or marked ('B', '(B)', 'B.',
    '(B) 8/11', 'B. 8/11'), or followed by a space and that choice's own text ('B 8/11'); the reply's normalised
    text is one choice's ('Tokyo.'); its number is exactly one choice's number ('145' for '145°', '6' for
    '6cm'); a bracketed letter '(B)' anywhere in it (the official normalisation's first step)."""
    short = tidy(text)
    if not short or len(short) > MAX_READ or not choices:
        return None
    letters = option_letters(len(choices))
    stripped = [c.strip() for c in choices]
    if short in stripped:
        return stripped.index(short)
    head = _LETTER_HEAD.match(short)
    if head and head.group("letter").upper() in letters:
        index = letters.index(head.group("letter").upper())
        rest = short[head.end():].strip()
        marked = bool(head.group("open") or head.group("close") or not head.group("sep").isspace())
        if not rest or marked or normalise(rest) == normalise(choices[index]):
            return index
    said = normalise(short)
    by_text = [i for i, c in enumerate(choices) if said and normalise(c) == said]
    if len(by_text) == 1:
        return by_text[0]
    value = number_of(short)
    if value is not None:
        by_value = [i for i, c in enumerate(choices) if number_of(c) == value]
        if len(by_value) == 1:
            return by_value[0]
    bracketed = BRACKETED_LETTER.search(short)
    if bracketed and bracketed.group(1).upper() in letters:
        return letters.index(bracketed.group(1).upper())
    return None


# ----------------------------------------------------------------------------- VLMEvalKit's option matcher
# VLMEvalKit's can_infer, shared with MMStar (which VLMEvalKit scores with the same matcher).
API_FAILURE = "Failed to obtain answer via API"
REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
            "I'm sorry, but without the image provided", "Cannot determine the answer")
NO_OPTION = "Z"  # VLMEvalKit's letter for "names no option"
_TO_SPACE = str.maketrans(dict.fromkeys(".()[],:;!*#{}", " "))
# "The correct answer is **B**": the letter must stand alone (not "answer is a dog"); linear-time.
_ANSWER_IS = re.compile(r"(?i:(?:correct\s+)?answer\s+is)\s+\**([A-Z])(?![A-Za-z0-9])")


def _option_word(answer: str, letters: Sequence[str]) -> str | None:
    """``can_infer_option``: the option letter the answer names as a word, ``NO_OPTION`` for a refusal,
    else None."""
    if API_FAILURE in answer:
        return None
    if any(phrase in answer for phrase in REFUSALS):
        return NO_OPTION
    words = answer.translate(_TO_SPACE).split()
    first: dict[str, int] = {}  # where each one-character word first stands
    for position, word in enumerate(words):
        if len(word) == 1 and word not in first:
            first[word] = position
    named = [letter for letter in letters if letter in first]
    if len(named) == 1:
        if first[named[0]] > len(words) - 5:  # one of the last four words: a final answer, not a mention
            return named[0]
    elif not named and NO_OPTION in first:
        return NO_OPTION
    match = _ANSWER_IS.search(answer)
    return match.group(1) if match and match.group(1) in letters else None


def _option_text(answer: str, choices: Mapping[str, str]) -> str | None:
    """``can_infer_text``: the one option whose text occurs in a short answer, else None."""
    if len(answer) > 2 * sum(len(text) for text in choices.values()):
        return None  # a long answer mentions several options; checked before lower-casing a huge text
    said = answer.lower()
    hits = [letter for letter, text in choices.items() if text and text.lower() in said]
    return hits[0] if len(hits) == 1 else None


def read_choice(answer: str, choices: Mapping[str, str]) -> str | None:
    """VLMEvalKit's ``can_infer``: the option letter (a key of ``choices``, letter -> option text) that
    ``answer`` names, ``NO_OPTION`` when it refuses, None when it names none."""
    if not isinstance(answer, str):
        return None
    return _option_word(answer, list(choices)) or _option_text(answer, choices)


def infer_choice(answer: str, choices: Mapping[str, str]) -> str | None:
    """The option letter ``answer`` names by :func:`read_choice`, or None (refusals included)."""
    letter = read_choice(answer, choices)
    return None if letter == NO_OPTION else letter
