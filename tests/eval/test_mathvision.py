"""MathVision: the loader on fixtures in MathLLMs/MathVision's layout (test read before testmini, testmini when it is
the only split, the split recorded in ``_split``), lmms-eval's prompt, the official extraction (letter endings,
'the answer is', the last ``\\boxed{}`` with nested braces) and the math equivalence without sympy through the
public seam ``mixed_r1.eval.score``, and the per-level/subject aggregate."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from mixed_r1.errors import DataError
from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import Judgement, benchmark
from mixed_r1.eval.benchmarks.mathvision import BENCHMARK, aggregate, clean, equivalent, evaluate, judge, model_answer
from tests.data.layouts import hf_image, png_bytes, write_parquet
from tests.linear_time import BOUND, SCALE, growth

LETTERS = ["A", "B", "C", "D", "E"]


def record(qid: str = "2", options: list[str] | None = None, answer: str = "C", **fields: Any) -> dict[str, Any]:
    """A record as MathLLMs/MathVision publishes it (without its image)."""
    base = {"id": qid, "question": "Which bike is most expensive?\n<image1>", "options": LETTERS if options is None else options,
            "image": f"images/{qid}.jpg", "answer": answer, "solution": None, "level": 2, "subject": "arithmetic"}
    return {**base, **fields}


def free(answer: str, **fields: Any) -> dict[str, Any]:
    return record("1", [], answer, question="Which number should be written in place of the question mark?\n<image1>",
                  **fields)


def row(rec: dict[str, Any], colour: tuple[int, int, int] = (4, 5, 6)) -> dict[str, Any]:
    return {**rec, "decoded_image": hf_image(png_bytes(colour=colour), f"{rec['id']}.jpg")}


# ----------------------------------------------------------------------------- loading
def test_loader_reads_test_before_testmini(tmp_path: Path) -> None:
    data = tmp_path / "MathVision" / "data"
    write_parquet(data / "test-00000-of-00001-3532b8d3f1b4047a.parquet", [row(record("2")), row(free("60"), (7, 7, 7))])
    write_parquet(data / "testmini-00000-of-00001-f8ff70fcb2f29b1d.parquet", [row(record("8"))])
    items = BENCHMARK.load(tmp_path / "MathVision")
    assert [item.id for item in items] == ["2", "1"]
    assert all(item.record["_split"] == "test" for item in items)
    choice, number = items
    assert "decoded_image" not in choice.record and choice.record["options"] == LETTERS
    assert number.images[0]["bytes"] == png_bytes(colour=(7, 7, 7)) and number.record["options"] == []
    assert choice.question == "Which bike is most expensive?\n<image1>\nChoices:\nA. A\nB. B\nC. C\nD. D\nE. E"
    assert choice.hint == "Answer with the option's letter from the given choices."
    assert number.question == "Which number should be written in place of the question mark?\n<image1>"
    assert number.hint == "Answer with a number or a simplified expression."
    # lmms-eval's mathvision_doc_to_text, verbatim (the instruction is glued to the question)
    assert choice.direct_prompt == ('Please solve the problem step by step and put your answer in one "\\boxed{}".'
                                    "Which bike is most expensive?\n<image1>\nChoices: A. A\nB. B\nC. C\nD. D\nE. E\n"
                                    "Answer the question with the option's letter from the given choices directly.")
    assert number.direct_prompt == ('Please solve the problem step by step and put your answer in one "\\boxed{}".'
                                    "Which number should be written in place of the question mark?\n<image1>")
    assert benchmark("mathvision") is BENCHMARK and BENCHMARK.split == "test"


def test_loader_reads_testmini_when_it_is_the_only_split(tmp_path: Path) -> None:
    write_parquet(tmp_path / "data" / "testmini-00000-of-00001-f8ff70fcb2f29b1d.parquet", [row(record("8")), row(free("3"))])
    items = BENCHMARK.load(tmp_path)
    assert [item.id for item in items] == ["8", "1"] and {item.record["_split"] for item in items} == {"testmini"}


def test_loader_refuses_an_empty_folder_and_repeated_ids(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="hf download MathLLMs/MathVision"):
        BENCHMARK.load(tmp_path / "empty")
    write_parquet(tmp_path / "twice" / "data" / "test-00000-of-00001.parquet", [row(record("3")), row(record("3"))])
    with pytest.raises(DataError, match="duplicate id"):
        BENCHMARK.load(tmp_path / "twice")


# ----------------------------------------------------------------------------- multiple choice
@pytest.mark.parametrize("response, expected", [
    ("C", 1.0), ("c", 1.0), ("(C)", 1.0), ("C.", 1.0), ("\\boxed{C}", 1.0), ("\\boxed{\\text{(C)}}", 1.0),
    ("The answer is C.", 1.0), ("So the most expensive one is (C).", 1.0), ("C\nbecause it is the largest", 1.0),
    ("<think>Bike C has the highest tag.</think><answer>\\boxed{C}</answer>", 1.0),
    ("<think>C?</think><answer>B</answer>", 0.0),
    ("B", 0.0), ("\\boxed{D}", 0.0), ("", 0.0), ("none of them", 0.0),
])
def test_multiple_choice_letters(response: str, expected: float) -> None:
    assert score("mathvision", record(), response) == expected


@pytest.mark.parametrize("response, expected", [
    ("A", 1.0), ("A. $\\frac{1}{2}$", 1.0), ("0.5", 1.0), ("\\boxed{\\frac12}", 1.0), ("1/2", 1.0),
    ("\\boxed{1}", 0.0),  # the text of option B
    ("B", 0.0), ("0.6", 0.0),
])
def test_multiple_choice_by_option_text_or_value(response: str, expected: float) -> None:
    options = ["$\\frac{1}{2}$", "1", "2", "3", "4"]
    assert score("mathvision", record(options=options, answer="A"), response) == expected


def test_an_option_text_with_an_equals_sign_is_not_cut() -> None:
    options = ["$a=d$", "$b+c=d$", "$a+c=d+e$", "$a+b=d+e$", "$e+d=a$"]
    assert score("mathvision", record(options=options, answer="E"), "A") == 0.0
    assert score("mathvision", record(options=options, answer="E"), "e+d=a") == 1.0


# ----------------------------------------------------------------------------- free form
@pytest.mark.parametrize("answer, response, expected", [
    ("60", "60", 1.0), ("60", "\\boxed{60}", 1.0), ("60", "60.0", 1.0), ("60", "The answer is 60.", 1.0),
    ("60", "the final answer is 60. Then we check", 1.0), ("60", "x = 60", 1.0), ("60", "60^\\circ", 1.0),
    ("60", "\\boxed{60^{\\circ}}", 1.0), ("60", "60°", 1.0), ("60", "60 cm", 1.0), ("60", "\\boxed{60\\text{ units}}", 1.0),
    ("60", "60%", 1.0), ("60", "61", 0.0), ("60", "\\boxed{6}0", 0.0),
    ("\\frac{1}{2}", "0.5", 1.0), ("\\frac{1}{2}", "1/2", 1.0), ("\\frac{1}{2}", "\\dfrac{1}{2}", 1.0),
    ("\\frac{1}{2}", "\\boxed{\\left(\\frac{1}{2}\\right)}", 1.0), ("\\frac{1}{2}", "\\boxed{\\frac{1}{\\sqrt{4}}}", 1.0),
    ("\\frac{1}{2}", "0.51", 0.0), ("\\frac{1}{2}", "\\frac{1}{3}", 0.0),
    ("$\\frac{1}{3}$", "0.33", 1.0), ("$\\frac{1}{3}$", "0.3", 0.0),
    ("$4 \\pi$", "12.57", 1.0), ("$4 \\pi$", "4π", 1.0), ("$4 \\pi$", "\\boxed{4\\pi \\text{ cm}^2}", 1.0),
    ("$4 \\pi$", "12.6", 0.0), ("$4 \\pi$", "4", 0.0),
    ("2\\sqrt{3}", "\\sqrt{12}", 1.0), ("2\\sqrt{3}", "3.46", 1.0), ("$2(\\sqrt{2}-1)$", "2\\sqrt2-2", 1.0),
    ("\\frac{3^{1008}-1}{3^{1009}}", "\\frac{1}{3}", 1.0),  # exact powers, far beyond a float
    ("45^2", "2025", 1.0), ("1,000", "1000", 1.0), ("1:2", "1:2", 1.0), ("1:2", "0.5", 0.0),
    ("(3,-4)", "(3, -4)", 1.0), ("(3,-4)", "(3.0,-4)", 1.0), ("(3,-4)", "(-4, 3)", 0.0), ("(3,-4)", "3", 0.0),
    ("8\\sqrt{3}{squareinches}", "8\\sqrt{3}", 1.0), ("69{degrees}", "69", 1.0), ("\x0crac{36}{13}", "36/13", 1.0),
    ("C", "c", 1.0),  # a free-form question whose published answer is a letter
])
def test_free_form_equivalence(answer: str, response: str, expected: float) -> None:
    assert score("mathvision", free(answer), response) == expected


def test_the_last_box_counts_and_nested_braces_are_kept() -> None:
    assert model_answer("First \\boxed{3}, then \\boxed{\\frac{1}{2}}.") == "\\frac{1}{2}"
    assert score("mathvision", free("\\frac{1}{2}"), "\\boxed{\\frac{1}{2}} no wait \\boxed{3}") == 0.0
    assert model_answer("The answer is 12.") == "12" and model_answer("It is (D).") == "D"


def test_unparseable_replies_are_wrong() -> None:
    reasoning = "Let me think about the picture. " * 200
    assert judge(free("60"), reasoning) == Judgement(False, None)
    assert judge(free("60"), "") == judge(free("60"), "   ") == Judgement(False, None)
    assert judge(record(), "I cannot decide") == Judgement(False, None)
    assert judge(free("60"), "\\boxed{60}") == Judgement(True, "60")


# ----------------------------------------------------------------------------- the evaluator
def test_evaluator_is_exact_where_it_can_be_and_says_what_it_cannot_read() -> None:
    assert evaluate("\\frac{1}{2}+\\frac{1}{3}") == Fraction(5, 6) and evaluate("0.1+0.2") == Fraction(3, 10)
    assert evaluate("\\sqrt[3]{8}") == 2 and evaluate("\\sqrt{\\frac{9}{4}}") == Fraction(3, 2)
    assert evaluate("-2^2") == -4 and evaluate("2^{-1}") == Fraction(1, 2) and evaluate("3*4/6") == 2
    assert evaluate("\\pi") == pytest.approx(math.pi)
    for text in ("2a", "\\sin(30)", "1/0", "\\sqrt{-1}", "2^{99999}", "(" * 100 + "1" + ")" * 100, "\\infty", "1:2", "2^"):
        assert evaluate(text) is None, text
    assert clean("$\\left( \\dfrac{1}{2} \\right)$") == "(\\frac{1}{2})" and clean("x \\approx 3.14") == "3.14"
    assert equivalent("\\frac{1}{2}", "0.5") and not equivalent("\\frac{1}{2}", "")


# untrusted replies, by size (the large ones ~1 MB at SCALE x the small size)
HOSTILE = {
    "digits": lambda n: "9" * n, "open boxes": lambda n: "\\boxed{" * (n // 7), "open parens": lambda n: "(" * n,
    "lead-ins": lambda n: "the answer is " * (n // 14), "open braces": lambda n: "{" * n,
    "non-ascii": lambda n: "é∞π" * (n // 3), "is": lambda n: "is " * (n // 3), "spaces": lambda n: " " * n + "7",
    "fracs": lambda n: "\\frac" * (n // 5), "powers": lambda n: "2^" * (n // 2),
}
SMALL = 1_000_000 // SCALE


def _score_all(response: str) -> list[float]:
    records = (record(), free("\\frac{1}{2}"), record(options=["$\\frac{1}{2}$", "1", "2", "3", "4"], answer="A"))
    return [score("mathvision", rec, response) for rec in records]


@pytest.mark.parametrize("response", [make(SCALE * SMALL) for make in HOSTILE.values()] + [
    "\x00\ud800", "\\boxed{" + "(" * 1_999 + "}", "\\boxed{" + "\\sqrt{" * 150 + "}"])
def test_untrusted_replies_never_raise(response: str) -> None:
    assert all(verdict in (0.0, 1.0) for verdict in _score_all(response))


@pytest.mark.parametrize("name", HOSTILE)
def test_untrusted_replies_take_linear_time(name: str) -> None:
    """A quadratic scan of a 1 MB reply would stall an evaluation: CPU time on an 8x reply grows ~8x."""
    assert growth(_score_all, HOSTILE[name], SMALL) < BOUND


# ----------------------------------------------------------------------------- aggregation
def test_aggregate_reports_the_mean_per_level_and_subject() -> None:
    records = [record(level=1, subject="algebra"), record(level=1, subject="counting"), free("3", level=5, subject="algebra")]
    result = aggregate(records, [1.0, 0.0, 0.0])
    assert result["score"] == pytest.approx(100 / 3)
    assert result["level/1"] == 50.0 and result["level/5"] == 0.0
    assert result["subject/algebra"] == 50.0 and result["subject/counting"] == 0.0


# ----------------------------------------------------------------------------- evaluate.py's flags, in its order
@pytest.mark.parametrize(("reply", "said"), [
    # the final answer stated, then a rejected value mentioned: each flag is searched in what the last cut left
    ("The final answer is 5. At first I thought the answer is 7, but that was wrong.", "5"),
    ("the final answer is 12\nthe answer is 13 apples", "12"),
    ("the final answer is 12\nthe answer is 13", "13"),  # officially first: a number after the last 'is '
    ("I compute it. The answer is 3. So the correct answer is 4", "4"),
    ("Hence the answer should be 8. Done", "8"),
    ("THE ANSWER IS 9", "THE ANSWER IS 9"),  # case-sensitive as officially: no flag here
    ("The answer is \\boxed{6}, not the answer is five", "6"),  # a box wins; no flag is cut
])
def test_flags_are_cut_in_the_official_order(reply: str, said: str) -> None:
    assert model_answer(reply) == said


def test_a_long_reply_is_scored_on_what_follows_its_last_equals_sign() -> None:
    """The official code cleans any reply (find_math_answer: the part after the last '='); a 2,000-character
    limit used to score such a reply wrong outright."""
    work = "We add the lengths one by one and check each step against the figure. " * 40  # ~2,900 characters
    assert len(work) > 2_000
    assert score("mathvision", free("12"), work + "So x = 12") == 1.0
    assert score("mathvision", free("12"), work + "So x = 13") == 0.0
    assert score("mathvision", free("12"), work) == 0.0  # nothing after any '=': the text itself is no answer


@pytest.mark.parametrize(("answer", "reply"), [("45", "45°"), ("-3", "−3"), ("2\\pi", "2π"), ("25", "25%")])
def test_symbols_the_official_clean_up_leaves_are_read(answer: str, reply: str) -> None:
    """Documented deviation: the official code fails on these; we read them (module docstring)."""
    assert score("mathvision", free(answer), f"The answer is {reply}") == 1.0
