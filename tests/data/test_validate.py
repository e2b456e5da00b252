"""`python -m mixed_r1.data validate`: every fault of a file, then its counts; training's loader stops on
the same messages."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mixed_r1.data.__main__ import main
from mixed_r1.data.schema import load_samples
from mixed_r1.errors import DataError
from tests.data.layouts import write_image


def sample(i: int, **changes) -> dict:
    record = {"id": f"s{i}", "image": "img.png", "problem": "Is it red?", "answer": "yes", "type": "yes_no",
              "source": "mapqa", "image_size": [32, 24]}
    return {**record, **changes}


def faulty_file(tmp_path: Path) -> Path:
    write_image(tmp_path / "img.png", 32, 24)
    lines = [
        json.dumps(sample(1)),                                                        # 1 fine
        "{not json",                                                                  # 2
        json.dumps({k: v for k, v in sample(3).items() if k != "problem"}),           # 3 missing field
        json.dumps(sample(4, type="caption")),                                        # 4 unknown type
        json.dumps(sample(1)),                                                        # 5 duplicate id
        json.dumps(sample(6, image="gone/missing.png")),                              # 6 missing image
        json.dumps(sample(7, image_size=[64, 64])),                                   # 7 declared size is wrong
        json.dumps(sample(8, type="grounding", answer=[0, 0, 40, 10], source="refcocog")),  # 8 box outside
        json.dumps(sample(9, type="chart", answer="12", source="chartqa")),           # 9 fine
        json.dumps(sample(10, type="multiple_choice", answer="C", options=["a", "b"])),  # 10 letter not an option
    ]
    path = tmp_path / "mix.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_validate_lists_every_fault_with_its_line_then_the_counts(tmp_path: Path, capsys) -> None:
    path = faulty_file(tmp_path)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    expected = {2: "not valid JSON", 3: "missing field 'problem'", 4: "field 'type' is 'caption'",
                5: "duplicate id s1 (first on line 1)", 6: f"image not found: {tmp_path / 'gone' / 'missing.png'}",
                7: "field 'image_size' is [64, 64]", 8: "lies outside the 32x24 image",
                10: "expected one of the option letters"}
    problem_lines = [line.strip() for line in out.splitlines() if re.match(rf"{re.escape(str(path))}:\d+", line.strip())]
    assert len(problem_lines) == len(expected)
    for line_no, what in expected.items():
        assert any(line.startswith(f"{path}:{line_no}") and what in line for line in problem_lines), (line_no, out)
    assert "2 good sample(s), 8 problem(s)" in out
    assert "per type:   yes_no 1, chart 1" in out or "per type:   chart 1, yes_no 1" in out
    assert "mapqa 1" in out and "chartqa 1" in out and "FAILED" in out


def test_training_fails_at_load_with_the_first_bad_line_and_the_same_message(tmp_path: Path, capsys) -> None:
    path = faulty_file(tmp_path)
    main(["validate", str(path)])
    first_problem = next(line.strip() for line in capsys.readouterr().out.splitlines()
                         if re.match(rf"{re.escape(str(path))}:\d+", line.strip()))
    with pytest.raises(DataError) as err:
        load_samples(path)
    assert str(err.value).splitlines()[1].strip() == first_problem


def test_a_clean_file_passes_with_its_counts(tmp_path: Path, capsys) -> None:
    write_image(tmp_path / "img.png", 32, 24)
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps(sample(i, source=s)) + "\n" for i, s in enumerate(["vsr", "vsr", "clevr"])))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 good sample(s), 0 problem(s)" in out and "per source: vsr 2, clevr 1" in out and "OK" in out
    assert main(["validate", str(tmp_path / "absent.jsonl")]) == 2
