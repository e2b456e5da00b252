"""The converter framework: reading every published file format, writing embedded images once, counting
every skipped record, checking each sample against the schema, and the command line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixed_r1.data.__main__ import main
from mixed_r1.data.sources import convert, layout_modules, sources
from mixed_r1.data.sources.text import plain_number, split_options, yes_no
from mixed_r1.errors import DataError
from tests.data.layouts import hf_image, jpeg_bytes, png_bytes, read_jsonl, write_arrow_stream, write_parquet

CHARTQA_ROWS = [  # HuggingFaceM4/ChartQA: image, query, label (a list), human_or_machine
    {"image": hf_image(png_bytes(40, 30)), "query": "How many bars exceed 10?", "label": ["17"], "human_or_machine": 0},
    {"image": hf_image(png_bytes(40, 30)), "query": "Which country is first?", "label": ["Canada"], "human_or_machine": 1},
    {"image": hf_image(jpeg_bytes(32, 24)), "query": "What is the share?", "label": ["3.5%"], "human_or_machine": 1},
    {"image": None, "query": "What is the value?", "label": ["3"], "human_or_machine": 1},
    {"image": hf_image(png_bytes(40, 30)), "label": ["4"], "human_or_machine": 1},
]


def test_a_parquet_conversion_counts_every_record_and_writes_each_image_once(tmp_path: Path) -> None:
    data = write_parquet(tmp_path / "ChartQA" / "data" / "train-00000-of-00001.parquet", CHARTQA_ROWS)
    out = tmp_path / "out" / "chartqa.jsonl"
    report = convert("chartqa", data.parent.parent, out)
    assert (report.read, report.written, report.images_written) == (5, 2, 2)
    assert report.skipped == {"answer is not a number": 1, "no image": 1, "malformed record": 1}
    assert "row 1: 'Canada'" in report.first["answer is not a number"]
    assert "field 'query' is missing" in report.first["malformed record"]
    samples = read_jsonl(out)
    assert [(s["id"], s["answer"], s["type"], s["image_size"]) for s in samples] == [
        ("chartqa-0", "17", "chart", [40, 30]), ("chartqa-2", "3.5%", "chart", [32, 24])]
    assert samples[0]["image"].startswith("images/") and samples[1]["image"].endswith(".jpg")
    assert json.loads(out.with_name("chartqa.jsonl.report.json").read_text())["skipped"] == report.skipped
    again = convert("chartqa", data, out)  # the same shard: identical output, no new image file
    assert again.images_written == 0 and read_jsonl(out) == samples
    assert len(list((out.parent / "images").iterdir())) == 2


def test_arrow_stream_files_read_like_parquet(tmp_path: Path) -> None:
    data = write_arrow_stream(tmp_path / "cache" / "data-00000-of-00001.arrow", CHARTQA_ROWS[:3])
    report = convert("chartqa", data, tmp_path / "chartqa.jsonl", images=tmp_path / "imgs")
    assert (report.read, report.written) == (3, 2) and len(list((tmp_path / "imgs").iterdir())) == 2


def test_a_sample_failing_the_schema_is_a_counted_skip_not_a_written_line(tmp_path: Path) -> None:
    rows = [{"image": hf_image(png_bytes()), "query": "  ", "label": ["3"], "human_or_machine": 0}]
    report = convert("chartqa", write_parquet(tmp_path / "a.parquet", rows), tmp_path / "a.jsonl")
    assert report.written == 0 and report.skipped == {"malformed record": 1}


def test_unusable_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="input not found"):
        convert("chartqa", tmp_path / "nope.parquet", tmp_path / "a.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .parquet"):
        convert("chartqa", tmp_path / "empty", tmp_path / "a.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="cannot read '.csv'"):
        convert("chartqa", tmp_path / "x.csv", tmp_path / "a.jsonl")


def test_every_layout_module_documents_itself_and_registers_something() -> None:
    import importlib

    for name in layout_modules():
        module = importlib.import_module(f"mixed_r1.data.sources.{name}")
        assert (module.__doc__ or "").strip(), name
        assert getattr(module, "SOURCES", None) or getattr(module, "EXPORTS", None), name
    names = set(sources())
    assert {"chartqa", "scienceqa", "geo170k", "unigeo", "vsr", "refcocog", "allava", "vlm_r1", "r1_v"} <= names
    assert {f"cauldron_{s}" for s in ("mapqa", "clevr", "figureqa", "vsr", "ai2d", "scienceqa", "chartqa", "docvqa",
                                      "infographic_vqa", "multihiertt")} <= names


def test_the_command_line_converts_and_fails_when_nothing_is_written(tmp_path: Path, capsys) -> None:
    data = write_parquet(tmp_path / "a.parquet", CHARTQA_ROWS)
    assert main(["convert", "chartqa", "--input", str(data), "--output", str(tmp_path / "a.jsonl")]) == 0
    assert "wrote 2 samples" in capsys.readouterr().out
    bad = write_parquet(tmp_path / "b.parquet", CHARTQA_ROWS[1:2])
    assert main(["convert", "chartqa", "--input", str(bad), "--output", str(tmp_path / "b.jsonl")]) == 1
    assert main(["convert", "nosuch", "--input", str(data), "--output", str(tmp_path / "c.jsonl")]) == 2
    assert "unknown source 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "number"), [("17", "17"), ("14.", "14"), ("Answer: 300.", "300"), ("-0.5", "-0.5"),
                                               ("1,234", "1,234"), ("45%", "45%"), ("140°", "140°"),
                                               ("3 kg", None), ("3-5", None), ("two", None), ("", None), ("1.2.3", None)])
def test_a_plain_number_is_what_the_chart_reward_reads_as_that_number(text: str, number: str | None) -> None:
    from mixed_r1.rewards.chart import chart_reward

    assert plain_number(text) == number
    if number is not None:  # what a converter writes, the reward scores: the same text back is right
        assert chart_reward(f"<answer>{number}</answer>", number) == 1.0


def test_yes_no_and_options() -> None:
    assert [yes_no(t) for t in ("Yes.", "no", "TRUE", "False.", "maybe", "Answer: yes")] == ["yes", "no", "yes", "no",
                                                                                             None, "yes"]
    assert split_options("Which is red?\nChoices:\nA. apple\nB. sky\nAnswer with the letter.") == (
        "Which is red?", ["apple", "sky"])
    assert split_options("Which is red?\n(A) apple\n(B) sky") == ("Which is red?", ["apple", "sky"])
    assert split_options("Which is red?\nA. apple\nC. sky") is None  # letters out of order: not a list of options
    assert split_options("No options here.") is None


def test_the_demo_sources_convert_back_to_the_samples_they_came_from(tmp_path: Path) -> None:
    """`make data-demo`'s raw files are real R1-V and VLM-R1 layouts: converting them gives back every sample."""
    from mixed_r1.data.demo import LAYOUTS, write_demo_sources
    from mixed_r1.data.schema import load_samples
    from mixed_r1.data.synthetic import SyntheticSpec, generate

    raw = write_demo_sources(tmp_path / "raw", num_samples=40, seed=1)
    back = []
    for layout, path in raw.items():
        report = convert(layout, path, tmp_path / "sources" / f"{layout}.jsonl")
        assert report.written == report.read and not report.skipped
        back += load_samples(tmp_path / "sources" / f"{layout}.jsonl")
    # the demo draws only the types its two layouts hold (not every registered type)
    layout_types = {t: 1.0 for types in LAYOUTS.values() for t in types}
    original = load_samples(generate(tmp_path / "original", SyntheticSpec(num_samples=40, seed=1,
                                                                          type_weights=layout_types)))
    key = lambda s: (s.problem, s.answer, s.type, s.options, s.image_size)
    assert sorted(map(key, back), key=str) == sorted(map(key, original), key=str)


