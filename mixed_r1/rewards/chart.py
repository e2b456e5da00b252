"""Chart reward R_chart: parse the answer as a number; correct when |pred − truth| < tolerance (binary)."""
from __future__ import annotations

import math
import re

from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.matching import normalise

_NUMBER = re.compile(r"^[\s$€£¥]*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(%?)")


def parse_number(text: str) -> float | None:
    """A float from '1,234.5', '12%', '$3', '4 kg', '1e-3'; ``None`` when the text is not a number."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    match = _NUMBER.match(text)
    if match is None or not re.search(r"\d", match.group(1)):
        return None
    try:
        value = float(match.group(1).replace(",", ""))
    except ValueError:
        return None
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
