import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from mixed_r1.data import SAMPLE_TYPES, DataError, load_samples
from mixed_r1.data.synthetic import COLOURS, SyntheticSpec, answer_for, generate


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    spec = SyntheticSpec(num_samples=25, seed=7)
    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    generate(tmp_path / "c", SyntheticSpec(num_samples=25, seed=8))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_every_type_present_with_schema_fields(samples):
    assert {s.type for s in samples} == set(SAMPLE_TYPES)
    for s in samples:
        assert Path(s.image).is_file() and s.problem and s.source.startswith("synthetic")
        assert Image.open(s.image).size == s.image_size
        if s.type == "multiple_choice":
            assert s.options and s.answer in "ABC"[: len(s.options)]
        if s.type == "grounding":
            assert len(s.answer) == 4


def _colour_at(image: Image.Image, x: float, y: float) -> str | None:
    pixel = image.getpixel((int(x), int(y)))
    for name, rgb in COLOURS.items():
        if pixel == rgb:
            return name
    return None


def test_answers_are_correct_for_their_images(samples):
    for s in samples:
        image = Image.open(s.image).convert("RGB")
        scene, question = s.meta["scene"], s.meta["question"]
        assert answer_for(question, scene) == s.answer
        if scene["kind"] == "chart":
            # measure each bar's height from the pixels and check the answered value is the tallest-consistent one
            heights = {}
            for colour in COLOURS:
                column = [x for x in range(image.width) if any(_colour_at(image, x, y) == colour for y in range(image.height))]
                x = column[len(column) // 2]
                heights[colour] = sum(_colour_at(image, x, y) == colour for y in range(image.height))
            ranked = sorted(heights, key=heights.get)
            values = scene["values"]
            assert sorted(values, key=lambda c: (values[c], ranked.index(c))) == ranked
            if s.type == "chart":  # a chart scene may carry another type's question (README: adding a sample type)
                assert s.answer == str(values[question["bar"]])
        else:
            x1, y1, x2, y2 = scene["box"]
            # the shape's colour is painted near the bottom centre of its box (true for all three shapes)
            assert _colour_at(image, (x1 + x2) / 2, y2 - 2) == scene["colour"]
            painted = [(x, y) for x in range(image.width) for y in range(image.height) if _colour_at(image, x, y)]
            xs, ys = [p[0] for p in painted], [p[1] for p in painted]
            assert min(xs) >= x1 and max(xs) <= x2 - 1 and min(ys) >= y1 and max(ys) <= y2 - 1
            if s.type == "yes_no":
                truth = scene[question["attribute"]] == question["asked"]
                assert s.answer == ("yes" if truth else "no")
            if s.type == "multiple_choice":
                assert s.options[ord(s.answer) - ord("A")] == scene[question["attribute"]]
            if s.type == "grounding":
                assert s.answer == [float(v) for v in scene["box"]]
                if scene["shape"] == "square":
                    assert (min(xs), min(ys), max(xs) + 1, max(ys) + 1) == tuple(scene["box"])
            if s.type == "open_ended":
                assert scene["colour"] in s.answer and scene["shape"] in s.answer


@pytest.mark.parametrize("field,value,message", [
    ("answer", [1, 2, 3], "4 numbers"),
    ("answer", [5, 5, 1, 1], "x2 > x1"),
    ("type", "caption", "expected one of"),
    ("image_size", "56x56", "image_size"),
])
def test_bad_ground_truth_names_file_line_and_id(tmp_path, field, value, message):
    record = {"id": "bad-1", "image": "x.png", "problem": "p", "answer": [1, 2, 8, 9], "type": "grounding",
              "image_size": [56, 56]}
    Image.new("RGB", (56, 56)).save(tmp_path / "x.png")
    good = dict(record, id="good-0")
    record[field] = value
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError) as err:
        load_samples(path)
    assert f"{path}:2" in str(err.value) and "bad-1" in str(err.value) and message in str(err.value)


def test_missing_image_and_bad_json_are_data_errors(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "a", "image": "none.png", "problem": "p", "answer": "yes",
                                "type": "yes_no", "image_size": [4, 4]}) + "\n")
    with pytest.raises(DataError, match="image not found"):
        load_samples(path)
    path.write_text("{not json\n")
    with pytest.raises(DataError, match=r"d.jsonl:1: not valid JSON"):
        load_samples(path)
