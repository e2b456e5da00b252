"""MathVista testmini: the loader on a fixture in AI4Math/MathVista's layout (data/testmini-*.parquet beside a test
shard it must not read), the rule-based extraction and the official normalisation through the public seam
``mixed_r1.eval.score`` (multiple choice, integer, float with its precision, list), the local-LLM seam (the official
extraction prompt and ``judge_extracted``), and the aggregate."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mixed_r1.errors import DataError
from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import Judgement, benchmark
from mixed_r1.eval.benchmarks.mathvista import (
    BENCHMARK,
    DEMO_PROMPT,
    aggregate,
    extract,
    extraction_prompt,
    judge,
    judge_extracted,
)
from mixed_r1.eval.benchmarks.parsing import last_boxed
from tests.data.layouts import hf_image, png_bytes, write_parquet
from tests.linear_time import BOUND, SCALE, growth

MC_QUERY = ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
            "Question: Find $m\\angle H$\nChoices:\n(A) 135°\n(B) 140°\n(C) 145°\n(D) 150°")


def meta(category: str = "math-targeted-vqa") -> dict[str, Any]:
    return {"split": "testmini", "language": "english", "img_width": 32, "img_height": 24, "source": "Geometry3K",
            "category": category, "task": "geometry problem solving", "context": "geometry diagram",
            "grade": "high school", "skills": ["geometry reasoning", "algebraic reasoning"]}


def mc(**fields: Any) -> dict[str, Any]:
    """A multiple-choice record as AI4Math/MathVista publishes it (without its image)."""
    record = {"pid": "5", "question": "Find $m\\angle H$", "image": "images/5.jpg", "choices": ["135°", "140°", "145°", "150°"],
              "unit": None, "precision": None, "answer": "145°", "question_type": "multi_choice", "answer_type": "text",
              "metadata": meta(), "query": MC_QUERY}
    return {**record, **fields}


def free(answer: str, answer_type: str, precision: float | None = None, **fields: Any) -> dict[str, Any]:
    query = f"Hint: ...\nQuestion: {fields.get('question', 'How many?')}"
    record = {"pid": "2", "question": "How many?", "choices": None, "unit": None,
              "precision": precision, "answer": answer, "question_type": "free_form", "answer_type": answer_type,
              "metadata": meta("general-vqa"), "query": query}
    record = {**record, **fields}
    return {**record, "image": f"images/{record['pid']}.jpg"}


def row(record: dict[str, Any], colour: tuple[int, int, int] = (1, 2, 3)) -> dict[str, Any]:
    return {**record, "decoded_image": hf_image(png_bytes(colour=colour))}


# ----------------------------------------------------------------------------- loading
def test_loader_reads_the_testmini_shard(tmp_path: Path) -> None:
    folder = tmp_path / "MathVista"
    volume = free("1000", "integer", question="what is the total volume of the measuring cup?", unit="g", pid="2")
    distance = free("1.2", "float", 1.0, question="By what distance is the spring compressed?", pid="1")
    write_parquet(folder / "data" / "testmini-00000-of-00001-725687bf7a18d64b.parquet",
                  [row(distance, (9, 9, 9)), row(volume), row(mc())])
    write_parquet(folder / "data" / "test-00000-of-00002-6b81bd7f7e2065e6.parquet", [row(mc(pid="999"))])
    items = BENCHMARK.load(folder)
    assert [item.id for item in items] == ["1", "2", "5"]  # the test shard is not read
    first, second, third = items
    assert "decoded_image" not in first.record and first.record["image"] == "images/1.jpg"
    assert first.images[0]["bytes"] == png_bytes(colour=(9, 9, 9))
    assert first.record["precision"] == 1.0 and third.record["choices"] == ["135°", "140°", "145°", "150°"]
    assert first.hint == "Answer with a number with one decimal place."
    assert first.direct_prompt == ("By what distance is the spring compressed?\n"
                                   "Answer the question using a single floating-point number with one decimal place.")
    assert second.question == "what is the total volume of the measuring cup? (Unit: g)"
    assert second.hint == "Answer with an integer."
    assert second.direct_prompt == ("what is the total volume of the measuring cup? (Unit: g)\n"
                                    "Answer the question using a single integer number.")
    assert third.question == "Find $m\\angle H$\nChoices:\n(A) 135°\n(B) 140°\n(C) 145°\n(D) 150°"
    assert third.hint == "Answer with the option's letter from the given choices."
    assert third.direct_prompt == ("Find $m\\angle H$\nA. 135°\nB. 140°\nC. 145°\nD. 150°\n"
                                   "Answer with the option's letter from the given choices directly.")
    assert benchmark("mathvista") is BENCHMARK and BENCHMARK.split == "testmini"


def test_loader_refuses_a_folder_without_the_split_or_with_repeated_pids(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a" / "data" / "test-00000-of-00001.parquet", [row(mc())])
    with pytest.raises(DataError, match="testmini"):
        BENCHMARK.load(tmp_path / "a")
    write_parquet(tmp_path / "b" / "testmini.parquet", [row(mc()), row(mc())])
    with pytest.raises(DataError, match="duplicate pid"):
        BENCHMARK.load(tmp_path / "b")
    write_parquet(tmp_path / "c" / "testmini.parquet", [{**mc(), "decoded_image": None}])
    with pytest.raises(DataError, match="decoded_image"):
        BENCHMARK.load(tmp_path / "c")


# ----------------------------------------------------------------------------- multiple choice
@pytest.mark.parametrize("response, expected", [
    ("C", 1.0), ("c", 1.0), ("(C)", 1.0), ("C.", 1.0), ("**C**", 1.0), ("The answer is C.", 1.0),
    ("(C) 145°", 1.0), ("C. 145°", 1.0), ("145°", 1.0), ("145", 1.0), ("145 degrees", 1.0), ("\\boxed{C}", 1.0),
    ("So m∠H is 145.\nAnswer: C", 1.0),
    ("<think>The angles sum to 360, so it is 145.</think><answer>C</answer>", 1.0),
    ("<think>C looks right</think><answer>B</answer>", 0.0),
    ("B", 0.0), ("(A) 135°", 0.0), ("140", 0.0),
    ("E", 0.0),  # no fifth choice
    ("", 0.0), ("I cannot tell from the image.", 0.0), ("C or D", 0.0),
])
def test_multiple_choice(response: str, expected: float) -> None:
    assert score("mathvista", mc(), response) == expected


def test_an_unreadable_choice_is_wrong_not_a_guess() -> None:
    # the official normalisation would map any extraction to the nearest choice by edit distance
    assert judge(mc(), "I cannot tell") == judge(mc(), "") == judge(mc(), "F") == Judgement(False, None)
    assert judge(mc(), "(C) 145°").parsed == "145°"


def test_choices_equal_to_letters_and_a_choice_given_as_text() -> None:
    letters = mc(choices=["A", "B", "C", "D", "E"], answer="D")
    assert score("mathvista", letters, "D") == 1.0 and score("mathvista", letters, "(B)") == 0.0
    words = mc(choices=["hong kong", "osaka", "shanghai", "tokyo"], answer="tokyo")
    assert score("mathvista", words, "Tokyo.") == 1.0 and score("mathvista", words, "D") == 1.0
    assert score("mathvista", words, "osaka") == 0.0


# ----------------------------------------------------------------------------- free form
@pytest.mark.parametrize("response, expected", [
    ("14", 1.0), ("14.0", 1.0), ("The answer is 14.", 1.0), ("x = 14", 1.0), ("\\boxed{14}", 1.0),
    ("The number missing in the sequence is 14.", 1.0),
    ("The answer is 14 since 2 + 12 = 14 and 5 > 3.", 1.0), ("<think>7 + 7</think><answer>14</answer>", 1.0),
    ("14.7", 1.0),  # the official str(int(float(x))) truncates
    ("15", 0.0), ("-14", 0.0), ("fourteen", 0.0), ("", 0.0),
])
def test_integer(response: str, expected: float) -> None:
    assert score("mathvista", free("14", "integer"), response) == expected


@pytest.mark.parametrize("answer, precision, response, expected", [
    ("1.2", 1.0, "1.2", 1.0), ("1.2", 1.0, "1.20", 1.0), ("1.2", 1.0, "1.24", 1.0), ("1.2", 1.0, "d = 1.2 m", 1.0),
    ("1.2", 1.0, "1.26", 0.0), ("1.2", 1.0, "1", 0.0), ("1.2", 1.0, "12", 0.0),
    ("0.21", 2.0, "0.214", 1.0), ("0.21", 2.0, "$0.21", 1.0), ("0.21", 2.0, "0.2", 0.0),
    ("-4.3", 1.0, "−4.3", 1.0), ("0.0", 1.0, "0", 1.0), ("131253.5", 1.0, "131,253.5", 1.0),
    ("1.25", math.nan, "1.25", 1.0), ("1.25", math.nan, "1.3", 0.0),  # no precision: the answer's decimals
])
def test_float_rounds_to_the_precision(answer: str, precision: float, response: str, expected: float) -> None:
    assert score("mathvista", free(answer, "float", precision), response) == expected


@pytest.mark.parametrize("response, expected", [
    ("[2014, 2016]", 1.0), ("[2014,2016]", 1.0), ("2014, 2016", 1.0), ("2014 and 2016", 1.0),
    ("The peak is between [2014, 2016].", 1.0), ("[2016, 2014]", 0.0), ("2014", 0.0), ("[2014, 2016, 2018]", 0.0),
])
def test_list(response: str, expected: float) -> None:
    assert score("mathvista", free("[2014, 2016]", "list"), response) == expected


def test_the_judgement_says_what_was_read() -> None:
    assert judge(free("1.2", "float", 1.0), "1.24").parsed == "1.2"
    assert judge(free("14", "integer"), "14.7") == Judgement(True, "14")
    assert judge(free("14", "integer"), "no number here") == Judgement(False, None)
    assert extract(mc(), "(B) 140°") == "B" and extract(free("1.2", "float", 1.0), "about 1.2 m") == "1.2"


# ----------------------------------------------------------------------------- the local-LLM seam
def test_extraction_prompt_is_the_official_one() -> None:
    prompt = extraction_prompt(mc(), "The correct answer is (C) 145°.")
    assert prompt == f"{DEMO_PROMPT.strip()}\n\n{MC_QUERY}\n\nThe correct answer is (C) 145°.\n\nExtracted answer: "
    assert DEMO_PROMPT.strip().startswith("Please read the following example.")
    assert "Question: What fraction of the shape is blue?\nChoices:\n(A) 3/11" in DEMO_PROMPT  # real newlines
    # a record without its query gets the published one rebuilt: hint, question, unit, choices
    rebuilt = extraction_prompt(free("14", "integer", query=None, unit="g"), "14")
    assert ("\n\nHint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, "
            "at the end.\nQuestion: How many? (Unit: g)\n\n14\n\nExtracted answer: ") in rebuilt


def test_judge_extracted_applies_the_official_normalisation() -> None:
    assert judge_extracted(mc(), "C") == Judgement(True, "145°")
    assert judge_extracted(mc(), "(C) 145°") == Judgement(True, "145°")
    words = mc(choices=["hong kong", "osaka", "shanghai", "tokyo"], answer="tokyo")
    assert judge_extracted(words, "tokio") == Judgement(True, "tokyo")  # nearest choice by edit distance, as officially
    assert judge_extracted(words, "none of them") == Judgement(False, "hong kong")
    assert judge_extracted(mc(), "B") == Judgement(False, "140°")
    assert judge_extracted(mc(), "") == Judgement(False, None) and judge_extracted(mc(), None) == Judgement(False, None)
    assert judge_extracted(free("14", "integer"), "14.0") == Judgement(True, "14")
    assert judge_extracted(free("0.21", "float", 2.0), "0.2149") == Judgement(True, "0.21")
    assert judge_extracted(free("[2007, 2008]", "list"), "[2007, 2008]") == Judgement(True, "[2007, 2008]")
    assert judge_extracted(free("14", "integer"), "nan") == Judgement(False, None)


# ----------------------------------------------------------------------------- robustness
def test_boxes_are_matched_and_the_last_counts() -> None:
    assert last_boxed("\\boxed{1} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{12") == "12" and last_boxed("no box") is None
    assert score("mathvista", free("14", "integer"), "\\boxed{3} is wrong; \\boxed{14}") == 1.0


# untrusted replies, by size (the large ones ~1 MB at SCALE x the small size)
HOSTILE = {
    "digits": lambda n: "9" * n, "open boxes": lambda n: "\\boxed{" * (n // 7), "open parens": lambda n: "(" * n,
    "answer words": lambda n: "answer " * (n // 7), "open brackets": lambda n: "[" * n, "open braces": lambda n: "{" * n,
    "non-ascii": lambda n: "é∞π" * (n // 3), "list items": lambda n: "1," * (n // 2), "spaces": lambda n: " " * n + "7",
    "letters": lambda n: "A" * n,
}
SMALL = 1_000_000 // SCALE


def _score_all(response: str) -> list[float]:
    records = [mc(), free("14", "integer"), free("1.2", "float", 1.0), free("[2014, 2016]", "list"),
               free("x", "text", choices="not a list")]
    return [score("mathvista", record, response) for record in records]


@pytest.mark.parametrize("response", [make(SCALE * SMALL) for make in HOSTILE.values()] + ["\x00\ud800"])
def test_untrusted_replies_never_raise(response: str) -> None:
    assert all(verdict in (0.0, 1.0) for verdict in _score_all(response))


@pytest.mark.parametrize("name", HOSTILE)
def test_untrusted_replies_take_linear_time(name: str) -> None:
    """A quadratic scan of a 1 MB reply would stall an evaluation: CPU time on an 8x reply grows ~8x."""
    assert growth(_score_all, HOSTILE[name], SMALL) < BOUND


# ----------------------------------------------------------------------------- aggregation
def test_aggregate_reports_the_mean_and_the_official_breakdown() -> None:
    records = [mc(), mc(metadata=meta("general-vqa")), free("14", "integer"), free("1.2", "float", 1.0)]
    result = aggregate(records, [1.0, 0.0, 1.0, 1.0])
    assert result["score"] == 75.0
    assert result["question_type/multi_choice"] == 50.0 and result["question_type/free_form"] == 100.0
    assert result["category/math-targeted-vqa"] == 100.0 and result["category/general-vqa"] == pytest.approx(200 / 3)
    assert math.isnan(aggregate([], [])["score"])


# ----------------------------------------------------------------------------- replies GPT extraction reads
@pytest.mark.parametrize("response, expected", [
    ("C, since the angle is obtuse.", 1.0), ("C because the angles of a quadrilateral sum to 360°.", 1.0),
    ("The answer is C because 360 - 215 = 145.", 1.0), ("(C), as the figure shows.", 1.0),
    ("The angle measures 145°.", 1.0), ("The angle measures 135°.", 0.0),
    ("It is either 140° or 145°.", 0.0),  # two choices named: unreadable, not a guess
    ("A, B and C lie on the circle.", 0.0),  # letters that are not a reasoned choice
])
def test_a_letter_with_its_reason_and_a_choice_inside_a_sentence(response: str, expected: float) -> None:
    assert score("mathvista", mc(), response) == expected


def test_a_choice_in_a_sentence_says_which_and_a_longer_choice_wins_over_its_part() -> None:
    assert judge(mc(), "The angle measures 135°.").parsed == "135°"
    assert judge(mc(), "It is either 140° or 145°.").parsed is None
    colours = mc(choices=["red", "dark red", "blue"], answer="dark red")
    assert score("mathvista", colours, "The car is dark red.") == 1.0
    assert score("mathvista", colours, "The car is red.") == 0.0


@pytest.mark.parametrize("response, expected", [
    ("The line graph saw its maximum peak between 2014 and 2016.", 1.0), ("It peaks in 2014, 2016.", 1.0),
    ("The values rise between 2016 and 2014.", 0.0), ("The peak is in 2014.", 0.0),
])
def test_a_list_inside_a_sentence(response: str, expected: float) -> None:
    assert score("mathvista", free("[2014, 2016]", "list"), response) == expected


def test_every_worked_example_of_the_official_extraction_prompt_is_read_as_gpt_reads_it() -> None:
    """ext_ans.py's five examples (model response -> extracted answer) through our rule-based extraction."""
    examples = [(free("14", "integer"), "The number missing in the sequence is 14.", "14"),
                (free("0.6", "float", 1.0), "The fraction of females facing the camera is 0.6, which means that six out "
                 "of ten females in the group are facing the camera.", "0.6"),
                (free("1.45", "float", 2.0), "Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.", "1.45"),
                (free("[2007, 2008]", "list"), "The line graph saw its maximum peak between 2007 and 2008.", "[2007, 2008]"),
                (mc(choices=["3/11", "8/11", "6/11", "3/5"], answer="8/11"), "The correct answer is (B) 8/11.", "B")]
    for record, response, extracted in examples:
        assert extract(record, response) == extracted, response
        assert score("mathvista", record, response) == 1.0, response
