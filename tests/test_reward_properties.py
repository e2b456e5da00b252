"""Property-based: no reward ever raises on model output, and each returns a finite value in its range."""
import math
from decimal import Decimal

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixed_r1.data import Sample
from mixed_r1.rewards.chart import chart_reward, parse_number
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward, normalise, strip_answer_prefix
from mixed_r1.rewards.mixed import MixedReward
from mixed_r1.rewards.open_ended import BMASScorer
from mixed_r1.rewards.open_ended.judge import parse_judge_score

TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<box>", "</box>", "[", "]", ",", "(", ")"]
NASTY = ["nan", "inf", "-inf", "1e999", "-1e-999", "NaN%", "$", "%", "1,2,3,4", "99999999999999999999999",
         "٣", "½", "\x00", "\u202e", "💥", "{\"bbox_2d\": [1, 2, 3]}", "[1, 2, 3, 4, 5]", "<answer>"]
# the new parsing paths: lead-ins, letters with option texts, fractions, percent, approximate words
LEADS = ["The final answer is: ", "Answer - ", "So the answer is ", "**Answer:** ", "the correct option is ",
         "A. ", "(B) ", "B) ", "A cat", "A dog", "yes", "No", "1/", "/0", "%", " percent", "approximately ",
         "~", "≈", "−", "-$", "e-", "E+999", "0.", ".", "1e9999", "/", "0/0"]

fragments = st.one_of(st.text(max_size=30), st.sampled_from(TAGS + NASTY + LEADS),

                      st.integers(min_value=-10**30, max_value=10**30).map(str),
                      st.floats(allow_nan=True, allow_infinity=True).map(str))
responses = st.lists(fragments, max_size=25).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=responses)
def test_format_and_extract_never_raise(text):
    assert format_reward(text) in (0.0, 1.0)
    answer = extract_answer(text)
    assert answer is None or isinstance(answer, str)


OPTION_SETS = [None, ["red", "green", "blue"], ["A cat", "A dog"], ["dog", "A dog"], ["yes", "no"], ["B", "A"],
               ["I think so"] + ["x"] * 9, ["same", "same"], ["", "."]]


@SETTINGS
@given(text=responses, answer=st.sampled_from(["yes", "no", "A", "B", "C", "Yes.", "I"]),
       options=st.sampled_from(OPTION_SETS))
def test_matching_in_range(text, answer, options):
    assert matching_reward(text, answer, options) in (0.0, 1.0)
    assert matching_reward(f"<answer>{text}</answer>", answer, options) in (0.0, 1.0)


@SETTINGS
@given(text=responses)
def test_reply_parsing_never_raises(text):
    assert isinstance(strip_answer_prefix(text), str) and isinstance(normalise(text), str)
    number = parse_number(text)
    assert number is None or all(isinstance(v.numerator, int) for v in number.readings())


@SETTINGS
@given(text=responses, truth=st.sampled_from(["3", "1,234", "-0.5", "12%", "1e-3", "Paris", "1/2", "0", "≈ 7",
                                              "1e999", "-1e-999"]),
       mode=st.sampled_from(["absolute", "relative"]), tolerance=st.sampled_from([1e-2, 0.5, 1e-9, 3]))
def test_chart_in_range(text, truth, mode, tolerance):
    assert chart_reward(text, truth, tolerance, mode) in (0.0, 1.0)
    assert chart_reward(f"<answer>{text}</answer>", truth, tolerance, mode) in (0.0, 1.0)


@SETTINGS
@given(truth=st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False, allow_infinity=False),
       tolerance=st.sampled_from([1e-2, 0.05, 0.1, 0.3, 1.0, 2.5, 1e-4]), side=st.sampled_from([1, -1]))
def test_chart_error_of_exactly_the_tolerance_scores_zero_at_every_magnitude(truth, tolerance, side):
    tol = Decimal(str(tolerance))
    on_edge, inside = truth + side * tol, truth + side * tol * Decimal("0.999")
    assert chart_reward(f"<answer>{on_edge}</answer>", str(truth), tolerance) == 0.0
    assert chart_reward(f"<answer>{inside}</answer>", str(truth), tolerance) == 1.0


@SETTINGS
@given(text=responses, box=st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4))
def test_iou_in_range(text, box):
    for candidate in (text, f"<answer>{text}</answer>"):
        value = iou_reward(candidate, box)
        assert math.isfinite(value) and 0.0 <= value <= 1.0


@SETTINGS
@given(text=responses)
def test_judge_parsing_in_range(text):
    value = parse_judge_score(text)
    assert math.isfinite(value) and 0.0 <= value <= 1.0


def _tokenize(texts):
    return [[ord(c) % 64 for c in t] for t in texts]


@SETTINGS
@given(texts=st.lists(responses, min_size=1, max_size=6))
def test_mixed_reward_finite_in_range_for_every_type(texts):
    table = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    reward = MixedReward(open_ended=BMASScorer(lambda: table, _tokenize), box_to_model_frame=lambda b, s: b)
    kinds = [("yes_no", "yes", None), ("yes_no", "no", ["yes", "no"]), ("multiple_choice", "B", ["x", "y", "z"]),
             ("multiple_choice", "B", ["A cat", "A dog"]), ("chart", "3.5", None), ("chart", "12%", None),
             ("grounding", [1.0, 2.0, 30.0, 40.0], None), ("open_ended", "a red circle", None)]
    for kind, answer, options in kinds:
        wrapped = [f"<think>x</think><answer>{t}</answer>" for t in texts]
        samples = [Sample(id="s", image="i.png", problem="p", answer=answer, type=kind, source="t",
                          image_size=(56, 56), options=options)] * (2 * len(texts))
        out = reward(samples, list(texts) + wrapped)
        assert torch.isfinite(out.total).all()
        low, high = (-2.0, 2.0) if kind == "open_ended" else (0.0, 1.0)
        assert ((out.accuracy >= low - 1e-5) & (out.accuracy <= high + 1e-5)).all()
        assert ((out.format == 0) | (out.format == 1)).all()


def test_huge_and_pathological_responses_are_safe():
    cases = ["<think>" * 20000, "</answer>" * 20000, "<answer>" + "9" * 100000 + "</answer>",
             "<think>" + "a" * 100000 + "</think><answer>B</answer>", "[1," * 30000, "(1,2)," * 20000,
             "<answer>" * 20000, "<answer>" + "1" * 5000 + "/" + "0" * 5000 + "%</answer>",
             "<answer>So the final " + " " * 100000 + "answer is 7</answer>"]
    for text in cases:
        assert format_reward(text) in (0.0, 1.0)
        assert matching_reward(text, "B", ["x", "y"]) in (0.0, 1.0)
        assert matching_reward(text, "yes", ["yes", "no"]) in (0.0, 1.0)
        assert chart_reward(text, "9") in (0.0, 1.0)
        assert 0.0 <= iou_reward(text, [0, 0, 5, 5]) <= 1.0
