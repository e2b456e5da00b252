"""MATH-Vision (MathVision): 3,040 competition math questions on images (304 in testmini), five-option multiple
choice or free-form, scored by the official rule-based answer extraction and math equivalence.

Layout read (``MathLLMs/MathVision``, as ``hf download MathLLMs/MathVision --repo-type dataset --local-dir
<data_root>/MathVision`` lays it out: ``data/test-00000-of-00001-<hash>.parquet`` and
``data/testmini-00000-of-00001-<hash>.parquet``; any parquet or arrow file below the folder whose name carries the
split as a word is read). Fields (dataset card): ``id``, ``question`` (with ``<image1>`` markers), ``options``
(five texts, or empty for free-form), ``image`` (a path string), ``decoded_image`` (the embedded image), ``answer``
(an option letter, or the free-form answer: a number or a LaTeX expression), ``solution``, ``level`` (1-5),
``subject``.

Which split: ``test`` (what Table 1 reports) whenever a ``test`` shard is below the folder; ``testmini`` only when
no ``test`` shard but a ``testmini`` one is there. To score testmini, give the runner a folder holding only the
testmini shard, e.g. ``hf download MathLLMs/MathVision --repo-type dataset --include 'data/testmini-*'
--local-dir <data_root>/MathVision-testmini``. Every item's record says which split it came from in ``_split``.

Official rule (mathllm/MATH-V ``evaluation/evaluate.py`` + ``evaluation/utils.py``; the same code in lmms-eval
``lmms_eval/tasks/mathvision/utils.py`` ``mathvision_process_results`` + ``eval_utils.py``): from the response a
letter ending (' C.', ' (C).') or opening ('C\\n'), a number after the last 'is ', the last ``\\boxed{}`` or the
text after 'the (final/correct) answer is/should be' is taken and cleaned (``find_math_answer``: lower case, no
spaces, ``\\left``/``\\right``, ``\\text``, degrees, ``$``, ``\\%``, ``\\dfrac``, the part after the last '=' or
``\\approx``); it is right when it equals the answer — the letter or, for multiple choice, the right option's text —
or evaluates (latex2sympy) to the same value rounded to 2 decimals; '(a, b)' tuples compare element by element.
The score is the mean accuracy (also reported per level and subject). lmms-eval's prompt (``mathvision_doc_to_text``,
``mathvision_test.yaml``) is :func:`direct_prompt`.

Deviations:

- No sympy here: :func:`evaluate` is a small exact evaluator of arithmetic LaTeX — numbers, ``+ - * / ^``,
  ``\\cdot``, ``\\times``, implicit products ('2\\sqrt{3}', '4\\pi'), parentheses and braces, ``\\frac``,
  ``\\sqrt``, ``\\sqrt[n]``, ``\\pi`` — with fractions kept exact. It does not cover trig/log functions, ``e``,
  variables or symbolic equality ('2a' vs 'a+a'), factorials, binomials, matrices, intervals and inequalities:
  those answers count only when their cleaned text is equal. The official latex2sympy evaluates some of them.
- ``\\boxed{}`` is read with its braces matched (the official greedy regex relies on a later clean-up), an
  unclosed last box to the end of the reply (officially the regex then finds no box and the uncut text is
  compared) and ``\\fbox{}`` as a box too (:func:`~mixed_r1.eval.benchmarks.parsing.last_boxed`); the
  ground truth is cleaned like the reply except for the '=' cut (the official code cleans only the reply; an
  option 'a=d' keeps its '='), a trailing unit ('12 cm', '5\\text{ units}', '{squareinches}') is dropped from
  both, thousands separators are read ('1,000'), and a form feed in the published answer (a JSON '\\f' from
  '\\frac') is read back as ``\\f``.
- A multiple-choice reply may also name its option as 'B. text' or '(B) text', or by the option's number
  (:func:`~mixed_r1.eval.benchmarks.parsing.choice_index`); officially only the bare letter or the option's
  own text count. A reply that names an option is judged by that option alone, not also by its cleaned text
  against the right option's (options '$\\text{B}$', '$\\text{G}$', ... would make the letter 'B' match option A).
- The prompt lmms-eval uses (and :func:`direct_prompt` copies) asks for step-by-step work and a box even when
  thinking is off; the judge reads the box, as the official extraction does.
- Some replies are read where the official code fails on them: ``45°`` / ``45^\\circ`` as 45, ``−3`` (U+2212)
  as -3, ``2π`` as ``2\\pi``, ``25%`` as 25 (our clean-up maps these symbols; the official one leaves them, so
  they equal neither the answer's text nor, through latex2sympy, its value).
- A cleaned reply longer than 200 characters (``MAX_ANSWER``) is not an answer. Officially it is compared like
  any other; against the published answers (all far shorter) that can only succeed where latex2sympy evaluates a
  long expression to the answer's value. Everything before it is linear in the reply's length, so a long reply
  is cut and cleaned as officially (the flags in order; else the part after its last '=').
"""
from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from mixed_r1.errors import DataError
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, read_rows, split_shards
from mixed_r1.eval.benchmarks.parsing import choice_index, item_images, last_boxed, text_list
from mixed_r1.eval.benchmarks.tiny_sets import (
    IMAGE,
    INT64,
    STRING,
    STRINGS,
    Columns,
    Row,
    Shard,
    bar_choice,
    bar_fraction,
    bar_sum,
    hf_image,
)
from mixed_r1.rewards.matching import option_letters

