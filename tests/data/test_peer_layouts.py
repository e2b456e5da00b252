"""The peer projects' layouts both ways: VLM-R1's JSONL (``id``, ``image``, ``conversations``,
``accu_reward_method``; om-ai-lab/VLM-R1 grpo_jsonl.py) and R1-V's records (``image``, ``problem``,
``solution`` = ``<answer> X </answer>``; Deep-Agent/R1-V grpo.py, parquet or JSON/JSONL). Import fixtures are
written here in each real layout; export -> import round trips keep problem, answer, type, options and box."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mixed_r1.data.__main__ import main
from mixed_r1.data.schema import Sample, load_samples, write_samples
from mixed_r1.data.sources import convert, export
from tests.data.layouts import hf_image, jpeg_bytes, png_bytes, read_jsonl, write_image, write_json, write_jsonl, write_parquet


def vlm(record_id: Any, image: Any, question: str, answer: Any, method: str | None = None) -> dict[str, Any]:
    """One VLM-R1 record as its README writes it (``<image>`` before the question)."""
    record: dict[str, Any] = {"id": record_id, "image": image, "conversations": [
        {"from": "human", "value": "<image>" + question}, {"from": "gpt", "value": answer}]}
    if method is not None:
        record["accu_reward_method"] = method
    return record


def fields(sample: dict[str, Any]) -> tuple[Any, ...]:
    return sample["problem"], sample["answer"], sample["type"], sample["options"], sample["image_size"]


# ----------------------------------------------------------------------------- VLM-R1 import
def test_vlm_r1_jsonl_import_maps_reward_methods(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    write_image(root / "train2014" / "a.jpg", 40, 30)
    write_image(root / "train2014" / "b.png", 32, 24, (200, 10, 10))
    a, b = "train2014/a.jpg", "train2014/b.png"
    records = [
        vlm(1, a, "Which colour is the block?\nA. red\nB. green\nC. blue", "<answer> B </answer>", "mcq"),
        vlm(2, a, "Is there a cube?", "Yes", "yes_no"),
        # a REC record: the default method, the box in original pixels, as a string and as a JSON list
        vlm(3, a, "Please provide the bounding box coordinate of the region this sentence describes: the block.",
            "[2.5, 3, 20, 18]"),
        vlm(4, [b], "Please provide the bounding box coordinate of the region this sentence describes: it.",
            [1, 2, 10, 12], "default"),
        vlm(5, a, "What number of purple metallic balls are there?", "0"),
        vlm(6, b, "What is the total of the bars?", 12.5, "math"),
        vlm(7, b, "Describe the image.", "<answer>A red square on a plain background.</answer>", "llm"),
        vlm(8, a, "Is it red?\nA. yes\nB. no", "A", "default"),  # default reads the answer: an option letter
        # skipped, one reason each
        vlm(9, a, "Simplify x + x.", "2x", "math"),
        vlm(10, a, "What colour is the cube?", "red"),
        vlm(11, a, "Detect all cars.", '[{"bbox_2d": [1, 2, 3, 4], "label": "car"}]', "od_ap"),
        vlm(12, a, "Anything?", "yes", "bleu"),
        vlm(13, [a, b], "<image>Which image is brighter?\nA. first\nB. second", "A", "mcq"),
        vlm(14, a, "Which one?\nA. red\nB. green\nC. blue", "D", "mcq"),
        vlm(15, a, "Which one is red?", "B", "mcq"),
        vlm(16, a, "Is it big?", "maybe", "yes_no"),
        {"id": 17, "image": a, "accu_reward_method": "yes_no"},  # no conversations
        vlm(18, None, "Is it a text-only question?", "yes", "yes_no"),
        vlm(19, a, "Where is it?", "[10, 5, 50, 20]"),  # x2 beyond the 40 px width
        vlm(20, a, "What is shown?", "B"),  # a letter without options
    ]
    data = write_jsonl(tmp_path / "train.jsonl", records, raw_lines=['{"id": 21, "image": "train2014/a.jpg",'])
    report = convert("vlm_r1", data, tmp_path / "out" / "vlm.jsonl", images=root)
    samples = read_jsonl(tmp_path / "out" / "vlm.jsonl")
    assert (report.read, report.written) == (21, 8)
    assert report.skipped == {"answer is not a number": 1, "answer type not recognised": 1,
                              "reward method od_ap has no sample type": 1, "unknown reward method": 1,
                              "not one image": 1, "answer letter not among the options": 1,
                              "no options in the question": 2, "answer is not yes/no": 1, "malformed record": 2,
                              "no image": 1, "fails the schema": 1}
    assert [s["id"] for s in samples] == [f"vlm_r1-train-{i}" for i in range(1, 9)]  # ids are per file
    assert fields(samples[0]) == ("Which colour is the block?", "B", "multiple_choice", ["red", "green", "blue"], [40, 30])
    assert fields(samples[1]) == ("Is there a cube?", "yes", "yes_no", None, [40, 30])
    assert fields(samples[2])[1:] == ([2.5, 3.0, 20.0, 18.0], "grounding", None, [40, 30])
    assert samples[2]["problem"].endswith("describes: the block.")
    assert fields(samples[3])[1:] == ([1.0, 2.0, 10.0, 12.0], "grounding", None, [32, 24])
    assert fields(samples[4]) == ("What number of purple metallic balls are there?", "0", "chart", None, [40, 30])
    assert fields(samples[5]) == ("What is the total of the bars?", "12.5", "chart", None, [32, 24])
    assert fields(samples[6]) == ("Describe the image.", "A red square on a plain background.", "open_ended", None, [32, 24])
    assert fields(samples[7]) == ("Is it red?", "A", "multiple_choice", ["yes", "no"], [40, 30])
    assert [s["meta"]["accu_reward_method"] for s in samples] == [
        "mcq", "yes_no", "default", "default", "default", "math", "llm", "default"]
    assert all(s["source"] == "vlm_r1" for s in samples)
    assert Path(tmp_path / "out" / samples[0]["image"]).resolve() == (root / a).resolve()


def rec(image: str, expression: str, box: Any, normalized: Any = None) -> dict[str, Any]:
    """One record of VLM-R1's REC files (rec_jsons_processed/refcoco*_train.json, read by grpo_rec.py and
    src/eval/test_rec_r1.py): the box in original pixels as ``solution``, the 0-1000 box beside it."""
    return {"image": image, "problem": "Please provide the bounding box coordinate of the region this sentence "
            f"describes: {expression}.", "solution": box, "normalized_solution": normalized or [0, 0, 500, 500]}


def test_vlm_r1_rec_files_convert_to_grounding(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    write_image(root / "train2014" / "COCO_train2014_000000000009.jpg", 64, 48)
    image = "train2014/COCO_train2014_000000000009.jpg"
    data = write_json(tmp_path / "rec_jsons_processed" / "refcocog_train.json", [
        rec(image, "the red block on the left", [2, 3.5, 30, 40]),
        rec(image, "the small block", "<answer>[10, 10, 20, 30]</answer>"),  # a box in answer tags
        rec(image, "the block beyond the edge", [10, 10, 90, 30]),           # x2 outside the 64 px width
    ])
    report = convert("vlm_r1", data, tmp_path / "out" / "rec.jsonl", images=root)
    samples = read_jsonl(tmp_path / "out" / "rec.jsonl")
    assert (report.read, report.written, dict(report.skipped)) == (3, 2, {"fails the schema": 1})
    assert [(s["type"], s["answer"], s["image_size"]) for s in samples] == [
        ("grounding", [2.0, 3.5, 30.0, 40.0], [64, 48]), ("grounding", [10.0, 10.0, 20.0, 30.0], [64, 48])]
    assert samples[0]["problem"].endswith("describes: the red block on the left.")
    assert [s["id"] for s in samples] == ["vlm_r1-refcocog_train-0", "vlm_r1-refcocog_train-1"]  # no id: position


def test_a_box_in_answer_tags_is_grounding_in_the_jsonl_layout_too(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_image(root / "a.png", 40, 30)
    data = write_jsonl(tmp_path / "rec.jsonl", [vlm(1, "a.png", "Where is the block?", "<answer>[1, 2, 10, 12]</answer>"),
                                                vlm(2, "a.png", "Where is it?", "<answer> [3, 4, 20, 25] </answer>", "default")])
    report = convert("vlm_r1", data, tmp_path / "out.jsonl", images=root)
    assert (report.written, dict(report.skipped)) == (2, {})
    assert [s["answer"] for s in read_jsonl(tmp_path / "out.jsonl")] == [[1.0, 2.0, 10.0, 12.0], [3.0, 4.0, 20.0, 25.0]]


def test_a_folder_of_vlm_r1_files_keeps_every_record_though_each_file_numbers_its_ids_from_1(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_image(root / "a.png", 40, 30)
    folder = tmp_path / "vlm_r1_files"
    write_jsonl(folder / "clevr.jsonl", [vlm(1, "a.png", "Is it red?", "yes", "yes_no"),
                                         vlm(2, "a.png", "How many cubes?", "3", "math")])
    write_jsonl(folder / "mcq" / "geoqa.jsonl", [vlm(1, "a.png", "Which?\nA. 1\nB. 2", "B", "mcq"),
                                                 vlm(2, "a.png", "Is it round?", "no", "yes_no")])
    report = convert("vlm_r1", folder, tmp_path / "out.jsonl", images=root)
    assert (report.read, report.written, dict(report.skipped), report.renamed) == (4, 4, {}, 0)
    assert [s["id"] for s in read_jsonl(tmp_path / "out.jsonl")] == [
        "vlm_r1-clevr-1", "vlm_r1-clevr-2", "vlm_r1-mcq-geoqa-1", "vlm_r1-mcq-geoqa-2"]
    # an id repeated inside one file is no reason to lose a record: kept under a numbered id, and counted
    write_jsonl(folder / "clevr.jsonl", [vlm(1, "a.png", "Is it red?", "yes", "yes_no"),
                                         vlm(1, "a.png", "Is it blue?", "no", "yes_no")])
    again = convert("vlm_r1", folder / "clevr.jsonl", tmp_path / "again.jsonl", images=root)
    assert (again.written, dict(again.skipped), again.renamed) == (2, {}, 1)
    assert [s["id"] for s in read_jsonl(tmp_path / "again.jsonl")] == ["vlm_r1-clevr-1", "vlm_r1-clevr-1-1"]
    assert "kept 1 sample(s) whose id repeated" in again.format()


# ----------------------------------------------------------------------------- R1-V import
def r1v_row(image: Any, problem: str, answer: str) -> dict[str, Any]:
    return {"image": image, "problem": problem, "solution": f"<answer> {answer} </answer>"}


def test_r1_v_parquet_with_embedded_images(tmp_path: Path) -> None:
    rows = [
        r1v_row(hf_image(png_bytes(48, 32), "CLEVR_trainA_000001.png"), "How many items are there in the image?", "3"),
        r1v_row(hf_image(jpeg_bytes(30, 20), None), "Is there a red cube?", "yes"),
        r1v_row(hf_image(png_bytes(48, 32), None), "What shape is the red object?\nA. cube\nB. sphere", "B"),
        r1v_row(hf_image(png_bytes(48, 32), None), "What shape is the big object?", "cylinder"),
        r1v_row(hf_image(png_bytes(48, 32), None), "Which shape is the largest?", "C"),
        {"image": hf_image(png_bytes(48, 32), None), "problem": "How many cubes?", "solution": None},
        r1v_row(hf_image(b"not an image", None), "How many spheres?", "2"),
    ]
    data = write_parquet(tmp_path / "clevr_cogen_a_train" / "data" / "train-00000-of-00001.parquet", rows)
    report = convert("r1_v", data.parent, tmp_path / "out" / "r1v.jsonl")
    samples = read_jsonl(tmp_path / "out" / "r1v.jsonl")
    assert (report.read, report.written) == (7, 3)
    assert report.skipped == {"answer type not recognised": 1, "no options in the question": 1, "malformed record": 1,
                              "unreadable image": 1}
    assert [s["id"] for s in samples] == ["r1_v-0", "r1_v-1", "r1_v-2"]
    assert fields(samples[0]) == ("How many items are there in the image?", "3", "chart", None, [48, 32])
    assert fields(samples[1]) == ("Is there a red cube?", "yes", "yes_no", None, [30, 20])
    assert fields(samples[2]) == ("What shape is the red object?", "B", "multiple_choice", ["cube", "sphere"], [48, 32])
    assert samples[0]["image"] == samples[2]["image"]  # the same embedded bytes are written once
    assert report.images_written == 2 and all(s["source"] == "r1_v" for s in samples)


def test_r1_v_json_and_imagefolder_metadata_with_paths(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "geo_0.png", 60, 40)
    records = [
        r1v_row("images/geo_0.png", "Is AB parallel to CD?", "No"),
        # an option given by its text: the letter of that option
        r1v_row("images/geo_0.png", "Find angle C.\nChoices:\nA:40\nB:50\nC:60", "50"),
        r1v_row("images/geo_0.png", "Find angle CED.", "140°"),
        r1v_row("images/missing.png", "How many lines?", "4"),
    ]
    report = convert("r1_v", write_json(tmp_path / "geoqa.json", records), tmp_path / "out" / "geo.jsonl")
    samples = read_jsonl(tmp_path / "out" / "geo.jsonl")
    assert (report.read, report.written) == (4, 3)
    assert report.skipped == {"image not found": 1}
    assert fields(samples[0]) == ("Is AB parallel to CD?", "no", "yes_no", None, [60, 40])
    assert fields(samples[1]) == ("Find angle C.", "B", "multiple_choice", ["40", "50", "60"], [60, 40])
    # a degree sign is a unit the chart reward reads
    assert fields(samples[2]) == ("Find angle CED.", "140°", "chart", None, [60, 40])

    # create_hf_dataset.py's imagefolder metadata: file_name beside the images, thinking kept apart
    folder = tmp_path / "Clevr_CoGenT_TrainA_R1"
    write_image(folder / "CLEVR_trainA_000001_0.png", 36, 24)
    meta = [{"thinking": "<think>Two cubes, one sphere.</think>", "problem": "How many objects are there?",
             "solution": "<answer> 3 </answer>", "file_name": "CLEVR_trainA_000001_0.png"},
            {"problem": "How many cubes?", "solution": "<answer> 2 </answer>"}]  # no image: text-only
    report = convert("r1_v", write_jsonl(folder / "metadata.jsonl", meta, raw_lines=["{broken"]), tmp_path / "out" / "m.jsonl")
    samples = read_jsonl(tmp_path / "out" / "m.jsonl")
    assert (report.read, report.written) == (3, 1)
    assert report.skipped == {"no image": 1, "malformed record": 1}
    assert fields(samples[0]) == ("How many objects are there?", "3", "chart", None, [36, 24])


# ----------------------------------------------------------------------------- round trips
def our_samples(tmp_path: Path) -> tuple[Path, Path]:
    """One sample of every type, written as our JSONL with images below ``root``."""
    root = tmp_path / "images"
    img = str(write_image(root / "sub" / "scene.png", 64, 48))
    samples = [
        Sample("y-1", img, "Is the cube red?", "yes", "yes_no", "clevr", (64, 48)),
        Sample("m-1", img, "Which shape is red?", "C", "multiple_choice", "scienceqa", (64, 48), ["cube", "sphere", "cone"]),
        Sample("c-1", img, "What is the value of 2019?", "17.5", "chart", "chartqa", (64, 48)),
        Sample("g-1", img, "the red cube on the left", [4.0, 6.5, 30.0, 40.0], "grounding", "refcocog", (64, 48)),
        Sample("o-1", img, "Describe the picture.", "A red cube and a blue sphere on a grey floor.", "open_ended",
               "allava", (64, 48)),
    ]
    return write_samples(samples, tmp_path / "ours.jsonl"), root


def test_vlm_r1_round_trip_keeps_every_type(tmp_path: Path) -> None:
    ours, root = our_samples(tmp_path)
    originals = load_samples(ours, check_images=False)
    report = export("vlm_r1", originals, tmp_path / "peer" / "vlm.jsonl", image_root=root)
    assert (report.read, report.written, dict(report.skipped)) == (5, 5, {})
    records = read_jsonl(tmp_path / "peer" / "vlm.jsonl")
    assert all(set(r) == {"id", "image", "conversations", "accu_reward_method"} for r in records)
    assert [r["accu_reward_method"] for r in records] == ["yes_no", "mcq", "math", "default", "llm"]
    assert {r["image"] for r in records} == {"sub/scene.png"}  # relative to the peer's image folder
    assert records[1]["conversations"] == [
        {"from": "human", "value": "<image>Which shape is red?\nA. cube\nB. sphere\nC. cone"}, {"from": "gpt", "value": "C"}]
    assert records[3]["conversations"][1]["value"] == "[4, 6.5, 30, 40]"

    back = convert("vlm_r1", tmp_path / "peer" / "vlm.jsonl", tmp_path / "back" / "vlm.jsonl", images=root)
    assert (back.read, back.written) == (5, 5)
    again = read_jsonl(tmp_path / "back" / "vlm.jsonl")
    assert [fields(s) for s in again] == [(o.problem, o.answer, o.type, o.options, list(o.image_size)) for o in originals]


def test_r1_v_round_trip_and_skipped_types(tmp_path: Path) -> None:
    ours, root = our_samples(tmp_path)
    originals = load_samples(ours, check_images=False)
    report = export("r1_v", originals, tmp_path / "peer" / "r1v.jsonl", image_root=root)
    assert (report.read, report.written) == (5, 3)
    assert report.skipped == {"grounding cannot be scored by R1-V": 1, "open_ended cannot be scored by R1-V": 1}
    records = read_jsonl(tmp_path / "peer" / "r1v.jsonl")
    assert all(set(r) == {"image", "problem", "solution"} for r in records)
    assert records[1] == {"image": "sub/scene.png", "problem": "Which shape is red?\nA. cube\nB. sphere\nC. cone",
                          "solution": "<answer> C </answer>"}

    back = convert("r1_v", tmp_path / "peer" / "r1v.jsonl", tmp_path / "back" / "r1v.jsonl", images=root)
    assert (back.read, back.written) == (3, 3)
    expressible = [o for o in originals if o.type in ("yes_no", "multiple_choice", "chart")]
    assert [fields(s) for s in read_jsonl(tmp_path / "back" / "r1v.jsonl")] == [
        (o.problem, o.answer, o.type, o.options, list(o.image_size)) for o in expressible]


def test_cli_export_vlm_r1(tmp_path: Path, capsys: Any) -> None:
    ours, root = our_samples(tmp_path)
    output = tmp_path / "peer" / "cli.jsonl"
    assert main(["export", "vlm_r1", "--input", str(ours), "--output", str(output), "--image-root", str(root)]) == 0
    records = read_jsonl(output)
    assert len(records) == 5 and records[0]["conversations"][0]["value"] == "<image>Is the cube red?"
    assert "vlm_r1: read 5 records" in capsys.readouterr().out
    assert main(["sources"]) == 0
    listed = capsys.readouterr().out
    assert "vlm_r1" in listed and "r1_v" in listed
