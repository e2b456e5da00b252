"""Text conventions shared by the converters: what counts as a yes/no answer, a plain number, an option
letter, and how lettered options are parsed out of a question. One place, so every source maps its
answers to the paper's types the same way (and the reward can score what the converter wrote)."""
from __future__ import annotations

import re

from mixed_r1.data.schema import MAX_OPTIONS

_YES_NO = {"yes": "yes", "no": "no", "true": "yes", "false": "no"}
# a plain number: sign, optional currency, digits (thousands commas allowed), decimals, optional %
_PLAIN_NUMBER = re.compile(r"[-+−]?\s*[$€£¥]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?\s*[%°]?")
_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:：]\s*", re.IGNORECASE)
# an option line: "A. text", "A) text", "(A) text", "A: text" at the start of a line
_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[.):：]\s*(.+?)\s*$")
_LETTER = re.compile(r"^\s*\(?([A-Z])\)?\s*[.):]?\s*$")


def strip_answer_prefix(text: str) -> str:
    """'Answer: 12' -> '12' (the prefix some layouts put before every answer); trailing period dropped."""
    text = _ANSWER_PREFIX.sub("", text.strip())
    return text[:-1].rstrip() if text.endswith(".") and not re.search(r"\d\.$", text[-2:]) else text


def yes_no(text: str) -> str | None:
    """'yes'/'no' for a yes/no (or true/false) answer, any case, optional final period; else None."""
    return _YES_NO.get(strip_answer_prefix(text).strip().lower())


def plain_number(text: str) -> str | None:
    """The answer when it is one number ('17', '-0.5', '1,234', '45%', '$3.2', '140°'), else None
    (other units, words, ranges and several numbers do not fit the chart type). One sentence period
    after it is dropped ('14.' -> '14': the_cauldron ends every short answer with one)."""
    text = strip_answer_prefix(text)
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    if not re.search(r"\d", text) or _PLAIN_NUMBER.fullmatch(text) is None:
        return None
    return text


def option_letter(text: str, num_options: int) -> str | None:
    """'B' for an answer 'B', '(B)', 'B.' or 'Answer: B' when B is one of ``num_options`` letters."""
    match = _LETTER.match(strip_answer_prefix(text))
    if match is None:
        return None
    letter = match.group(1)
    return letter if ord(letter) - ord("A") < num_options else None


def index_letter(index: int) -> str:
    return chr(ord("A") + index)


def split_options(text: str) -> tuple[str, list[str]] | None:
    """``(question, options)`` when ``text`` lists lettered options one per line, A, B, C... in order
    (a "Choices:"/"Options:" header line is dropped); None when it does not."""
    question: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        match = _OPTION_LINE.match(line)
        if match and match.group(1) == index_letter(len(options)):
            options.append(match.group(2))
        elif options:  # text after the options (an instruction such as "Answer with the letter.")
            if line.strip():
                break
        elif line.strip():
            question.append(line.strip())
    while question and re.fullmatch(r"(?i)(choices|options)\s*:?", question[-1]):
        question.pop()
    if len(options) < 2 or len(options) > MAX_OPTIONS or not question:
        return None
    return "\n".join(question), options


# ScienceQA's labelled sections, as the_cauldron's build script renders a row ("Lecture: …\nQuestion: …\nHint: …")
_SCIENCEQA_SECTION = re.compile(r"^\s*(Lecture|Question|Hint|Context)\s*:\s*", re.IGNORECASE)


def scienceqa_problem(question: str, context: str | None) -> str:
    """One ScienceQA problem whatever layout it came in: ``"Context: <hint>\\n<question>"`` as lmms-eval's
    scienceqa task builds its prompt (``sqa_doc_to_text``), the bare question when the hint is empty. The
    lecture (background teaching text) is never part of it."""
    question, context = question.strip(), (context or "").strip()
    return f"Context: {context}\n{question}" if context else question


def scienceqa_sections(text: str) -> tuple[str, str]:
    """``(question, hint)`` of a prompt rendered in labelled sections ('Lecture:', 'Question:', 'Hint:' or
    'Context:', each running to the next label); the lecture is dropped, unlabelled text is the question."""
    parts: dict[str, list[str]] = {"lecture": [], "question": [], "hint": []}
    current = "question"
    for line in text.splitlines():
        match = _SCIENCEQA_SECTION.match(line)
        if match:
            label = match.group(1).lower()
            current = "hint" if label == "context" else label
            line = line[match.end():]
        parts[current].append(line)
    return "\n".join(parts["question"]).strip(), "\n".join(parts["hint"]).strip()
