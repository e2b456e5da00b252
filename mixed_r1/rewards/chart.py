"""Chart reward R_chart: parse the answer as a number; correct when |pred − truth| < tolerance (binary).

Numbers are compared exactly: the parsed text becomes a :class:`~fractions.Fraction` and so does the
tolerance, from its decimal repr. In binary floats ``3.01 − 3`` is just below 0.01 and ``100.01 −
100`` just above, so the paper's "error less than 1e-2" depended on the magnitude; exactly, an error
equal to the tolerance is never less than it.

Conventions where peers differ (a ChartQA truth may or may not carry its unit or % sign):

- fractions: '1/2' is 0.5;
- percent: a number with '%' (or 'percent') stands for both its number and its number / 100, and
  the reply is right when any reading of it is within tolerance of any reading of the truth: '12%'
  matches 12 and 0.12, '0.5' matches '50%';
- a leading 'approximately', 'about', 'around', 'roughly', 'nearly', 'almost', '~', '≈' is dropped,
  as are a currency sign, thousands separators and a trailing unit or words ('4 kg'); a second
  number anywhere ('3 or 5', '3-5') makes the reply not a number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.matching import normalise, strip_answer_prefix

CHART_MODES = ("absolute", "relative")

_DECIMAL = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+"
# approx word, sign, currency, decimal, exponent (at most 3 digits: 1e999 is the largest), a
# denominator, a percent sign. Anchored, no nested repetition: linear in the (capped) reply.
_NUMBER = re.compile(
    r"(?:(?:approximately|approx\.?|about|around|roughly|nearly|almost|circa)\s+|[~≈∼≃]\s*)?"
    r"(?P<sign>[-+−]?)\s*(?:[$€£¥]\s*(?P<sign2>[-+−]?)\s*)?"
    rf"(?P<num>{_DECIMAL})(?P<exp>[eE][-+]?[0-9]{{1,3}})?"
    rf"(?:\s*/\s*(?P<den>{_DECIMAL}))?"
    r"\s*(?P<pct>%|percent\b|per\s+cent\b)?",
    re.IGNORECASE)
_DIGIT = re.compile(r"\d")  # what may follow the number: a unit or words, but no second number
_MAX_CHARS = 200  # a longer reply is not "one number"
_RELATIVE_FLOOR = Fraction(1, 10**12)  # relative mode divides by max(|truth|, 1e-12)


@dataclass(frozen=True)
class ParsedNumber:
    value: Fraction
    percent: bool = False

    def readings(self) -> tuple[Fraction, ...]:
        """The values the text may stand for: a percent is its number or its number / 100."""
        return (self.value, self.value / 100) if self.percent else (self.value,)


def _exact(text: str) -> Fraction:
    return Fraction(Decimal(text.replace(",", "")))


def parse_number(text: str) -> ParsedNumber | None:
    """The number in '1,234.5', '-$3', '12%', '1/2', '≈ 7', '4 kg', '1e-3', 'The answer is 7', exactly;
    ``None`` when the text is not one number ('3 or 5', 'three', '1/0')."""
    if not isinstance(text, str):
        return None
    text = strip_answer_prefix(text)
    if len(text) > _MAX_CHARS:
        return None
    match = _NUMBER.match(text)
    if match is None or _DIGIT.search(text, match.end()):
        return None
    value = _exact(match.group("num") + (match.group("exp") or ""))
    if match.group("den") is not None:
        denominator = _exact(match.group("den"))
        if denominator == 0:
            return None
        value /= denominator
    signs = match.group("sign") + (match.group("sign2") or "")
    if len(signs) > 1:  # '-$-5'
        return None
    if signs in ("-", "−"):
        value = -value
    return ParsedNumber(value, percent=match.group("pct") is not None)


def check_chart_mode(mode: str) -> str:
    """``mode`` itself, or a ValueError naming the config key and the allowed values."""
    if mode not in CHART_MODES:
        raise ValueError(f"reward.chart.mode={mode!r}; expected one of {', '.join(CHART_MODES)}")
    return mode


def exact_tolerance(tolerance: float) -> Fraction:
    """The tolerance as written in decimal (``str(0.01)`` is '0.01', so exactly 1/100); it must be
    a finite positive number."""
    try:
        value = Fraction(Decimal(str(tolerance)))
    except (InvalidOperation, ValueError, OverflowError):
        value = Fraction(0)
    if value <= 0:
        raise ValueError(f"reward.chart.tolerance={tolerance!r}; expected a finite number > 0")
    return value


def _within(pred: Fraction, truth: Fraction, tolerance: Fraction, mode: str) -> bool:
    error = abs(pred - truth)
    if mode == "relative":
        return error < tolerance * max(abs(truth), _RELATIVE_FLOOR)
    return error < tolerance


def numbers_match(pred: ParsedNumber, truth: ParsedNumber, tolerance: Fraction, mode: str = "absolute") -> bool:
    """Whether any reading of ``pred`` is within ``tolerance`` of any reading of ``truth`` (strictly)."""
    return any(_within(p, t, tolerance, mode) for p in pred.readings() for t in truth.readings())


def chart_reward(text: str, answer: str, tolerance: float = 1e-2, mode: str = "absolute") -> float:
    """1.0 when the extracted number is within ``tolerance`` of ``answer``, compared exactly.

    ``mode='absolute'`` is the paper's |pred − truth| < tol; ``'relative'`` divides by |truth|.
    A non-numeric ground truth falls back to normalised exact match. A bad ``mode`` or
    ``tolerance`` is a config error (ValueError); model output never raises.
    """
    check_chart_mode(mode)
    tol = exact_tolerance(tolerance)
    reply = extract_answer(text)
    if not reply:
        return 0.0
    truth = parse_number(answer)
    if truth is None:
        return 1.0 if normalise(reply) == normalise(answer) else 0.0
    pred = parse_number(reply)
    return 1.0 if pred is not None and numbers_match(pred, truth, tol, mode) else 0.0
