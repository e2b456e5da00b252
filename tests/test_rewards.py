"""The skeleton's rewards on hand-written cases from the paper's definitions."""
import pytest
import torch

from mixed_r1.data import Sample
from mixed_r1.rewards import (MixedReward, bmas, chart_reward, extract_answer, format_reward, iou_reward,
                              matching_reward)


@pytest.mark.parametrize("text,expected", [
    ("<think>a</think><answer>b</answer>", 1.0),
    ("  <think>line 1\nline 2</think>\n<answer>B</answer>\n", 1.0),  # multi-line, whitespace around
    ("<think>a</think>", 0.0),
    ("<answer>b</answer>", 0.0),
    ("<think>a</think><answer>b</answer> trailing", 0.0),
    ("<think>a</think><answer>b</answer><answer>c</answer>", 0.0),
    ("<think><think>a</think><answer>b</answer>", 0.0),
    ("", 0.0),
])
def test_format_reward(text, expected):
    assert format_reward(text) == expected


def test_extract_answer_takes_the_last():
    assert extract_answer("<answer>A</answer> then <answer> B </answer>") == "B"
    assert extract_answer("no tags") is None


@pytest.mark.parametrize("reply,answer,options,expected", [
    ("Yes.", "yes", None, 1.0),
    ("no", "yes", None, 0.0),
    ("Yes, it is red.", "yes", None, 1.0),
    ("yes or no", "yes", None, 0.0),
    ("NO", "no", None, 1.0),
    ("Answer: B", "B", ["red", "green", "blue"], 1.0),
    ("b", "B", ["red", "green", "blue"], 1.0),
    ("Option B", "B", ["red", "green", "blue"], 1.0),
    ("(B)", "B", ["red", "green", "blue"], 1.0),
    ("B.", "B", ["red", "green", "blue"], 1.0),
    ("B) green", "B", ["red", "green", "blue"], 1.0),
    ("B) red", "B", ["red", "green", "blue"], 0.0),
    ("The answer is B", "B", ["red", "green", "blue"], 1.0),
    ("green", "B", ["red", "green", "blue"], 1.0),
    ("A", "B", ["red", "green", "blue"], 0.0),
    ("", "B", ["red", "green", "blue"], 0.0),
])
def test_matching_reward(reply, answer, options, expected):
    assert matching_reward(f"<think>x</think><answer>{reply}</answer>", answer, options) == expected


def test_matching_needs_an_answer_tag():
    assert matching_reward("yes", "yes") == 0.0


@pytest.mark.parametrize("reply,answer,expected", [
    ("3", "3", 1.0), ("3.005", "3", 1.0), ("3.02", "3", 0.0), ("1,234", "1234", 1.0),
    ("12%", "12", 1.0), ("$5", "5", 1.0), ("4 kg", "4", 1.0), ("1e-3", "0.001", 1.0),
    ("three", "3", 0.0), ("Paris", "paris", 1.0), ("-$5", "-5", 1.0), ("3 or 5", "3", 0.0),
    ("The answer is 42.", "42", 1.0), ("$1,000,000", "1e6", 1.0), ("0.994", "1", 1.0), ("0.99", "1", 0.0),
    ("", "3", 0.0),
])
def test_chart_reward(reply, answer, expected):
    assert chart_reward(f"<answer>{reply}</answer>", answer) == expected


def test_chart_relative_mode():
    assert chart_reward("<answer>101</answer>", "100", tolerance=0.02, mode="relative") == 1.0
    assert chart_reward("<answer>101</answer>", "100", tolerance=0.02) == 0.0


def test_iou_reward():
    assert iou_reward("<answer>[0, 0, 10, 10]</answer>", [0, 0, 10, 10]) == 1.0
    assert iou_reward("<answer>[0, 0, 10, 10]</answer>", [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou_reward('<answer>{"bbox_2d": [0, 0, 10, 10]}</answer>', [0, 0, 10, 10]) == 1.0
    assert iou_reward("<answer>[10, 10, 0, 0]</answer>", [0, 0, 10, 10]) == 0.0  # degenerate
    assert iou_reward("<answer>none</answer>", [0, 0, 10, 10]) == 0.0
    assert iou_reward("<answer><box>[[0, 0, 10, 10]]</box></answer>", [0, 0, 10, 10]) == 1.0  # InternVL
    assert iou_reward("<answer>(0,0),(10,5)</answer>", [0, 0, 10, 10]) == pytest.approx(0.5)  # Qwen2-VL points
    assert iou_reward("[0, 0, 10, 10]", [0, 0, 10, 10]) == 0.0  # no answer tag
    assert iou_reward("<answer>[0, 0, 10, 10]</answer>", [20, 20, 30, 30]) == 0.0  # disjoint


def test_bmas_by_hand():
    e = torch.eye(3)
    assert bmas(e, e) == pytest.approx(2.0)  # identical token sets: both directions score 1
    # response {e0}, truth {e0, e1}: rows: max 1 → 1; columns: [1, 0] → 0.5; sum 1.5
    assert bmas(e[:1], e[:2]) == pytest.approx(1.5)
    assert bmas(e[:1], -e[:1]) == pytest.approx(-2.0)
    assert bmas(torch.zeros(0, 3), e) == 0.0


def _sample(kind, answer, options=None):
    return Sample(id=kind, image="x.png", problem="p", answer=answer, type=kind, source="t",
                  image_size=(100, 50), options=options)


def test_mixed_dispatch_routes_every_type_and_adds_weighted_format():
    from mixed_r1.rewards.open_ended import BMASScorer

    words = {"red": 0, "circle": 1}
    table = torch.eye(2)
    tokenize = lambda texts: [[words[w] for w in t.split()] for t in texts]  # noqa: E731
    halve = lambda box, size: [v / 2 for v in box]  # noqa: E731  (a model frame at half scale)
    reward = MixedReward(open_ended=BMASScorer(lambda: table, tokenize), box_to_model_frame=halve, format_weight=0.5)
    samples = [_sample("yes_no", "yes"), _sample("multiple_choice", "A", ["x", "y"]), _sample("chart", "7"),
               _sample("grounding", [0.0, 0.0, 20.0, 20.0]), _sample("open_ended", "red circle")]
    replies = ["yes", "A", "7.001", "[0, 0, 10, 10]", "red"]
    out = reward(samples, [f"<think>t</think><answer>{r}</answer>" for r in replies])
    assert out.accuracy.tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0, 1.5])
    assert out.format.tolist() == [1.0] * 5
    assert out.total.tolist() == pytest.approx([1.5, 1.5, 1.5, 1.5, 2.0])
    assert out.types == ["yes_no", "multiple_choice", "chart", "grounding", "open_ended"]
    bad = reward(samples, ["garbage"] * 5)
    assert bad.total.tolist() == [0.0] * 5
