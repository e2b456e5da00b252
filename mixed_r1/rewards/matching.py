"""Matching reward R_match for yes/no and multiple-choice answers (binary)."""
from __future__ import annotations

import re
import string

from mixed_r1.rewards.extract import extract_answer

_PUNCT = str.maketrans("", "", string.punctuation)
_PREFIX = re.compile(r"^(the\s+)?(final\s+|correct\s+)?(answer|option|choice)\s*(is|:)?\s*", re.IGNORECASE)
_YES_NO = ("yes", "no")


def strip_answer_prefix(text: str) -> str:
    """Drop a leading 'The answer is' / 'Answer:' / 'Option' from a reply."""
    return _PREFIX.sub("", text.strip())


def normalise(text: str) -> str:
    """Lower-case, drop punctuation and a leading 'the answer is'."""
    return " ".join(strip_answer_prefix(text).lower().translate(_PUNCT).split())


def _choice_letter(reply: str, options: list[str] | None) -> str | None:
    """The option letter a reply names: '(B)', 'B.', 'B) cat', 'The answer is B', or an option's text."""
    letters = [chr(ord("A") + i) for i in range(len(options))] if options else list(string.ascii_uppercase)
    stripped = strip_answer_prefix(reply)
    match = re.match(r"^\(?([A-Za-z])\)?(?:[.:)\s]|$)", stripped)
    if match and match.group(1).upper() in letters:
        letter = match.group(1).upper()
        rest = normalise(stripped[match.end():])
        # 'B) cat' must not contradict the option text when it names one
        if not rest or options is None or rest == normalise(options[letters.index(letter)]):
            return letter
        return None
    if options:
        norm = normalise(reply)
        hits = [letters[i] for i, option in enumerate(options) if normalise(option) == norm]
        if len(hits) == 1:
            return hits[0]
    return None


def matching_reward(text: str, answer: str, options: list[str] | None = None) -> float:
    """1.0 when the extracted answer matches ``answer`` (a yes/no word or an option letter), else 0.0."""
    reply = extract_answer(text)
    if reply is None or not reply:
        return 0.0
    if options:
        return 1.0 if _choice_letter(reply, options) == answer.strip().upper() else 0.0
    truth, said = normalise(answer), normalise(reply)
    if truth in _YES_NO:  # "Yes, it is red." answers yes; a reply saying both words answers nothing
        words = said.split()
        return 1.0 if words and words[0] == truth and not (set(_YES_NO) - {truth}) & set(words) else 0.0
    return 1.0 if said == truth else 0.0