SPLITS = ("test", "testmini")  # preferred first
IMAGE_FIELD = "decoded_image"
MAX_ANSWER = 200  # a cleaned reply longer than this is not an answer
MAX_EVAL = 200  # nor evaluated
Number = Fraction | float


# ----------------------------------------------------------------------------- the official extraction
# evaluate.py's flags, cut in this order, each in what the previous cut left, lower-case "the" then "The"
FLAGS = ("the final answer is", "the answer is", "the correct answer is", "the answer should be")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def model_answer(response: str) -> str:
    """The part of a response the official code scores (evaluate.py): a letter it ends with (' C.', ' (C).')
    or opens with ('C\\n'); a number after its last 'is '; its last box; else the text left by cutting at each
    of :data:`FLAGS` in turn (lower-case 'the', then 'The'; each cut keeps the first sentence after the flag's
    last occurrence and the next flag is searched only in that), which is the whole response when none occurs."""
    text = response.strip()
    for letter in "ABCDE":
        if (text.endswith((f" {letter}.", f" ({letter}).")) or
                text.startswith((f"{letter}\n", f"({letter})\n", f"({letter}) {letter}\n"))):
            text = letter
    tail = text.rsplit("is ", 1)[-1].rstrip(".")
    if len(tail) < 50 and _is_number(tail):
        text = tail
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    if "oxed{" in text:  # officially no flag is cut once 'oxed{' occurs (here: one last_boxed does not read)
        return text
    for flag in FLAGS:
        for variant in (flag, flag.replace("the", "The")):
            if variant in text:
                text = text.rsplit(variant, 1)[-1].strip().split("\n", 1)[0].split(". ", 1)[0]
    return text


# ----------------------------------------------------------------------------- cleaning (find_math_answer)
_REMOVE = ("\\displaystyle", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "~", "\\quad", "\\qquad", "\\$", "$",
           "^{\\circ}", "^\\circ", "\\circ", "\\degree", "°", "\\%", "%", "{}")
_REPLACE = (("\\\\", "\\"), ("tfrac", "frac"), ("dfrac", "frac"), ("∞", "\\infty"), ("π", "\\pi"), ("×", "*"),
            ("\\times", "*"), ("\\cdot", "*"), ("·", "*"), ("÷", "/"), ("\\div", "/"), ("−", "-"), ("≈", "\\approx"))
