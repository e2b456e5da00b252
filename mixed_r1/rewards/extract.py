"""Answer extraction shared by every accuracy reward."""
from __future__ import annotations

OPEN, CLOSE = "<answer>", "</answer>"


def extract_answer(text: str) -> str | None:
    """Content of the *last* complete ``<answer>…</answer>`` (stripped), or ``None`` when there is none.

    The last one counts because a policy may quote the tag while thinking. "Last complete block" is
    the last ``<answer>`` that some ``</answer>`` follows, up to the first ``</answer>`` after it.
    Three plain substring searches, so linear time: a regex scan restarted at every unclosed
    ``<answer>`` was quadratic (20,000 unclosed tags took 31 s).
    """
    if not isinstance(text, str):
        return None
    last_close = text.rfind(CLOSE)
    if last_close < 0:
        return None
    start = text.rfind(OPEN, 0, last_close)
    if start < 0:
        return None
    start += len(OPEN)
    return text[start:text.find(CLOSE, start)].strip()