def test_a_save_to_disk_folder_converts_and_a_stray_json_file_is_reported_not_fatal(tmp_path: Path) -> None:
    """`datasets`' save_to_disk always writes dataset_info.json and state.json beside the arrow shard: they are
    metadata, not records. Any other .json in the folder that holds no list of records is a counted skip."""
    folder = tmp_path / "chartqa_saved"
    write_arrow_stream(folder / "data-00000-of-00001.arrow", CHARTQA_ROWS[:3])
    (folder / "dataset_info.json").write_text(json.dumps({"citation": "", "features": {"query": {"dtype": "string"}}}))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                                                   "_fingerprint": "abc", "_split": "train"}))
    (folder / "notes.json").write_text(json.dumps({"comment": "downloaded by hand"}))
    report = convert("chartqa", folder, tmp_path / "out" / "chartqa.jsonl")
    assert (report.read, report.written) == (4, 2)  # 3 rows and the stray file
    assert report.skipped == {"answer is not a number": 1, "not a data file": 1}
    assert "notes.json" in report.first["not a data file"] and "got dict" in report.first["not a data file"]
    with pytest.raises(DataError, match="expected a JSON list of records, got dict"):  # named directly: an error
        convert("chartqa", folder / "notes.json", tmp_path / "out" / "notes.jsonl")


@pytest.mark.parametrize(("text", "question", "hint"), [
    ("Lecture: Magnets pull.\nQuestion: Will they attract?\nHint: Two magnets.", "Will they attract?", "Two magnets."),
    ("Question: Which is a fish?", "Which is a fish?", ""),
    ("Context: A map.\nQuestion: Which state?", "Which state?", "A map."),
    ("Lecture: A long\nlecture.\nQuestion: Two-line\nquestion?", "Two-line\nquestion?", ""),
    ("What is shown?", "What is shown?", ""),
])
def test_scienceqa_sections(text: str, question: str, hint: str) -> None:
    from mixed_r1.data.sources.text import scienceqa_problem, scienceqa_sections

    assert scienceqa_sections(text) == (question, hint)
    assert scienceqa_problem(question, hint) == (f"Context: {hint}\n{question}" if hint else question)
