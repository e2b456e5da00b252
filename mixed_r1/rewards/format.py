"""Format reward R_format (eq. 5): 1 when the response is <think>…</think><answer>…</answer>, else 0."""
from __future__ import annotations

import re

# Whole response: optional whitespace, one think block, optional whitespace, one answer block.
# DOTALL so multi-line thinking counts (a frequent bug in peers' regexes).
_FORMAT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def format_reward(text: str) -> float:
    """1.0 for exactly one think block then exactly one answer block (whitespace around), else 0.0.

    Linear time: the tag counts are plain scans, and with each tag present once the lazy groups
    of the regex can end at one place only, so it never backtracks over the text more than once.
    """
    if not isinstance(text, str):
        return 0.0
    # exactly one of each tag (checked first: it also keeps the regex linear on adversarial text)
    if any(text.count(tag) != 1 for tag in _TAGS):
        return 0.0
    return 1.0 if _FORMAT.fullmatch(text) else 0.0
