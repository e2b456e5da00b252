"""The skeleton's rewards on hand-written cases from the paper's definitions."""
import dataclasses
from decimal import Decimal

import pytest
import torch

from mixed_r1.data import Sample
from mixed_r1.data.sample_types import REGISTRY, RewardContext
from mixed_r1.data.schema import SAMPLE_TYPES
from mixed_r1.errors import ConfigError
from mixed_r1.rewards.bmas import bmas
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward, strip_answer_prefix
from mixed_r1.rewards.mixed import OPEN_ENDED_TYPE, MixedReward


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
    tokenize = lambda texts: [[words[w] for w in t.split()] for t in texts]
    halve = lambda box, size: [v / 2 for v in box]  # a model frame at half scale
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


# ------------------------------------------------------------------ answer extraction: the last complete block
@pytest.mark.parametrize("text,expected", [
    ("<answer>A</answer> then <answer> B </answer>", "B"),
    ("<answer>a<answer>b</answer>", "b"),  # an unclosed tag before the last block is not part of it
    ("<answer>A</answer></answer>", "A"),  # a stray closing tag after the block is not part of it
    ("<answer>A</answer><answer>B", "A"),  # an unclosed last tag: the last *complete* block counts
    ("</answer><answer>", None),
    ("<answer>" * 1000, None),
    ("<answer></answer>", ""),
    ("no tags", None),
])
def test_extract_answer_reads_the_last_complete_block(text, expected):
    assert extract_answer(text) == expected


# ------------------------------------------------------------------ spoken lead-ins, shared by every matching reply
@pytest.mark.parametrize("reply,rest", [
    ("The final answer is: 7", "7"), ("Final Answer: B", "B"), ("Answer - yes", "yes"),
    ("the correct option is (C)", "(C)"), ("So the answer is 12.", "12."), ("**Final Answer:** 7", "7"),
    ("Therefore, the answer would be 3", "3"), ("The answer is yes", "yes"), ("Option B", "B"),
    ("answer: -5", "-5"), ("Answer -5", "-5"),  # a dash is a separator only before a space
    ("answers 5", "answers 5"), ("optional", "optional"), ("7", "7"),  # no lead-in: unchanged
])
def test_strip_answer_prefix(reply, rest):
    assert strip_answer_prefix(reply) == rest


@pytest.mark.parametrize("lead_in", ["The final answer is: ", "Final Answer: ", "Answer - ", "So the answer is ",
                                     "the correct option is ", "**Answer:** ", "Therefore, the final answer is "])
def test_every_reward_strips_a_lead_in(lead_in):
    def wrap(reply):
        return f"<think>t</think><answer>{lead_in}{reply}</answer>"

    assert chart_reward(wrap("7"), "7") == 1.0
    assert chart_reward(wrap("7.5"), "7") == 0.0
    assert matching_reward(wrap("yes"), "yes") == 1.0
    assert matching_reward(wrap("no"), "yes") == 0.0
    assert matching_reward(wrap("(C)"), "C", ["red", "green", "blue"]) == 1.0
    assert matching_reward(wrap("B"), "C", ["red", "green", "blue"]) == 0.0


# ------------------------------------------------------------------ multiple choice: letters and option texts
CAPTIONS = ["A cat", "A dog"]


@pytest.mark.parametrize("reply,answer,options,expected", [
    ("A dog", "B", CAPTIONS, 1.0),  # an option's text that begins with a one-letter word
    ("B", "B", CAPTIONS, 1.0),
    ("A", "B", CAPTIONS, 0.0),
    ("A cat", "B", CAPTIONS, 0.0),
    ("A cat", "A", CAPTIONS, 1.0),
    ("B. A dog", "B", CAPTIONS, 1.0),
    ("(B) A dog", "B", CAPTIONS, 1.0),
    ("The answer is A dog", "B", CAPTIONS, 1.0),
    ("A. A dog", "B", CAPTIONS, 0.0),  # letter A, text of B: a contradiction names nothing
    ("A. A dog", "A", CAPTIONS, 0.0),
    ("B. A cat", "B", CAPTIONS, 0.0),
    ("I think so", "A", ["I think so", "No"] + ["x"] * 8, 1.0),  # 'I' is also a letter here (10 options)
    ("I", "I", ["I think so", "No"] + ["x"] * 8, 1.0),
    ("A dog", "A", ["dog", "A dog"], 0.0),  # 'A: dog' or the text 'A dog': ambiguous, names nothing
    ("A dog", "B", ["dog", "A dog"], 0.0),
    ("A. dog", "A", ["dog", "A dog"], 1.0),  # a marked letter ('A.', '(A)', 'A)', 'A:') wins over the text
    ("(A) dog", "A", ["dog", "A dog"], 1.0),
    ("A: dog", "B", ["dog", "A dog"], 0.0),
    ("B", "B", ["B", "A"], 1.0),  # a bare letter is the letter even when an option's text is a letter
    ("B", "A", ["B", "A"], 0.0),
    ("**B**", "B", CAPTIONS, 1.0),
    ("E", "B", CAPTIONS, 0.0),  # out of range
    ("a dog.", "B", CAPTIONS, 1.0),
])
def test_choice_with_caption_options(reply, answer, options, expected):
    assert matching_reward(f"<answer>{reply}</answer>", answer, options) == expected