_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*")
_BARE = re.compile(r"(?<![a-z\\])(pi|sqrt)(?![a-z])")
_SPACE = re.compile(r"\s+")
_FRAC_DIGITS = ((re.compile(r"\\frac(\d)(\d)"), r"\\frac{\1}{\2}"), (re.compile(r"\\frac(\d)\{"), r"\\frac{\1}{"),
                (re.compile(r"\\frac\{([^{}]*)\}(\d)"), r"\\frac{\1}{\2}"), (re.compile(r"\\sqrt(\d)"), r"\\sqrt{\1}"))
_UNIT_SPAN = 64
_UNIT = re.compile(r"(?:(?<=[0-9}).])(?:square|sq\.?)?[a-z]{2,}|\{[a-z][a-z.]*\})(?:\^\{?[23]\}?|[23])?$")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_OPTION_WORD = re.compile(r"[({]([a-e])[)}]")


def clean(text: str, reply: bool = True) -> str:
    """The official clean-up (find_math_answer/_strip_string) of an answer: lower case; no '$', spaces,
    ``\\left``/``\\right``, spacing commands, degrees or percent signs; ``\\dfrac``/``\\tfrac`` as ``\\frac``;
    ``\\text{...}`` unwrapped; '(b)' as 'b'; of a ``reply`` only the part after its last '=' or ``\\approx`` (an
    option text 'a=d' keeps its '='); here also a trailing unit dropped and ``\\frac12`` as ``\\frac{1}{2}``."""
    text = text.replace("\x0c", "\\f").lower()
    text = _WRAPPER.sub("", text)
    for old, new in _REPLACE:
        text = text.replace(old, new)
    for old in _REMOVE:
        text = text.replace(old, "")
    if reply:
        text = text.rsplit("=", 1)[-1].rsplit("\\approx", 1)[-1]
    text = _SPACE.sub("", text).rstrip(".").lstrip(":")
    text = _OPTION_WORD.sub(r"\1", text) if len(text) <= 3 else text
    text = _BARE.sub(r"\\\1", text)
    for pattern, replacement in _FRAC_DIGITS:
        text = pattern.sub(replacement, text)
    if text.startswith("."):
        text = "0" + text
    text = text.replace("{.", "{0.")
    head, tail = text[:-_UNIT_SPAN], text[-_UNIT_SPAN:]  # a unit ends the answer: searching the tail keeps this linear
    if _UNIT.search(tail) and (head + _UNIT.sub("", tail)):
        text = head + _UNIT.sub("", tail)
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return text


# ----------------------------------------------------------------------------- a small exact evaluator
class _Fail(Exception):
    """The text is not an expression this evaluator reads."""


_TOKEN = re.compile(r"(?P<num>\d+(?:\.\d*)?(?:e[-+]?\d{1,3}(?![a-z]))?|\.\d+)|(?P<cmd>\\[a-z]+)|(?P<op>[-+*/^(){}\[\]])")
_MAX_DEPTH = 40
_MAX_POWER = 4096
_MAX_BITS = 100_000


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise _Fail(text[at:])
        if match.group("num") is not None:
            tokens.append(("num", Fraction(Decimal(match.group("num")))))
        elif match.group("cmd") is not None:
            tokens.append(("cmd", match.group("cmd")))
        else:
            tokens.append(("op", match.group("op")))
        at = match.end()
    return tokens


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(exponent, Fraction) and exponent.denominator == 1 and abs(exponent) <= _MAX_POWER:
        n = int(exponent)
        if isinstance(base, Fraction):
            bits = max(base.numerator.bit_length(), base.denominator.bit_length())
            if bits * abs(n) <= _MAX_BITS:
                return base ** n
        return float(base) ** n
    if float(base) < 0:
        raise _Fail("a negative base to a fractional power")
    return float(base) ** float(exponent)


