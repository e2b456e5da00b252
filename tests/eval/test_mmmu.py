"""MMMU val: the loader on the published layout (lmms-lab/MMMU parquet shards, up to seven embedded images,
options as a Python-literal string) and the official scoring rule through the public seam."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mixed_r1.errors import DataError
from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import benchmark
from mixed_r1.eval.benchmarks.mmmu import BENCHMARK, IMAGE_FIELDS, MC_PROMPT, OPEN_PROMPT, load
from tests.data.layouts import hf_image, png_bytes, write_parquet
from tests.test_reward_linear_time import BOUND, growth

COLOURS = [(10 * i, 200 - 20 * i, 30 + 25 * i) for i in range(7)]  # one distinct image per slot


def mmmu_row(id: str, question: str, options: str, answer: str, question_type: str, n_images: int) -> dict[str, Any]:
    """A record in lmms-lab/MMMU's layout: every field, image_k embedded for k <= n_images, else None."""
    row: dict[str, Any] = {"id": id, "question": question, "options": options, "explanation": "",
                           "img_type": "['Diagrams']", "answer": answer, "topic_difficulty": "Medium",
                           "question_type": question_type, "subfield": "Calculus"}
    for k, field in enumerate(IMAGE_FIELDS):
        row[field] = hf_image(png_bytes(8 + k, 8, COLOURS[k]), f"{id}_{k + 1}.png") if k < n_images else None
    ordered = ["id", "question", "options", "explanation", *IMAGE_FIELDS, "img_type", "answer", "topic_difficulty",
               "question_type", "subfield"]
    return {key: row[key] for key in ordered}


MC = mmmu_row("validation_Art_Theory_3", "Which animal is shown in <image 1>?", "['cat', 'dog', 'a red car']",
              "B", "multiple-choice", 1)
SEVEN = mmmu_row("validation_Math_7", "Which of <image 1> <image 2> <image 3> <image 4> <image 5> <image 6> is "
                 "<image 7>?", "['<image 1>', '<image 2>', '<image 3>', '<image 4>', '<image 5>', '<image 6>']",
                 "D", "multiple-choice", 7)
OPEN = mmmu_row("validation_Architecture_and_Engineering_14", "Compute the ratio in <image 1>.", "[]", "1.06",
                "open", 1)
LISTED = mmmu_row("validation_Math_15", "How fast does the ladder slide? <image 1>", "[]", "['24/7', '3.429']",
                  "open", 1)


def published(row: dict[str, Any]) -> dict[str, Any]:
    """The record as the seam gets it: published field names, no images needed."""
    return {k: v for k, v in row.items() if k not in IMAGE_FIELDS}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "MMMU"
    write_parquet(root / "data" / "validation-00000-of-00002.parquet", [MC, SEVEN])
    write_parquet(root / "data" / "validation-00001-of-00002.parquet", [OPEN, LISTED])
    write_parquet(root / "data" / "dev-00000-of-00001.parquet", [mmmu_row("dev_Art_1", "?", "['x', 'y']", "A",
                                                                         "multiple-choice", 1)])
    return root


# ----------------------------------------------------------------------------- loader
def test_loader_reads_the_validation_shards_in_order(folder: Path) -> None:
    items = load(folder)
    assert [i.id for i in items] == ["validation_Art_Theory_3", "validation_Math_7",
                                     "validation_Architecture_and_Engineering_14", "validation_Math_15"]
    assert benchmark("mmmu") is BENCHMARK and BENCHMARK.split == "validation" and BENCHMARK.hf_id == "lmms-lab/MMMU"


def test_loader_keeps_seven_images_in_order_and_out_of_the_record(folder: Path) -> None:
    seven = load(folder)[1]
    assert [image["bytes"] for image in seven.images] == [SEVEN[f]["bytes"] for f in IMAGE_FIELDS]
    assert len({image["bytes"] for image in seven.images}) == 7
    assert not set(IMAGE_FIELDS) & set(seven.record)
    assert seven.record["options"] == SEVEN["options"] and seven.record["answer"] == "D"
    one = load(folder)[0]
    assert len(one.images) == 1 and one.images[0]["bytes"] == MC["image_1"]["bytes"]


def test_prompts_keep_placeholders_and_letter_the_literal_options(folder: Path) -> None:
    mc, seven, open_, _ = load(folder)
    assert mc.question == "Which animal is shown in <image 1>?\nA. cat\nB. dog\nC. a red car"
    assert mc.direct_prompt == mc.question + "\n\n" + MC_PROMPT
    assert mc.hint == "Answer with the option's letter from the given choices."
    assert "<image 7>?\nA. <image 1>\n" in seven.question and seven.question.endswith("F. <image 6>")
    assert open_.question == "Compute the ratio in <image 1>."
    assert open_.direct_prompt == open_.question + "\n\n" + OPEN_PROMPT


def test_loader_without_a_validation_shard_says_so(tmp_path: Path) -> None:
    write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", [MC])
    with pytest.raises(DataError, match="validation"):
        load(tmp_path)