# ------------------------------------------------------------------ yes/no samples that carry options
@pytest.mark.parametrize("reply,answer,expected", [
    ("A", "yes", 1.0), ("B", "no", 1.0), ("A", "no", 0.0), ("(B)", "yes", 0.0),
    ("yes", "yes", 1.0), ("No.", "no", 1.0), ("no", "yes", 0.0),
    ("Yes, it is red.", "yes", 1.0), ("A. yes", "yes", 1.0), ("B. yes", "yes", 0.0),
    ("The answer is B", "no", 1.0), ("yes or no", "yes", 0.0), ("C", "yes", 0.0),
    ("A", "Yes", 1.0),  # the truth is compared normalised
])
def test_yes_no_with_options_reads_letters_and_words(reply, answer, expected):
    assert matching_reward(f"<answer>{reply}</answer>", answer, ["yes", "no"]) == expected


def test_yes_no_options_in_any_order():
    assert matching_reward("<answer>A</answer>", "no", ["No", "Yes"]) == 1.0
    assert matching_reward("<answer>B</answer>", "no", ["No", "Yes"]) == 0.0


# ------------------------------------------------------------------ chart: exact decimal tolerance and conventions
@pytest.mark.parametrize("truth", ["0", "3", "100", "-250", "1000000", "123456789.125", "0.07"])
def test_chart_error_equal_to_the_tolerance_is_never_less_than_it(truth):
    t = Decimal(truth)
    for delta, expected in [(Decimal("0.01"), 0.0), (Decimal("0.00999"), 1.0), (Decimal("0.0100001"), 0.0)]:
        for pred in (t + delta, t - delta):
            assert chart_reward(f"<answer>{pred}</answer>", truth) == expected, (pred, truth)


def test_chart_tolerance_is_read_from_its_decimal_repr():
    assert chart_reward("<answer>100.05</answer>", "100", tolerance=0.05) == 0.0
    assert chart_reward("<answer>100.0499</answer>", "100", tolerance=0.05) == 1.0
    assert chart_reward("<answer>0.3</answer>", "0.1", tolerance=0.2) == 0.0  # 0.1 + 0.2 != 0.3 in floats


def test_chart_relative_mode_is_exact():
    assert chart_reward("<answer>101</answer>", "100", tolerance=0.01, mode="relative") == 0.0  # 1 == 1% of 100
    assert chart_reward("<answer>100.99</answer>", "100", tolerance=0.01, mode="relative") == 1.0
    assert chart_reward("<answer>-1010</answer>", "-1000", tolerance=0.01, mode="relative") == 0.0


@pytest.mark.parametrize("reply,answer,expected", [
    ("1/2", "0.5", 1.0), ("0.5", "1/2", 1.0), ("3/4", "0.75", 1.0), ("-1/4", "-0.25", 1.0), ("1/3", "0.33", 1.0),
    ("1/3", "0.3", 0.0), ("1/0", "0", 0.0), ("1 / 2", "0.5", 1.0),
    ("12%", "12", 1.0), ("12%", "0.12", 1.0), ("50%", "0.5", 1.0), ("0.5", "50%", 1.0), ("12", "12%", 1.0),
    ("12%", "12%", 1.0), ("12 percent", "0.12", 1.0), ("12%", "1.2", 0.0), ("0.12", "12", 0.0),
    ("approximately 7", "7", 1.0), ("about 7", "7", 1.0), ("~7", "7", 1.0), ("≈ 7", "7", 1.0),
    ("around 7.004", "7", 1.0), ("roughly $7", "7", 1.0), ("about 8", "7", 0.0),
    ("−3", "-3", 1.0), ("$-5", "-5", 1.0), ("-$-5", "5", 0.0), ("3-5", "3", 0.0), ("1e999", "1", 0.0),
    ("1e9999", "1", 0.0),  # an exponent beyond 3 digits is not read as a number
])
def test_chart_conventions(reply, answer, expected):
    assert chart_reward(f"<answer>{reply}</answer>", answer) == expected


