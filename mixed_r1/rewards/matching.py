"""Matching reward R_match for yes/no and multiple-choice answers (binary)."""
from __future__ import annotations

import re
import string

from mixed_r1.rewards.extract import extract_answer

_PUNCT = str.maketrans("", "", string.punctuation)
_YES_NO = ("yes", "no")
_WORD = {word: re.compile(rf"(?<!\S){word}(?!\S)") for word in _YES_NO}  # a whole word of a normalised text

# A spoken lead-in before the answer itself: "So the final answer is: 7", "**Answer:** B", "Answer - yes",
# "the correct option is (C)", "Therefore, the answer would be 12". Anchored, and no two adjacent
# repeats can share a character run (no "\s*,?\s+"), so it backtracks over any run at most once:
# linear time. A dash counts as a separator only before a space ("Answer - yes"), so "Answer -5"
# keeps its sign.
_PREFIX = re.compile(
    r"(?:(?:so|thus|therefore|hence|finally)(?:\s*,)?\s+)?"
    r"(?:(?:the|my|our)\s+)?"
    r"(?:(?:final|correct|right|best|most\s+likely)\s+)*"
    r"(?:answer|option|choice)\b"
    r"(?:\s+(?:is|was|would\s+be|will\s+be|should\s+be))?"
    r"[\s*]*(?:[:=]|[-–—](?=\s))?[\s*]*",
    re.IGNORECASE)
_PREFIX_WINDOW = 200  # a lead-in is short; looking no further keeps stripping it constant-time
# a reply that opens with one letter, then a separator: "B. cat", "(B) cat", "B) cat", "B: cat", "B cat"
_LETTER_THEN_TEXT = re.compile(r"(?P<open>\()?(?P<letter>[A-Za-z])(?P<close>\))?(?P<sep>[.:)]|\s)")


def strip_answer_prefix(text: str) -> str:
    """The reply without a spoken lead-in ('The final answer is:', 'Answer -', 'So the option is'),
    which every matching and chart reply may carry; the rest is returned stripped."""
    text = text.strip().lstrip("*#").lstrip()  # markdown: '**Answer:** B', '## Final answer: 7'
    match = _PREFIX.match(text, 0, _PREFIX_WINDOW)
    return text[match.end():].strip() if match else text


def normalise(text: str) -> str:
    """Lower-case, drop punctuation and a leading 'the answer is'."""
    return " ".join(strip_answer_prefix(text).lower().translate(_PUNCT).split())


def option_letters(count: int) -> list[str]:
    """Letters of ``count`` options: 'A' names ``options[0]``."""
    return [chr(ord("A") + i) for i in range(min(count, 26))]


def _letter_reading(stripped: str, options: list[str], letters: list[str]) -> tuple[str | None, bool]:
    """The letter of a reply 'B. green' whose text after the letter is that option's text (else None),
    and whether the letter is *marked* — bracketed or followed by '.', ':' or ')' as options are listed."""
    match = _LETTER_THEN_TEXT.match(stripped)
    if match is None or match.group("letter").upper() not in letters:
        return None, False
    letter = match.group("letter").upper()
    if normalise(stripped[match.end():]) != normalise(options[letters.index(letter)]):
        return None, False
    return letter, bool(match.group("open") or match.group("close") or not match.group("sep").isspace())


def _text_reading(said: str, options: list[str], letters: list[str]) -> str | None:
    """The letter of the one option whose normalised text is the reply ('a dog'), else None."""
    hits = [letter for letter, option in zip(letters, options) if normalise(option) == said]
    return hits[0] if len(hits) == 1 else None


def choice_letter(reply: str, options: list[str] | None) -> str | None:
    """The option letter a reply names, or None when it names none or is ambiguous.

    Rules, in order (``said`` is the reply lower-cased without punctuation or a lead-in):

    1. A bare letter — 'B', '(B)', 'B.', '**B**', 'The answer is B' — names that option, even where
       another option's text is itself one letter: the prompt asks for the letter.
    2. Otherwise two readings are tried. *Letter*: a letter, a separator, then exactly that option's
       text ('B. A dog', '(B) green', 'B dog'). *Text*: the reply is exactly one option's text ('A dog',
       'I think so' — a text may begin with a one-letter word). Only one holds, or both name the same
       option: that option. Neither holds: none — so a letter followed by another option's text
       ('A. A dog' when A is 'A cat') contradicts itself and names nothing.
    3. Both hold and name different options (options ['dog', 'A dog']): a *marked* letter — bracketed
       or followed by '.', ':' or ')', as the prompt lists options — wins ('A. dog' is A); a letter
       followed by a space only is ambiguous ('A dog' may be A or B) and names none.

    Without ``options`` only bare letters are read.
    """
    return _named_letter(reply, normalise(reply), options)


def _named_letter(reply: str, said: str, options: list[str] | None) -> str | None:
    """:func:`choice_letter` with the normalised reply ``said`` computed once by the caller."""
    letters = option_letters(len(options)) if options else list(string.ascii_uppercase)
    if len(said) == 1 and said.upper() in letters:
        return said.upper()
    if not options:
        return None
    by_letter, marked = _letter_reading(strip_answer_prefix(reply), options, letters)
    by_text = _text_reading(said, options, letters)
    if by_letter and by_text and by_letter != by_text:
        return by_letter if marked else None
    return by_letter or by_text


def _says_yes_no(said: str, truth: str) -> bool:
    """'Yes, it is red.' answers yes: the first word of the normalised reply ``said`` is the truth and
    the other word is absent (a reply saying both answers nothing). No split: a reply may be 1 MB."""
    other = "no" if truth == "yes" else "yes"
    return (said == truth or said.startswith(truth + " ")) and _WORD[other].search(said) is None


def reply_matches(reply: str, answer: str, options: list[str] | None = None) -> bool:
    """Whether an extracted reply matches the ground truth; the *answer* decides how it is read.

    - ``answer`` 'yes'/'no' (any case, punctuation): with ``options`` the reply may name an option
      (its letter or its text: 'A', 'yes') and is right when that option's text is the answer;
      a reply naming no option is read as words ('Yes, it is red.'), as without options.
    - other answers with ``options`` are option letters: the reply must name that option
      (see :func:`choice_letter`).
    - otherwise normalised exact match.
    """
    truth, said = normalise(answer), normalise(reply)
    if truth in _YES_NO:
        letter = _named_letter(reply, said, options) if options else None
        if options and letter is not None:
            return normalise(options[option_letters(len(options)).index(letter)]) == truth
        return _says_yes_no(said, truth)
    if options:
        return _named_letter(reply, said, options) == answer.strip().upper()
    return said == truth


def matching_reward(text: str, answer: str, options: list[str] | None = None) -> float:
    """1.0 when the extracted answer matches ``answer`` (a yes/no word or an option letter), else 0.0.

    Yes/no and multiple-choice samples both come here with their ``options`` (``None`` when the
    sample has none); :func:`reply_matches` says how each is read.
    """
    reply = extract_answer(text)
    if not reply:
        return 0.0
    return 1.0 if reply_matches(reply, answer, options) else 0.0
