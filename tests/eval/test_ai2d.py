"""AI2D test: the loader on the published layout (lmms-lab/ai2d parquet shards, no id field, the answer an
index string) and lmms-eval's letter scoring through the public seam."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mixed_r1.errors import DataError
from mixed_r1.eval import score
from mixed_r1.eval.benchmarks import benchmark
from mixed_r1.eval.benchmarks.ai2d import BENCHMARK, POST_PROMPT, load
from tests.data.layouts import hf_image, png_bytes, write_parquet
from tests.test_reward_linear_time import BOUND, growth


def ai2d_row(question: str, options: list[str], answer: str, colour: tuple[int, int, int]) -> dict[str, Any]:
    """A record in lmms-lab/ai2d's layout: question, options (list), answer (index string), image."""
    return {"question": question, "options": options, "answer": answer, "image": hf_image(png_bytes(colour=colour))}


ROWS = [
    ai2d_row("Which planet is third from the sun?", ["Mars", "Venus", "Earth", "Jupiter"], "2", (1, 2, 3)),
    ai2d_row("What eats the grass?", ["rabbit", "fox"], "0", (4, 5, 6)),
    ai2d_row("Which stage comes last?", ["egg", "larva", "pupa", "adult"], "3", (7, 8, 9)),
]
PLANET = {k: v for k, v in ROWS[0].items() if k != "image"}  # what the seam gets: published fields, no image


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "ai2d"
    write_parquet(root / "data" / "test-00000-of-00002.parquet", ROWS[:2])
    write_parquet(root / "data" / "test-00001-of-00002.parquet", ROWS[2:])
    write_parquet(root / ".cache" / "huggingface" / "test-00000-of-00002.parquet", ROWS[:1])  # hf download's cache
    return root


# ----------------------------------------------------------------------------- loader
def test_loader_numbers_rows_in_published_order_across_shards(folder: Path) -> None:
    items = load(folder)
    assert [i.id for i in items] == ["0", "1", "2"]
    assert [i.record["question"] for i in items] == [r["question"] for r in ROWS]
    assert [i.images[0]["bytes"] for i in items] == [r["image"]["bytes"] for r in ROWS]
    assert all("image" not in i.record for i in items)
    assert items[0].record == PLANET
    assert benchmark("ai2d") is BENCHMARK and BENCHMARK.split == "test" and BENCHMARK.hf_id == "lmms-lab/ai2d"


def test_prompts_letter_the_options_as_lmms_eval(folder: Path) -> None:
    planet = load(folder)[0]
    assert planet.question == "Which planet is third from the sun?\nA. Mars\nB. Venus\nC. Earth\nD. Jupiter"
    assert planet.direct_prompt == planet.question + "\nAnswer with the option's letter from the given choices directly."
    assert POST_PROMPT.startswith("\n") and planet.hint == "Answer with the option's letter from the given choices."


def test_loader_without_a_test_shard_says_so(tmp_path: Path) -> None:
    write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet", ROWS)
    with pytest.raises(DataError, match="test"):
        load(tmp_path)


# ----------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("response, expected", [
    ("C", 1.0),
    ("c", 1.0),
    ("(C)", 1.0),
    ("C.", 1.0),
    ("C. Earth", 1.0),
    ("C. the blue planet", 1.0),        # lmms-eval's filter: a leading 'X.' is the letter
    ("The answer is C", 1.0),
    ("Earth", 1.0),                      # the text of exactly one option
    ("B", 0.0),
    ("Venus", 0.0),
    ("A. Earth", 0.0),                   # lmms-eval reads the leading letter
    ("E", 0.0),                          # no fifth option
])
def test_answer_index_is_the_letter_to_name(response: str, expected: float) -> None:
    assert score("ai2d", PLANET, response) == expected


def test_thinking_wrapped_response_scores_its_answer_block() -> None:
    assert score("ai2d", PLANET, "<think>Mercury, Venus, then Earth: option C, not A.</think><answer>C</answer>") == 1.0
    assert score("ai2d", PLANET, "<think>It is C.</think><answer>A</answer>") == 0.0
    verdict = BENCHMARK.judge(PLANET, "C")
    assert verdict.correct and verdict.parsed == "C"


def test_index_zero_and_last_index() -> None:
    fox = {k: v for k, v in ROWS[1].items() if k != "image"}
    assert score("ai2d", fox, "A") == 1.0 and score("ai2d", fox, "B") == 0.0
    adult = {k: v for k, v in ROWS[2].items() if k != "image"}
    assert score("ai2d", adult, "<answer>D</answer>") == 1.0


@pytest.mark.parametrize("response", ["", "I am not sure", "🙂", "Mars or Earth", "}{"])
def test_unparseable_is_wrong_and_counted(response: str) -> None:
    verdict = BENCHMARK.judge(PLANET, response)
    assert verdict.correct is False and verdict.parsed is None


def test_malformed_answer_field_never_scores() -> None:
    for answer in ("7", "two", None, "-1"):
        assert score("ai2d", dict(PLANET, answer=answer), "C") == 0.0


@pytest.mark.parametrize("make", [
    lambda n: "C" * n,
    lambda n: " " * n + "C.",
    lambda n: "The answer is " * (n // 14),
    lambda n: "Earth " * (n // 6),
], ids=["letters", "leading spaces", "lead-ins", "option text"])
def test_judge_is_linear_time(make: Any) -> None:
    assert growth(lambda text: BENCHMARK.judge(PLANET, text), make, 16 * 1024) < BOUND