def test_chart_rejects_bad_settings_but_not_bad_replies():
    with pytest.raises(ValueError, match="reward.chart.mode='relativ'; expected one of absolute, relative"):
        chart_reward("<answer>3</answer>", "3", mode="relativ")
    for tolerance in (0.0, -1e-2, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="reward.chart.tolerance"):
            chart_reward("<answer>3</answer>", "3", tolerance=tolerance)


# ------------------------------------------------------------------ the mixed reward's registry of callables
def test_registry_maps_every_closed_form_type_to_one_signature():
    closed_form = {name: kind.accuracy for name, kind in REGISTRY.items() if kind.accuracy is not None}
    assert set(closed_form) | {OPEN_ENDED_TYPE} == set(SAMPLE_TYPES)
    ctx = RewardContext()
    for kind, answer, options, reply in [("yes_no", "yes", None, "yes"), ("multiple_choice", "B", ["x", "y"], "B"),
                                         ("chart", "7", None, "7"), ("grounding", [0.0, 0.0, 4.0, 4.0], None,
                                                                     "[0, 0, 4, 4]")]:
        assert closed_form[kind](f"<answer>{reply}</answer>", _sample(kind, answer, options), ctx) == 1.0


def test_a_new_type_is_one_registry_entry(monkeypatch):
    seen = []

    def shouting(text, sample, ctx):
        seen.append((sample.id, ctx.chart_tolerance))
        return 1.0 if text.isupper() else 0.0

    monkeypatch.setitem(REGISTRY, "chart", dataclasses.replace(REGISTRY["chart"], accuracy=shouting))
    reward = MixedReward(open_ended=lambda r, t: torch.zeros(len(r)), box_to_model_frame=lambda b, s: b,
                         chart_tolerance=0.5)
    out = reward([_sample("chart", "7")] * 2, ["LOUD", "quiet"])
    assert out.accuracy.tolist() == [1.0, 0.0] and seen == [("chart", 0.5), ("chart", 0.5)]


def test_reward_context_carries_the_settings_and_is_frozen():
    halve = lambda box, size: [v / 2 for v in box]  # a model frame at half scale
    reward = MixedReward(open_ended=lambda r, t: torch.zeros(len(r)), box_to_model_frame=halve, format_weight=1.0,
                         chart_tolerance=0.02, chart_mode="relative")
    assert reward.context == RewardContext(chart_tolerance=0.02, chart_mode="relative", box_to_model_frame=halve)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reward.context.chart_mode = "absolute"
    out = reward([_sample("chart", "100"), _sample("grounding", [0.0, 0.0, 20.0, 20.0])],
                 ["<answer>101.9</answer>", "<answer>[0, 0, 10, 10]</answer>"])
    assert out.accuracy.tolist() == [1.0, 1.0]  # relative 2%; the box halved into the model's frame


@pytest.mark.parametrize("kwargs,match", [
    ({"chart_mode": "relatve"}, "reward.chart.mode='relatve'; expected one of absolute, relative"),
    ({"chart_tolerance": 0.0}, "reward.chart.tolerance"),
    ({"chart_tolerance": float("nan")}, "reward.chart.tolerance"),
])
def test_bad_chart_settings_fail_at_construction(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MixedReward(open_ended=lambda r, t: torch.zeros(len(r)), box_to_model_frame=lambda b, s: b, **kwargs)
    with pytest.raises(ValueError, match=match):  # a ConfigError is a ValueError
        RewardContext(**kwargs)


def test_mixed_reward_scores_yes_no_samples_with_options():
    reward = MixedReward(open_ended=lambda r, t: torch.zeros(len(r)), box_to_model_frame=lambda b, s: b)
    yes_no = _sample("yes_no", "no", ["yes", "no"])
    replies = ["B", "no", "No, it is blue.", "A", "yes", "(B) no", "(A) no"]
    out = reward([yes_no] * len(replies), [f"<answer>{r}</answer>" for r in replies])
    assert out.accuracy.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