def _root(value: Number, degree: Number) -> Number:
    if value < 0 or degree <= 0:
        raise _Fail("an imaginary root")
    if isinstance(value, Fraction) and isinstance(degree, Fraction) and degree.denominator == 1:
        n = int(degree)
        if n <= 64:
            roots = [round(float(part) ** (1 / n)) for part in (value.numerator, value.denominator)]
            if roots[1] and Fraction(roots[0], roots[1]) ** n == value:
                return Fraction(roots[0], roots[1])
    return float(value) ** (1 / float(degree))


class _Parser:
    """Recursive descent over the tokens: sums of products (implicit ones too) of signed powers of atoms."""

    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens, self.at, self.depth = tokens, 0, 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, Any]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise _Fail(f"expected {value}")
        self.at += 1
        return token

    def starts_atom(self) -> bool:
        token = self.peek()
        return token is not None and (token[0] in ("num", "cmd") or token[1] in ("(", "{"))

    def expression(self) -> Number:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Fail("nested too deep")
        value = self.product()
        while (token := self.peek()) is not None and token[1] in ("+", "-"):
            self.take()
            value = value + self.product() if token[1] == "+" else value - self.product()
        self.depth -= 1
        return value

    def product(self) -> Number:
        value = self.signed()
        while True:
            token = self.peek()
            if token is not None and token[1] in ("*", "/"):
                self.take()
                right = self.signed()
                value = value * right if token[1] == "*" else value / right
            elif self.starts_atom():
                value = value * self.power()
            else:
                return value

    def signed(self) -> Number:
        token = self.peek()
        if token is not None and token[1] in ("+", "-"):
            self.take()
            value = self.signed()
            return -value if token[1] == "-" else value
        return self.power()

    def power(self) -> Number:
        base = self.atom()
        token = self.peek()
        if token is not None and token[1] == "^":
            self.take()
            return _power(base, self.signed() if self.peek() in (("op", "-"), ("op", "+")) else self.atom())
        return base

    def group(self, close: str) -> Number:
        value = self.expression()
        self.take(close)
        return value

    def atom(self) -> Number:
        kind, value = self.take()
        if kind == "num":
            return value
        if value == "(":
            return self.group(")")
        if value == "{":
            return self.group("}")
        if value == "\\pi":
            return math.pi
        if value == "\\frac":
            numerator = self.atom()
            return numerator / self.atom()
        if value == "\\sqrt":
            degree: Number = Fraction(2)
            if self.peek() == ("op", "["):
                self.take()
                degree = self.group("]")
            return _root(self.atom(), degree)
        raise _Fail(str(value))


def evaluate(text: str) -> Number | None:
    """The value of a cleaned arithmetic LaTeX text ('\\frac{3}{4}\\pi', '2\\sqrt{3}+1', '45^2'), exact where
    it can be (a :class:`~fractions.Fraction`), else a float; None when it is not such an expression."""
    if not text or len(text) > MAX_EVAL:
        return None
    try:
        parser = _Parser(_tokens(text))
        value = parser.expression()
        if parser.peek() is not None:
            return None
    except (_Fail, ZeroDivisionError, OverflowError, ValueError, TypeError, InvalidOperation, RecursionError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def same_value(a: Number, b: Number) -> bool:
    """The official tolerance: both values rounded to 2 decimals are equal (exactly for two fractions)."""
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return round(a, 2) == round(b, 2)
    try:
        return round(float(a), 2) == round(float(b), 2)
    except OverflowError:
        return False


def _tuple_items(text: str) -> list[str] | None:
    """The top-level items of '(a,b,...)' or '[a,b,...]' with at least two items, else None."""
    if len(text) < 5 or text[0] not in "([" or text[-1] not in ")]":
        return None
    items, depth, start = [], 0, 1
    for i in range(1, len(text) - 1):
        char = text[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:-1])
    return items if len(items) > 1 and depth == 0 else None


