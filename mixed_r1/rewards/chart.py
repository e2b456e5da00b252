"""Chart reward R_chart: parse the answer as a number; correct when |pred − truth| < tolerance (binary)."""
from __future__ import annotations

import math
import re

from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.matching import normalise, strip_answer_prefix

# sign, optional currency, digits with optional thousands separators, decimals, exponent, percent
_NUMBER = re.compile(
    r"^(?P<sign>[-+−]?)\s*[$€£¥]?\s*"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?P<exp>[eE][-+]?\d+)?\s*%?")
_UNIT_TAIL = re.compile(r"^[^\d]*$")  # what may follow a number: a unit or words, but no second number
_MAX_CHARS = 200


def parse_number(text: str) -> float | None:
    """A float from '1,234.5', '-$3', '12%', '4 kg', '1e-3', 'The answer is 7'; ``None`` when the text
    is not one number (so '3 or 5' is not a number). A percent sign is dropped: '12%' reads 12."""
    if not isinstance(text, str):
        return None
    text = strip_answer_prefix(text)
    if len(text) > _MAX_CHARS:
        return None
    match = _NUMBER.match(text)
    if match is None or not _UNIT_TAIL.match(text[match.end():]):
        return None
    value = float(match.group("num").replace(",", "") + (match.group("exp") or ""))
    if match.group("sign") in ("-", "−"):
        value = -value
    return value if math.isfinite(value) else None


def chart_reward(text: str, answer: str, tolerance: float = 1e-2, mode: str = "absolute") -> float:
    """1.0 when the extracted number is within ``tolerance`` of ``answer``.

    ``mode='absolute'`` is the paper's |pred − truth| < tol; ``'relative'`` divides by |truth|.
    A non-numeric ground truth falls back to normalised exact match.
    """
    reply = extract_answer(text)
    if not reply:
        return 0.0
    truth = parse_number(answer)
    if truth is None:
        return 1.0 if normalise(reply) == normalise(answer) else 0.0
    pred = parse_number(reply)
    if pred is None:
        return 0.0
    error = abs(pred - truth)
    if mode == "relative":
        error = error / max(abs(truth), 1e-12)
    elif mode != "absolute":
        raise ValueError(f"chart reward mode must be 'absolute' or 'relative', got {mode!r}")
    return 1.0 if error < tolerance else 0.0
