"""MMStar val: the loader on a fixture in Lin-Chen/MMStar's layout (one mmstar.parquet at the root), the
options parsed out of the question's two published layouts, letter matching through the public seam
``mixed_r1.eval.score``, and the category-mean aggregate."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import benchmark
from mixed_r1.eval.benchmarks.mmstar import BENCHMARK, aggregate, options
from tests.data.layouts import hf_image, png_bytes, write_parquet
from tests.linear_time import BOUND, SCALE, growth

INLINE = ("Which option describe the object relationship in the image correctly?\nOptions: A: The suitcase is on "
          "the book., B: The suitcase is beneath the cat., C: 3, 4, and 5, D: The suitcase is beneath the book.")
MATHVISTA = ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
             "Question: How many snowmen are there?\nChoices:\n(A) 10\n(B) 15\n(C) 12\n(D) 20")
POST = "\nAnswer with the option's letter from the given choices directly"


def row(index: int, question: str, answer: str, category: str = "coarse perception",
        l2: str = "image scene and topic") -> dict[str, Any]:
    """One row as Lin-Chen/MMStar publishes it."""
    return {"index": index, "question": question, "image": hf_image(png_bytes(colour=(index, 0, 0)), None),
            "answer": answer, "category": category, "l2_category": l2,
            "meta_info": {"source": "MMBench", "split": "val", "image_path": f"images/{index}.jpg"}}


# ----------------------------------------------------------------------------- loading
def test_loader_reads_the_published_file(tmp_path: Path) -> None:
    yes_no = "Is the cat asleep? Please answer yes or no.\nOptions: A: Yes, B: No"
    write_parquet(tmp_path / "mmstar.parquet", [row(0, INLINE, "B"), row(1, MATHVISTA, "C", "math", "geometry"),
                                                row(2, yes_no, "A")])
    items = BENCHMARK.load(tmp_path)
    assert [item.id for item in items] == ["0", "1", "2"]
    first = items[0]
    assert "image" not in first.record and first.record["meta_info"]["source"] == "MMBench"
    assert len(first.images) == 1 and first.images[0]["bytes"] == png_bytes(colour=(0, 0, 0))
    assert first.question == INLINE and first.direct_prompt == INLINE + POST
    assert first.hint == "Answer with the option's letter from the given choices."
    assert items[1].direct_prompt == MATHVISTA + POST
    # lmms-eval drops the yes/no instruction: the post prompt asks for a letter
    assert items[2].question == "Is the cat asleep?\nOptions: A: Yes, B: No"


def test_loader_prefers_files_named_for_the_split(tmp_path: Path) -> None:
    write_parquet(tmp_path / "val" / "0000.parquet", [row(5, INLINE, "A")])  # the Hub's parquet conversion
    write_parquet(tmp_path / "other.parquet", [row(6, INLINE, "A")])
    assert [item.id for item in BENCHMARK.load(tmp_path)] == ["5"]
    assert benchmark("mmstar") is BENCHMARK and BENCHMARK.split == "val"


# ----------------------------------------------------------------------------- options in the question
def test_options_of_both_layouts() -> None:
    assert options(INLINE) == {"A": "The suitcase is on the book.", "B": "The suitcase is beneath the cat.",
                               "C": "3, 4, and 5", "D": "The suitcase is beneath the book."}  # commas kept
    assert options("Is it day?\nOptions: A: Yes\nB: No") == {"A": "Yes", "B": "No"}
    assert options(MATHVISTA) == {"A": "10", "B": "15", "C": "12", "D": "20"}
    assert options("What is shown?") == {}


# ----------------------------------------------------------------------------- judging one record
RECORD = {"index": 0, "question": INLINE, "answer": "B", "category": "instance reasoning",
          "l2_category": "cross-instance relation reasoning", "meta_info": {"source": "SEEDBench_IMG"}}


@pytest.mark.parametrize("response", [
    "B", "(B)", "B.", "Answer: B", "The answer is B.", "B: The suitcase is beneath the cat.",
    "The suitcase is beneath the cat.",  # the option's text
    "b", "(b)", "option b", "the answer is b.",  # the official MMStar readings of a lower-case letter
    "<think>Not on the book (A); the cat is on top.</think><answer>B</answer>",
])
def test_right_answers(response: str) -> None:
    assert score("mmstar", RECORD, response) == 1.0


@pytest.mark.parametrize("response", ["A", "(C)", "Answer: D", "3, 4, and 5", "d)",
                                      "<think>B</think><answer>A</answer>"])
def test_wrong_answers(response: str) -> None:
    assert score("mmstar", RECORD, response) == 0.0


@pytest.mark.parametrize("response", [
    "", "no idea", "A or B", "E",
    "a bird",  # the official scorer would read its first letter as A: here a letter must stand alone
    "beneath",  # in two option texts
    "Cannot determine the answer",
])
def test_unparseable_answers_are_wrong_and_read_as_none(response: str) -> None:
    assert score("mmstar", RECORD, response) == 0.0
    verdict = BENCHMARK.judge(RECORD, response)
    assert verdict.parsed is None and not verdict.correct


def test_other_layouts_and_untrusted_text() -> None:
    mathvista = {"question": MATHVISTA, "answer": "C"}
    assert score("mmstar", mathvista, "C") == 1.0 and score("mmstar", mathvista, "12") == 1.0
    assert score("mmstar", mathvista, "15") == 0.0
    assert score("mmstar", {"question": "What is shown?", "answer": "d"}, "(D)") == 1.0  # unparsed options: A-D
    hostile = (lambda n: "b" * n, lambda n: "B " * (n // 2), lambda n: "\x00🙂" * (n // 5))
    assert [score("mmstar", RECORD, make(1_000_000)) for make in hostile] == [0.0] * 3
    for make in hostile:  # CPU time on an 8x text grows ~8x, not the ~64x of a quadratic scan
        assert growth(lambda text: score("mmstar", RECORD, text), make, 1_000_000 // SCALE) < BOUND
    assert score("mmstar", {}, "B") == 0.0


# ----------------------------------------------------------------------------- aggregation
def test_category_mean_differs_from_the_plain_mean_on_unbalanced_categories() -> None:
    records = ([{"category": "math", "l2_category": "geometry"}]
               + [{"category": "logical reasoning", "l2_category": "diagram reasoning"}] * 3
               + [{"category": "logical reasoning", "l2_category": "common reasoning"}])
    scores = [1.0, 0.0, 0.0, 1.0, 1.0]
    out = aggregate(records, scores)
    assert out["category/math"] == 100.0 and out["category/logical reasoning"] == 50.0
    assert out["score"] == 75.0  # mean of the category accuracies
    assert out["per_record"] == 60.0  # the plain mean differs
    assert out["l2_category/diagram reasoning"] == pytest.approx(100.0 / 3)
    assert out["l2_category_mean"] == pytest.approx((100.0 + 100.0 / 3 + 100.0) / 3)


def test_balanced_categories_give_the_official_final_score() -> None:
    records = [{"category": "math"}] * 4 + [{"category": "science & technology"}] * 4
    scores = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    out = benchmark("mmstar").aggregate(records, scores)
    assert out["score"] == out["per_record"] == 50.0  # correct / total, as the official scorer divides