def _equal_clean(truth: str, said: str) -> bool:
    if not truth or not said:
        return False
    if truth == said:
        return True
    truth_items, said_items = _tuple_items(truth), _tuple_items(said)
    if truth_items is not None or said_items is not None:
        return (truth_items is not None and said_items is not None and len(truth_items) == len(said_items)
                and all(_equal_clean(t, s) for t, s in zip(truth_items, said_items)))
    truth_value, said_value = evaluate(truth), evaluate(said)
    return truth_value is not None and said_value is not None and same_value(truth_value, said_value)


def _truth_text(answer: str) -> str:
    boxed = last_boxed(answer)
    return clean(boxed if boxed is not None else answer, reply=False)


def equivalent(truth: str, said: str) -> bool:
    """Whether a reply's extracted answer ``said`` equals ``truth`` (the official is_equal, without sympy): equal
    cleaned texts, equal tuples element by element, or values equal to 2 decimals."""
    return _equal_clean(_truth_text(truth), clean(said))


# ----------------------------------------------------------------------------- judging
def judge(record: dict[str, Any], answer: str) -> Judgement:
    """The official rule on one reply: a multiple-choice reply is right when it names the right option (its letter
    or its text, or a value equal to the option's) and a free-form one when it equals the answer."""
    if not isinstance(answer, str) or not answer.strip():
        return Judgement(False, None)
    said = model_answer(answer)
    cleaned = clean(said)  # of a long reply with no box and no flag: the part after its last '=', as officially
    if not cleaned or len(cleaned) > MAX_ANSWER:
        return Judgement(False, None)
    truth = str(record.get("answer", "")).replace("\x0c", "\\f").strip()  # a form feed is a JSON-decoded '\f'
    options = text_list(record.get("options"))
    letters = option_letters(len(options))
    if options and truth.upper() in letters:
        right = letters.index(truth.upper())
        index = choice_index(said, options)
        if index is not None:  # the reply names an option: that decides
            return Judgement(index == right, letters[index])
        correct = cleaned == truth.lower() or equivalent(options[right], said)
        return Judgement(correct, cleaned if correct else None)  # names no option: unparseable unless right
    return Judgement(equivalent(truth, said), cleaned)


# ----------------------------------------------------------------------------- prompts and loading
_LMMS_PREFIX = 'Please solve the problem step by step and put your answer in one "\\boxed{}".'
_LMMS_MC_PROMPT = "Answer the question with the option's letter from the given choices directly."


def direct_prompt(record: dict[str, Any]) -> str:
    """lmms-eval's prompt (``mathvision_doc_to_text`` with ``mathvision_test.yaml``'s ``mc_prompt``), verbatim:
    the step-by-step/boxed instruction glued to the question, then 'Choices: A. ...' and the letter instruction."""
    question = str(record.get("question") or "")
    options = text_list(record.get("options"))
    if not options:
        return _LMMS_PREFIX + question
    choices = "\n".join(f"{letter}. {option}" for letter, option in zip(option_letters(len(options)), options))
    return f"{_LMMS_PREFIX}{question}\nChoices: {choices}\n{_LMMS_MC_PROMPT}"


def question_text(record: dict[str, Any]) -> str:
    """The question as the model reads it, with its lettered options."""
    question = str(record.get("question") or "").strip()
    options = text_list(record.get("options"))
    if not options:
        return question
    lines = [f"{letter}. {option}" for letter, option in zip(option_letters(len(options)), options)]
    return "\n".join([question, "Choices:", *lines])


def answer_hint(record: dict[str, Any]) -> str:
    if text_list(record.get("options")):
        return "Answer with the option's letter from the given choices."
    return "Answer with a number or a simplified expression."


def chosen_split(folder: Path) -> tuple[str, list[Path]]:
    """``test`` when a test shard is below ``folder``, else ``testmini``; with the shards of that split."""
    if not Path(folder).is_dir():
        raise DataError(f"{folder}: benchmark folder not found")
    for split in SPLITS:
        try:
            return split, split_shards(folder, split)
        except DataError:  # no shard of this split: try the next one
            continue
    raise DataError(f"{folder}: no parquet/arrow file named '*test*' or '*testmini*'; download with "
                    f"`hf download MathLLMs/MathVision --repo-type dataset --local-dir {folder}`")