# ----------------------------------------------------------------------------- multiple-choice
@pytest.mark.parametrize("response, expected", [
    ("B", 1.0),
    ("(B)", 1.0),
    ("B.", 1.0),
    ("B. dog", 1.0),                                   # lmms-eval's 'B.' reading of its own option format
    ("The answer is (B).", 1.0),
    ("I think it is (A), not (B)", 1.0),               # several bracketed letters: the last one named
    ("In my view the animal in the picture is clearly the dog", 1.0),  # > 5 words: the option's text
    ("the dog", 0.0),                                  # option text in 5 words or fewer is not read
    ("A", 0.0),
    ("(C)", 0.0),
    ("<think>It could be (A).</think><answer>B</answer>", 1.0),
    ("<think>It is B.</think><answer>A</answer>", 0.0),
    ("Reasoning... so the final answer is \\boxed{B}", 1.0),
])
def test_multiple_choice_through_the_seam(response: str, expected: float) -> None:
    assert score("mmmu", published(MC), response) == expected


def test_options_come_as_the_published_literal_string() -> None:
    record = published(MC)
    assert isinstance(record["options"], str)
    assert score("mmmu", record, "C") == 0.0 and score("mmmu", record, "(B)") == 1.0
    malicious = dict(record, options="[__import__('os').getpid()]")  # literal_eval refuses it: no options
    assert BENCHMARK.judge(malicious, "B").parsed is None


def test_seven_image_question_scores_its_sixth_option() -> None:
    assert score("mmmu", published(SEVEN), "D") == 1.0
    assert score("mmmu", published(SEVEN), "F") == 0.0
    assert BENCHMARK.judge(published(SEVEN), "(F)").parsed == "F"


@pytest.mark.parametrize("response", ["I don't know.", "", "   ", "🤷", "{}", "it is unclear from the image"])
def test_unparseable_multiple_choice_is_wrong_and_counted(response: str) -> None:
    verdict = BENCHMARK.judge(published(MC), response)
    assert verdict.correct is False and verdict.parsed is None  # the official code would pick a random letter
    assert score("mmmu", published(MC), response) == 0.0


# ----------------------------------------------------------------------------- open
@pytest.mark.parametrize("response, expected", [
    ("1.06", 1.0),
    ("The ratio is 1.06.", 1.0),
    ("1.0600", 1.0),
    ("So the answer is 1.064", 1.0),     # numbers compare rounded to 2 decimals: round(1.064, 2) == 1.06
    ("1.07", 0.0),
    ("The ratio is 1.1", 0.0),
    ("x = 1.06", 1.0),                   # '=' counts as a key phrase on the last line
    ("\\boxed{1.06}", 1.0),
    ("<think>maybe 2</think><answer>1.06</answer>", 1.0),
    ("about one", 0.0),
])
def test_open_numeric_answer_with_the_official_normalisation(response: str, expected: float) -> None:
    assert score("mmmu", published(OPEN), response) == expected


def test_open_numbers_with_thousands_commas() -> None:
    record = dict(published(OPEN), answer="7243000")
    assert score("mmmu", record, "The company raises $7,243,000.") == 1.0
    assert score("mmmu", record, "The company raises $7,243,001.") == 0.0


def test_open_answer_listed_as_a_literal_string_accepts_each() -> None:
    record = published(LISTED)
    assert score("mmmu", record, "24/7") == 1.0                     # text contained
    assert score("mmmu", record, "The speed is 3.43 ft/s") == 1.0  # 3.429 rounds to 3.43
    assert score("mmmu", record, "3.42") == 0.0
    assert score("mmmu", dict(record, answer=["24/7", "3.429"]), "3.429") == 1.0  # a real list too


def test_one_letter_open_answer_is_not_matched_inside_a_word() -> None:
    record = dict(published(OPEN), answer="C")
    assert score("mmmu", record, "C") == 1.0
    assert score("mmmu", record, "The region is c") == 1.0
    assert score("mmmu", record, "The region is ace") == 0.0


def test_open_judgement_reports_what_it_read() -> None:
    verdict = BENCHMARK.judge(published(OPEN), "The ratio is 1.06")
    assert verdict.correct and verdict.parsed == "1.06"
    assert BENCHMARK.judge(published(OPEN), "").parsed is None


# ----------------------------------------------------------------------------- robustness and aggregation
RECORDS = [published(MC), published(OPEN)]


@pytest.mark.parametrize("record", RECORDS, ids=["multiple-choice", "open"])
@pytest.mark.parametrize("make", [
    lambda n: "1" * n + "x",                 # the official number regexes are quadratic on a long digit run
    lambda n: "1e" + "1" * n,
    lambda n: "is 1.0\n" * (n // 7),
    lambda n: "(A) " * (n // 4),
    lambda n: "\\boxed{" * (n // 7),
], ids=["digits", "exponent digits", "many lines", "many letters", "unclosed boxes"])
def test_judge_is_linear_time(make: Any, record: dict[str, Any]) -> None:
    assert growth(lambda text: BENCHMARK.judge(record, text), make, 16 * 1024) < BOUND


def test_aggregate_is_the_overall_accuracy_with_disciplines() -> None:
    records = [published(MC), published(SEVEN), published(OPEN), published(LISTED)]
    result = BENCHMARK.aggregate(records, [1.0, 0.0, 1.0, 1.0])
    assert result["score"] == pytest.approx(75.0)
    assert result["Overall-Art and Design"] == pytest.approx(100.0)
    assert result["Overall-Science"] == pytest.approx(50.0)
    assert result["Overall-Tech and Engineering"] == pytest.approx(100.0)
    assert "Overall-Business" not in result
