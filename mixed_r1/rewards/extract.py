"""Answer extraction shared by every accuracy reward."""
from __future__ import annotations

import re

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def extract_answer(text: str) -> str | None:
    """Content of the *last* ``<answer>…</answer>`` (stripped), or ``None`` when there is none.

    The last one counts because a policy may quote the tag while thinking.
    """
    if not isinstance(text, str):
        return None
    matches = _ANSWER.findall(text)
    return matches[-1].strip() if matches else None