# what every published row must hold (Benchmark.columns): read_rows names a file or row without it
COLUMNS = ("id", "question", "answer", IMAGE_FIELD)


def load(folder: Path) -> list[EvalItem]:
    """Every question of the split :func:`chosen_split` picks; each record says its split in ``_split``."""
    split, files = chosen_split(folder)
    items: list[EvalItem] = []
    seen: set[str] = set()
    for where, row in read_rows(files, COLUMNS):
        qid = str(row.get("id", "")).strip()
        if not qid or qid in seen:
            raise DataError(f"{where}: {'missing' if not qid else 'duplicate'} id {qid!r}")
        seen.add(qid)
        record = {**{k: v for k, v in row.items() if k != IMAGE_FIELD}, "_split": split}
        items.append(EvalItem(id=qid, record=record, images=item_images(row, where), question=question_text(record),
                              hint=answer_hint(record), direct_prompt=direct_prompt(record)))
    return items


def aggregate(records: Sequence[dict[str, Any]], scores: Sequence[float]) -> dict[str, float]:
    """Mean accuracy in percent, and per level and per subject as the official result file reports them."""
    result = {"score": 100.0 * sum(scores) / len(scores) if scores else float("nan")}
    groups: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        if record.get("level") is not None:
            groups[f"level/{record['level']}"].append(score)
        if record.get("subject"):
            groups[f"subject/{record['subject']}"].append(score)
    result.update({name: 100.0 * sum(values) / len(values) for name, values in sorted(groups.items())})
    return result


# ----------------------------------------------------------------------------- the tiny synthetic set
PUBLISHED_COLUMNS: Columns = (
    ("id", STRING), ("question", STRING), ("options", STRINGS), ("image", STRING), ("decoded_image", IMAGE),
    ("answer", STRING), ("solution", STRING), ("level", INT64), ("subject", STRING),
)
OPTION_COUNT = 5  # MathVision's multiple-choice questions have five options, A-E


def _synthetic_row(index: int, rng: random.Random) -> Row:
    kind = index % 3
    asked = bar_choice(rng, OPTION_COUNT) if kind == 0 else bar_sum(rng) if kind == 1 else bar_fraction(rng)
    qid = str(index + 1)
    answer = option_letters(len(asked.options))[asked.index] if asked.options else asked.answer
    return {"id": qid, "question": f"{asked.text}\n<image1>", "options": list(asked.options), "image": f"images/{qid}.png",
            "decoded_image": hf_image(asked.scenes[0], f"{qid}.png"), "answer": answer, "solution": asked.why.capitalize() + ".",
            "level": kind + 1, "subject": "statistics" if kind == 0 else "arithmetic"}


def synthetic_shards(rng: random.Random, count: int) -> list[Shard]:
    """``count`` test questions as ``data/test-00000-of-00001-3532b8d3f1b4047a.parquet`` (no testmini shard, so
    the loader takes ``test`` as for the full download), kinds in turn: five numeric options (a letter answer),
    a free-form sum, a free-form fraction (``\\frac{a}{b}``)."""
    rows = [_synthetic_row(i, rng) for i in range(count)]
    return [Shard("data/test-00000-of-00001-3532b8d3f1b4047a.parquet", PUBLISHED_COLUMNS, rows)]


BENCHMARK = Benchmark(
    name="mathvision",
    column="MathVision",
    lmms_task="mathvision_test",
    hf_id="MathLLMs/MathVision",
    split="test",
    folder="MathVision",
    load=load,
    judge=judge,
    synthetic=synthetic_shards,
    aggregate=aggregate,
    rule_source="mathllm/MATH-V evaluation/evaluate.py + evaluation/utils.py; "
                "lmms-eval lmms_eval/tasks/mathvision/utils.py (mathvision_process_results, mathvision_doc_to_text)",
    columns=COLUMNS,
    files=lambda folder: chosen_split(folder)[1],
)
