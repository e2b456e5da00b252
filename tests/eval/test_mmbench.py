"""MMBench en dev: the loader on a fixture in lmms-lab/MMBench's layout (en/dev shard beside cn and test
shards it must not read), VLMEvalKit's option matcher through the public seam ``mixed_r1.eval.score``, and
circular aggregation (a question counts only when every rotated copy is right)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mixed_r1.errors import DataError
from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import benchmark
from mixed_r1.eval.benchmarks.mmbench import BENCHMARK, aggregate
from mixed_r1.eval.benchmarks.parsing import infer_choice
from tests.data.layouts import hf_image, png_bytes, write_parquet
from tests.linear_time import BOUND, SCALE, growth

POST = "\n\nAnswer with the option's letter from the given choices directly."


def row(index: int, answer: str = "B", hint: str | None = None, d: str | None = "a fish", **extra: Any) -> dict[str, Any]:
    """One row as lmms-lab/MMBench (config en) publishes it."""
    return {"index": index, "question": "Which animal is shown?", "hint": hint, "answer": answer,
            "A": "a dog", "B": "a cat", "C": "a bird", "D": d, "category": "object_localization",
            "image": hf_image(png_bytes(colour=(index % 250, 10, 10)), f"{index}.png"), "source": "MMBench",
            "L2-category": "finegrained_perception (instance-level)", "comment": None, "split": "dev", **extra}


# ----------------------------------------------------------------------------- loading
def test_loader_reads_the_en_dev_shard_only(tmp_path: Path) -> None:
    write_parquet(tmp_path / "en" / "dev-00000-of-00001.parquet",
                  [row(1, hint="Look at the pet."), row(1_000_001, answer="A", d=None), row(2)])
    write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", [row(7)])
    write_parquet(tmp_path / "cn" / "dev-00000-of-00001.parquet", [row(8)])
    items = BENCHMARK.load(tmp_path)
    assert [item.id for item in items] == ["1", "1000001", "2"]

    first, rotated = items[0], items[1]
    assert "image" not in first.record and first.record["answer"] == "B" and first.record["index"] == 1
    assert len(first.images) == 1 and first.images[0]["bytes"] == png_bytes(colour=(1, 10, 10))
    assert first.question == ("Look at the pet. Which animal is shown? There are several options:\n"
                              "A. a dog\nB. a cat\nC. a bird\nD. a fish")
    assert first.direct_prompt == first.question + POST
    assert first.hint == "Answer with the option's letter from the given choices."
    # no hint: the question starts the prompt; a None option is not listed
    assert rotated.question == "Which animal is shown? There are several options:\nA. a dog\nB. a cat\nC. a bird"
    assert "D." not in rotated.direct_prompt


def test_loader_names_a_folder_without_the_split(tmp_path: Path) -> None:
    write_parquet(tmp_path / "en" / "test-00000-of-00001.parquet", [row(7)])
    with pytest.raises(DataError, match="split 'dev'"):
        BENCHMARK.load(tmp_path)
    with pytest.raises(DataError, match="not found"):
        BENCHMARK.load(tmp_path / "missing")


def test_registry_returns_this_module() -> None:
    assert benchmark("mmbench") is BENCHMARK
    assert (BENCHMARK.hf_id, BENCHMARK.split) == ("lmms-lab/MMBench", "dev")


# ----------------------------------------------------------------------------- judging one record
# a published record: options A-C, D None (absent), letter answer, no image needed
RECORD = {"index": 5, "question": "Which animal is shown?", "hint": None, "A": "a dog", "B": "a cat",
          "C": "a bird", "D": None, "answer": "B", "category": "object_localization"}


@pytest.mark.parametrize("response", [
    "B", "(B)", "B.", "**B**", "Answer: B", "The answer is B", "B. a cat", "(B) a cat",
    "a cat", "It is a cat.",  # the option's text, uniquely contained
    "The correct answer is **B**. Because A and C show other animals.",  # 'answer is <letter>'
    "<think>It could be A, or C... no, it has whiskers.</think><answer>B</answer>",
    "<think>whiskers</think>\n<answer>(B) a cat</answer>",
])
def test_right_answers(response: str) -> None:
    assert score("mmbench", RECORD, response) == 1.0


@pytest.mark.parametrize("response", [
    "A", "(C)", "Answer: C", "a dog", "C. a bird",
    "<think>whiskers, so B</think><answer>A</answer>",  # only the answer block is scored
])
def test_wrong_answers(response: str) -> None:
    assert score("mmbench", RECORD, response) == 0.0


@pytest.mark.parametrize("response", [
    "", "   ", "I am not sure.", "A or B",  # no letter, or two letters
    "D",  # D is not an option of this record (its column is None)
    "b",  # the official matcher reads capital letters only
    "B is right because the picture clearly shows a small animal with whiskers",  # a letter far from the end
    "Cannot determine the answer", "Z",  # refusals name no option
    "a pet",  # no option text in it
    "a dog or a cat",  # two option texts
    "The answer is a mystery",  # the article 'a' is not the letter A
    "答案是 B 吗？不确定" * 3,
])
def test_unparseable_answers_are_wrong_and_read_as_none(response: str) -> None:
    assert score("mmbench", RECORD, response) == 0.0
    verdict = BENCHMARK.judge(RECORD, response)
    assert verdict.parsed is None and not verdict.correct


def test_parsed_letter_is_reported() -> None:
    assert BENCHMARK.judge(RECORD, "C").parsed == "C"
    assert BENCHMARK.judge(RECORD, "a cat").parsed == "B"
    # an E column, when present, is an option like the others
    assert score("mmbench", {**RECORD, "D": "a fish", "E": "a cow", "answer": "E"}, "E") == 1.0


def test_string_index_and_nan_cells_of_other_revisions() -> None:
    record = {**RECORD, "index": "1000005", "D": float("nan"), "hint": "nan"}
    assert score("mmbench", record, "B") == 1.0
    assert score("mmbench", record, "D") == 0.0 and BENCHMARK.judge(record, "D").parsed is None


# untrusted text by size (the large ones ~1 MB at SCALE x the small size) -> its verdict
HOSTILE = {
    "letters": (lambda n: "x" * n, 0.0), "repeated option": (lambda n: "B " * (n // 2), 0.0),
    "spaces before the answer": (lambda n: "answer is " + " " * n + "B", 1.0), "open parens": (lambda n: "(" * n, 0.0),
    "controls and emoji": (lambda n: "\u202e\u0000🙂" * (n // 10), 0.0), "correct words": (lambda n: "correct " * (n // 5), 0.0),
}
SMALL = 1_000_000 // SCALE


@pytest.mark.parametrize("name", HOSTILE)
def test_untrusted_text_is_scored_in_linear_time(name: str) -> None:
    make, verdict = HOSTILE[name]
    assert score("mmbench", RECORD, make(SCALE * SMALL)) == verdict
    assert growth(lambda text: score("mmbench", RECORD, text), make, SMALL) < BOUND  # CPU time: ~8x on 8x text


def test_records_missing_fields_never_raise() -> None:
    assert score("mmbench", {}, "B") == 0.0  # a record without options or answer: never raises
    assert infer_choice(None, {"A": "x"}) is None  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- circular aggregation
def test_a_group_with_one_wrong_rotation_fails() -> None:
    records: list[dict[str, Any]] = [{"index": 1, "category": "ocr"}, {"index": 1_000_001, "category": "ocr"},
               {"index": 2_000_001, "category": "ocr"},
               {"index": "2", "category": "ocr"}, {"index": "1000002", "category": "ocr"},  # string indices
               {"index": 3, "category": "counting"}]
    scores = [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    out = aggregate(records, scores)
    assert out["score"] == pytest.approx(100.0 * 2 / 3)  # groups 2 and 3 right; group 1 has a wrong copy
    assert out["per_record"] == pytest.approx(100.0 * 5 / 6)  # the plain accuracy differs
    assert out["groups"] == 3.0
    assert out["category/ocr"] == pytest.approx(50.0) and out["category/counting"] == pytest.approx(100.0)


def test_order_does_not_matter_and_every_copy_counts() -> None:
    records = [{"index": 1_000_004}, {"index": 4}, {"index": 3_000_004}]
    assert aggregate(records, [1.0, 1.0, 1.0])["score"] == 100.0
    assert aggregate(records, [1.0, 1.0, 0.0])["score"] == 0.0
    assert aggregate(records, [0.0, 0.0, 0.0])["per_record"] == 0.0


def test_aggregate_through_the_registry_on_judged_records() -> None:
    rotated = {**RECORD, "index": 1_000_005, "A": "a cat", "B": "a bird", "C": "a dog", "answer": "A"}
    records, responses = [RECORD, rotated], ["B", "B"]  # the second answers by position, not content
    scores = [score("mmbench", r, text) for r, text in zip(records, responses)]
    assert scores == [1.0, 0.0]
    out = benchmark("mmbench").aggregate(records, scores)
    assert out["score"] == 0.0 and out["per_record"] == 50.0
