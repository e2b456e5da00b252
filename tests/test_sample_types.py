"""A sample type is registered once (mixed_r1/data/sample_types.py) and every consumer reads that registration:
the schema's answer check, MixedReward's accuracy reward, the synthetic generator and the warm-up targets."""
import json
import random
import subprocess
import sys

import pytest
import torch

from mixed_r1.data import DataError, load_samples
from mixed_r1.data.sample_types import REGISTRY, SampleType, registered, text_answer
from mixed_r1.data.scenes import SHAPES, AboutTheShape, Question, Questions, Scene
from mixed_r1.data.synthetic import SyntheticSpec, generate, reasoning_for
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.mixed import OPEN_ENDED_TYPE, MixedReward, per_type_means
from mixed_r1.sft.warmup import WarmupNoise, warmup_target


def _exact(replies, truths):  # an open-ended scorer stand-in: 1 for the ground truth itself
    return torch.tensor([float(r == t) for r, t in zip(replies, truths)])


def _box_text(box, size):  # replies in the image's own pixel frame
    return "[" + ", ".join(str(int(v)) for v in box) + "]"


def test_every_registered_type_has_its_three_parts():
    assert list(REGISTRY)[:5] == ["yes_no", "multiple_choice", "chart", "grounding", "open_ended"]  # the paper's order
    for name, kind in REGISTRY.items():
        assert kind.name == name and registered(name) is kind
        assert callable(kind.check_answer)
        assert isinstance(kind.synthetic, Questions)
        assert callable(kind.accuracy) or (kind.accuracy is None and name == OPEN_ENDED_TYPE)
    with pytest.raises(ValueError, match="unknown sample type 'caption'; expected one of yes_no, multiple_choice"):
        registered("caption")


def _target(sample, thought):
    answer = _box_text(sample.answer, sample.image_size) if isinstance(sample.answer, list) else sample.answer
    return f"<think>{thought}</think><answer>{answer}</answer>"


def test_the_three_parts_of_each_type_agree(tmp_path):
    """Synthetic samples of every type pass their type's answer check, and their own ground truth, as a reply,
    earns full accuracy; the warm-up's clean targets are those replies."""
    samples = load_samples(generate(tmp_path, SyntheticSpec(num_samples=4 * len(REGISTRY), seed=5)))
    assert {s.type for s in samples} == set(REGISTRY)
    replies = [_target(s, reasoning_for(s.meta["question"], s.meta["scene"])) for s in samples]
    out = MixedReward(open_ended=_exact, box_to_model_frame=lambda box, size: box)(samples, replies)
    assert out.accuracy.tolist() == [1.0] * len(samples) and out.format.tolist() == [1.0] * len(samples)
    rng = random.Random(0)
    assert [warmup_target(s, rng, WarmupNoise(0.0, 0.0), _box_text) for s in samples] == replies


# ---------------------------------------------------------------------------------------------- a new type
class ShapeNameQuestions(AboutTheShape):
    def problem(self, question: Question, scene: Scene) -> str:
        return "Name the shape."

    def answer(self, question: Question, scene: Scene) -> str:
        return str(scene["shape"])


def shape_answer(sample_type, answer, options, size):
    text = text_answer(sample_type, answer, options, size)
    if text not in SHAPES:
        raise ValueError(f"field 'answer' is {text!r}; expected a shape name")
    return text


def shape_accuracy(text, sample, ctx):
    return float(extract_answer(text) == sample.answer)


@pytest.fixture
def shape_name_type(monkeypatch):
    """A throw-away type, added the one way a type is added: one registry entry."""
    kind = SampleType("shape_name", shape_answer, shape_accuracy, ShapeNameQuestions())
    monkeypatch.setitem(REGISTRY, "shape_name", kind)
    return kind


def test_one_registration_adds_a_type(shape_name_type, tmp_path):
    # the synthetic generator asks it
    path = generate(tmp_path / "syn", SyntheticSpec(num_samples=12, seed=1, type_weights={"shape_name": 1, "chart": 1}))
    samples = load_samples(path)  # the schema checks it with its answer check
    named = [s for s in samples if s.type == "shape_name"]
    assert len(named) == 6 and all(s.answer in SHAPES and s.problem == "Name the shape." for s in named)
    assert all(s.answer == s.meta["scene"]["shape"] and s.source == "synthetic/shape" for s in named)

    # its answer check runs at load time
    bad = tmp_path / "bad.jsonl"
    record = json.loads(path.read_text().splitlines()[samples.index(named[0])])
    bad.write_text(json.dumps({**record, "image": named[0].image, "answer": "hexagon"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1 .*field 'answer' is 'hexagon'; expected a shape name"):
        load_samples(bad)

    # MixedReward scores it with its accuracy reward
    assert REGISTRY["shape_name"].accuracy is shape_accuracy
    reward = MixedReward(open_ended=_exact, box_to_model_frame=lambda box, size: box)
    wrong = next(shape for shape in SHAPES if shape != named[0].answer)
    out = reward([named[0], named[0]], [f"<answer>{named[0].answer}</answer>", f"<answer>{wrong}</answer>"])
    assert out.accuracy.tolist() == [1.0, 0.0]
    assert per_type_means(out.accuracy, out.types, "accuracy")["accuracy/shape_name"] == 0.5

    # the warm-up writes its targets
    target = warmup_target(named[0], random.Random(0), WarmupNoise(0.0, 0.0), _box_text)
    assert target.endswith(f"<answer>{named[0].answer}</answer>")


def test_the_throw_away_type_is_gone_afterwards():
    assert "shape_name" not in REGISTRY
    with pytest.raises(ValueError, match="unknown types \\['shape_name'\\]"):
        SyntheticSpec(type_weights={"shape_name": 1}).weights()


def test_the_schema_floor_loads_without_the_mixed_reward():
    """The registry sits below the schema and names only the pure reward functions: loading data never
    imports MixedReward (which imports the data floor)."""
    code = "import sys, mixed_r1.data.synthetic; assert 'mixed_r1.rewards.mixed' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
