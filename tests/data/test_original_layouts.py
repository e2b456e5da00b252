"""The converters of the sources' original layouts (ScienceQA, Geo170K, UniGeo, VSR, RefCOCOg, ALLaVA), each on
a small fixture written here field by field in the published layout, with records that must be skipped for a
counted reason (malformed, not fitting the paper type)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mixed_r1.data.schema import load_samples
from mixed_r1.data.sources import ConversionReport, convert
from mixed_r1.data.sources.unigeo import number_text
from tests.data.layouts import hf_image, png_bytes, read_jsonl, write_image, write_json, write_jsonl, write_parquet


def run(source: str, input: Path, tmp_path: Path, images: Path | None = None) -> tuple[ConversionReport, list[dict[str, Any]]]:
    """Convert, check the written file loads under the schema (images and sizes included), return report and lines."""
    output = tmp_path / "out" / f"{source}.jsonl"
    report = convert(source, input, output, images)
    lines = read_jsonl(output)
    if lines:
        load_samples(output)
    return report, lines


def counts(report: ConversionReport) -> tuple[int, int, dict[str, int]]:
    return report.read, report.written, dict(report.skipped)


# ----------------------------------------------------------------------------- ScienceQA
def sqa_row(**fields: Any) -> dict[str, Any]:
    row = {"image": hf_image(png_bytes(40, 30)), "question": "Which animal is a mammal?", "choices": ["frog", "dog", "snake"],
           "answer": 1, "hint": "", "task": "closed choice", "grade": "grade3", "subject": "natural science",
           "topic": "biology", "category": "Classification", "skill": "Identify mammals", "lecture": "Mammals ...",
           "solution": "A dog is a mammal."}
    return {**row, **fields}


def test_scienceqa_rows(tmp_path: Path) -> None:
    folder = tmp_path / "ScienceQA" / "data"
    write_parquet(folder / "train-00000-of-00002.parquet", [
        sqa_row(),
        sqa_row(image=hf_image(png_bytes(50, 20)), question="Which state is highlighted?", choices=["Ohio", "Texas"],
                answer=0, hint="The map shows the United States.", subject="social science"),
        sqa_row(image=None),                       # text-only question
        sqa_row(answer=5),                         # no such choice
        sqa_row(question=None),                    # malformed: no question
    ])
    # a shard whose answer column holds text instead of the index: a type mismatch
    write_parquet(folder / "train-00001-of-00002.parquet", [{**sqa_row(), "answer": "1"}])
    report, lines = run("scienceqa", folder, tmp_path)
    assert counts(report) == (6, 2, {"no image": 1, "answer index out of range": 1, "malformed record": 2})
    first, second = lines
    assert (first["id"], first["type"], first["source"]) == ("scienceqa-0", "multiple_choice", "scienceqa")
    assert first["problem"] == "Which animal is a mammal?"
    assert (first["options"], first["answer"], first["image_size"]) == (["frog", "dog", "snake"], "B", [40, 30])
    assert first["meta"]["subject"] == "natural science"
    assert second["id"] == "scienceqa-1"
    assert second["problem"] == "Context: The map shows the United States.\nWhich state is highlighted?"
    assert (second["options"], second["answer"], second["image_size"]) == (["Ohio", "Texas"], "A", [50, 20])
    assert first["image"].startswith("images/") and (tmp_path / "out" / first["image"]).is_file()


def test_scienceqa_rerun_is_stable(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "sqa.parquet", [sqa_row(), sqa_row(hint="Look closely.")])
    first, lines = run("scienceqa", path, tmp_path)
    again, relines = run("scienceqa", path, tmp_path)
    assert lines == relines and [line["id"] for line in lines] == ["scienceqa-0", "scienceqa-1"]
    assert (first.images_written, again.images_written) == (1, 0)  # one image shared by both rows, written once


# ----------------------------------------------------------------------------- Geo170K
GEO_INSTRUCTION = ("First perform reasoning, then finally select the question from the choices in the following format: "
                   "Answer: xxx.")


def geo_item(image: str, question: str, solution: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "image": image, "conversations": [
        {"from": "human", "value": f"<image>\n{GEO_INSTRUCTION}\nQuestion: {question}"},
        {"from": "gpt", "value": solution}]}


ANGLE_QUESTION = ("In the provided diagram, line a is parallel to line b. If angle 1 measures 32°, what is the degree "
                  "measure of angle 2?\nChoices:\nA: 32°\nB: 68°\nC: 58°\nD: 34°")


def test_geo170k_qa_tuning(tmp_path: Path) -> None:
    root = tmp_path / "Geo170K"
    write_image(root / "geoqa_plus" / "10756.png", 60, 40)
    write_image(root / "geoqa_plus" / "9177.png", 30, 30)
    write_image(root / "geo3k" / "train" / "2079" / "img_diagram.png", 20, 20)
    items = [
        geo_item("geoqa_plus/10756.png", ANGLE_QUESTION,
                 "Since line a || b, angle 2 = 180° - 90° - 32° = 58°. Therefore, the answer is: C.\nAnswer:C"),
        geo_item("geoqa_plus/9177.png",
                 "In the given diamond ABCD, the length of CD is 8.0. What is EF?\nChoices:\nA:4.0\nB:12.0",
                 "EF is half of CD, so EF = 4.0.\nTherefore, the answer is option A.", id="9177_13"),
        {"image": "geo3k/train/2079/img_diagram.png", "conversations": [   # the alignment split: a description
            {"from": "human", "value": "<image>\nDescribe the geometric figure."},
            {"from": "gpt", "value": "The figure shows triangle ABC with a point D on BC."}]},
        geo_item("geoqa_plus/10756.png", ANGLE_QUESTION, "So angle 2 is 58°.\nAnswer:E"),        # no option E
        geo_item("geoqa_plus/10756.png", ANGLE_QUESTION, "So angle 2 is 58°."),                   # no final letter
        {"image": "geoqa_plus/10756.png"},                                                        # malformed
        {"image": "geoqa_plus/10756.png", "conversations": geo_item("x", ANGLE_QUESTION, "Answer:C")["conversations"] * 2},
        geo_item("geoqa_plus/404.png", ANGLE_QUESTION, "Answer:C"),                               # image missing
    ]
    report, lines = run("geo170k", write_json(root / "qa_tuning.json", items), tmp_path)
    assert counts(report) == (8, 2, {"no options in the question": 1, "answer letter not among the options": 1,
                                     "answer is not a letter": 1, "malformed record": 1,
                                     "not one question-answer pair": 1, "image not found": 1})
    first, second = lines
    assert (first["id"], first["type"], first["source"], first["answer"]) == ("geo170k-0", "multiple_choice", "geo170k", "C")
    assert first["problem"] == ("In the provided diagram, line a is parallel to line b. If angle 1 measures 32°, what is "
                                "the degree measure of angle 2?")
    assert (first["options"], first["image_size"]) == (["32°", "68°", "58°", "34°"], [60, 40])
    assert first["meta"] == {"image_file": "geoqa_plus/10756.png"}
    assert (second["id"], second["answer"], second["options"]) == ("geo170k-9177_13", "A", ["4.0", "12.0"])
    assert second["problem"] == "In the given diamond ABCD, the length of CD is 8.0. What is EF?"


# ----------------------------------------------------------------------------- UniGeo
def unigeo_item(item_id: int, **fields: Any) -> dict[str, Any]:
    item = {"id": item_id, "image": f"calculation_images/{item_id}.png",
            "English_problem": "As shown in the figure, AB ∥ CD, ∠1 = 50°, then the degree of ∠2 is ()",
            "choices": ["40°", "50°", "130°", "140°"], "choice_nums": [40.0, 50.0, 130.0, 140.0], "label": 2,
            "numbers": [50.0], "manual_program": ["g_minus", "C_3", "N_0"], "subject": "..."}
    return {**item, **fields}


def test_unigeo_calculation_records(tmp_path: Path) -> None:
    root = tmp_path / "UniGeo"
    for item_id, width in ((5, 70), (6, 30), (7, 30), (9, 30)):
        write_image(root / "calculation_images" / f"{item_id}.png", width, 50)
    path = write_jsonl(root / "calculation_train.jsonl", [
        unigeo_item(5),
        unigeo_item(6, choices=["2.5", "0.3", "2√{3}", "7"], choice_nums=[2.5, 0.30000000000000004, 3.4641016151377544, 7],
                    label=2),
        {k: v for k, v in unigeo_item(7, label=3).items() if k != "choices"},           # only numbers: the options
        {"input_text": "Given AB = CD, prove ...", "proving_sequence": ["congruent"], "problem_type": "triangle"},
        unigeo_item(9, label=4),                                                          # no such option
        unigeo_item(9, choice_nums=[40.0, "fifty"]),                                      # malformed choice
        unigeo_item(9, label="2"),                                                        # type mismatch
        unigeo_item(9, image=[[0, 255], [255, 0]]),                                       # the pickle's array
    ], raw_lines=['{"id": 10, "English_problem": '])
    report, lines = run("unigeo", path, tmp_path)
    assert counts(report) == (9, 3, {"not a calculation problem": 1, "answer index out of range": 1,
                                     "malformed record": 3, "image is an array": 1})
    first, second, third = lines
    assert (first["id"], first["type"], first["source"]) == ("unigeo-5", "multiple_choice", "unigeo")
    assert first["problem"] == "As shown in the figure, AB ∥ CD, ∠1 = 50°, then the degree of ∠2 is ()"
    # the options as printed (the model sees the question as published); the numbers beside them in meta
    assert (first["options"], first["answer"], first["image_size"]) == (["40°", "50°", "130°", "140°"], "C", [70, 50])
    assert first["meta"]["choice_nums"] == ["40", "50", "130", "140"]
    assert (second["options"], second["answer"]) == (["2.5", "0.3", "2√{3}", "7"], "C")
    assert second["meta"]["choice_nums"] == ["2.5", "0.3", "3.464102", "7"]
    assert (third["options"], third["answer"], "choice_nums" in third["meta"]) == (["40", "50", "130", "140"], "D", False)


@pytest.mark.parametrize(("value", "text"), [(30.0, "30"), (30, "30"), (-0.0, "0"), (1e7, "10000000"), (0.1 + 0.2, "0.3")])
def test_unigeo_choice_numbers_lose_float_noise(value: float, text: str) -> None:
    assert number_text(value) == text


# ----------------------------------------------------------------------------- VSR
def vsr_record(image: str, caption: str, label: Any, relation: str = "in front of") -> dict[str, Any]:
    return {"image": image, "image_link": f"http://images.cocodataset.org/train2017/{image}", "caption": caption,
            "label": label, "relation": relation, "annotator_id": 31, "vote_true_validator_id": [2, 6],
            "vote_false_validator_id": []}


def test_vsr_jsonl(tmp_path: Path) -> None:
    root = tmp_path / "vsr"
    write_image(root / "000000050403.jpg", 64, 48)
    write_image(root / "train2017" / "000000401552.jpg", 32, 32)  # found through the COCO link
    path = write_jsonl(root / "train.jsonl", [
        vsr_record("000000050403.jpg", "The teddy bear is in front of the person.", 1),
        vsr_record("000000401552.jpg", "The umbrella is far away from the motorcycle.", 0, "far away from"),
        vsr_record("000000050403.jpg", "The person is behind the teddy bear.", True, "behind"),
        vsr_record("000000050403.jpg", "The bear is on the person.", "0", "on"),
        vsr_record("000000050403.jpg", "The bear is under the person.", 2, "under"),       # not a truth label
        vsr_record("000000050403.jpg", "The bear is left of the person.", 1.0, "left of"),  # type mismatch
        {k: v for k, v in vsr_record("000000050403.jpg", "x", 1).items() if k != "caption"},
        vsr_record("000000999999.jpg", "The cat is on the mat.", 1, "on"),                  # image missing
    ])
    report, lines = run("vsr", path, tmp_path)
    assert counts(report) == (8, 4, {"label is not true/false": 1, "malformed record": 2, "image not found": 1})
    assert [(line["id"], line["answer"], line["type"], line["source"]) for line in lines] == [
        ("vsr-0", "yes", "yes_no", "vsr"), ("vsr-1", "no", "yes_no", "vsr"), ("vsr-2", "yes", "yes_no", "vsr"),
        ("vsr-3", "no", "yes_no", "vsr")]
    assert lines[0]["problem"] == 'Is this statement about the image true? "The teddy bear is in front of the person."'
    assert (lines[0]["image_size"], lines[1]["image_size"]) == ([64, 48], [32, 32])
    assert lines[1]["meta"] == {"relation": "far away from", "image": "000000401552.jpg"}


# ----------------------------------------------------------------------------- RefCOCOg
def jxu_row(ref_id: int, xywh: list[float], xyxy: list[float], sentences: list[str], image_id: int = 42) -> dict[str, Any]:
    raw_anns = {"segmentation": [[1.0, 2.0, 3.0, 4.0]], "area": 1200.0, "iscrowd": 0, "image_id": image_id,
                "bbox": xywh, "category_id": 1, "id": 1000 + ref_id}
    return {"image_id": image_id, "split": "train",
            "sentences": [{"raw": s, "sent": s.lower(), "sent_id": 10 * ref_id + n, "tokens": s.lower().split()}
                          for n, s in enumerate(sentences)],
            "file_name": f"COCO_train2014_{image_id:012d}_{1000 + ref_id}.jpg", "category_id": 1, "ann_id": 1000 + ref_id,
            "sent_ids": [10 * ref_id + n for n in range(len(sentences))], "ref_id": ref_id, "raw_anns": json.dumps(raw_anns),
            "raw_image_info": json.dumps({"id": image_id, "width": 100, "height": 80}), "raw_sentences": "[]",
            "image_path": f"coco/train2014/COCO_train2014_{image_id:012d}.jpg", "bbox": xyxy,
            "captions": [s.lower() for s in sentences], "global_image_id": f"coco.{image_id}",
            "anns_id": f"refcocog.{1000 + ref_id}"}


def test_refcocog_jxu124_rows(tmp_path: Path) -> None:
    images = tmp_path / "coco_images"
    write_image(images / "train2014" / "COCO_train2014_000000000042.jpg", 100, 80)  # unpacked without the 'coco/' folder
    three = ["The man on the left.", "A man in a red shirt", "person holding a cup"]
    path = write_parquet(tmp_path / "refcocog" / "data" / "train-00000-of-00001.parquet", [
        jxu_row(11, [10, 20, 30, 40], [10, 20, 40, 60], three),
        jxu_row(12, [5, 5, 0, 10], [5, 5, 5, 15], ["a flat line"]),                 # zero area
        jxu_row(13, [90, 10, 20, 10], [90, 10, 110, 20], ["the cut-off sign"]),      # leaves the 100 px wide image
        jxu_row(14, [10, 20, 30, 40], [10, 20, 30, 40], ["a box read as xywh twice"]),  # the two box fields disagree
        jxu_row(15, [10, 20, 30], [10, 20, 40, 60], ["three numbers"]),               # malformed box
        jxu_row(16, [1, 2, 3, 4], [1, 2, 4, 6], ["the small dog", ""]),               # one empty expression
        jxu_row(17, [1, 2, 3, 4], [1, 2, 4, 6], ["the lost image"], image_id=77),     # no such image file
        {**jxu_row(18, [0, 0, 1, 1], [3, 4, 9, 12], ["no COCO annotation"]), "raw_anns": "{}"},  # the corner box alone
    ])
    report, lines = run("refcocog", path, tmp_path, images=images)
    assert counts(report) == (8, 5, {"fails the schema": 2, "box fields disagree": 1, "malformed record": 2,
                                     "image not found": 1})
    assert [line["id"] for line in lines] == ["refcocog-11-0", "refcocog-11-1", "refcocog-11-2", "refcocog-16-0",
                                              "refcocog-18-0"]
    for line, expression in zip(lines, three):  # 3 expressions of one object: 3 samples, one box
        assert line["answer"] == [10.0, 20.0, 40.0, 60.0]  # [x, y, w, h] = [10, 20, 30, 40] -> corners
        assert line["problem"] == f'Locate "{expression}" in the image and give its bounding box.'
        assert (line["type"], line["source"], line["image_size"]) == ("grounding", "refcocog", [100, 80])
        assert line["image"] == str((images / "train2014" / "COCO_train2014_000000000042.jpg").resolve())
    assert lines[0]["meta"] == {"ref_id": 11, "ann_id": 1011, "image_id": 42, "split": "train", "category_id": 1,
                                "expression": "The man on the left."}
    assert (lines[3]["answer"], lines[4]["answer"]) == ([1.0, 2.0, 4.0, 6.0], [3.0, 4.0, 9.0, 12.0])


def test_refcocog_lmms_lab_rows(tmp_path: Path) -> None:
    def row(question_id: str, bbox: list[float], answers: list[str]) -> dict[str, Any]:
        return {"question_id": question_id, "image": hf_image(png_bytes(100, 80)),
                "question": "Please carefully observe the area circled in the image and come up with a caption for the area.",
                "answer": answers, "segmentation": [10.0, 20.0, 40.0, 20.0, 40.0, 60.0], "bbox": bbox, "iscrowd": 0,
                "file_name": "COCO_train2014_000000000042_1011.jpg"}

    path = write_parquet(tmp_path / "RefCOCOg" / "data" / "val-00000-of-00001.parquet", [
        row("500", [10, 20, 30, 40], ["the man on the left", "a man in a red shirt", "the person with a cup"]),
        row("501", [10, 20, 30], ["three numbers"]),       # malformed box
        row("502", [60, 50, 50, 10], ["off the edge"]),    # x2 = 110 > 100
        row("503", [0, 0, 10, 10], []),                    # no expression
    ])
    report, lines = run("refcocog", path, tmp_path)
    assert counts(report) == (4, 3, {"malformed record": 2, "fails the schema": 1})
    assert [line["id"] for line in lines] == ["refcocog-500-0", "refcocog-500-1", "refcocog-500-2"]
    assert {tuple(line["answer"]) for line in lines} == {(10.0, 20.0, 40.0, 60.0)}
    assert lines[2]["problem"] == 'Locate "the person with a cup" in the image and give its bounding box.'
    assert lines[0]["image_size"] == [100, 80] and lines[0]["meta"]["question_id"] == "500"


# ----------------------------------------------------------------------------- ALLaVA
def allava_item(number: int, caption: str, image: str | None = None, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"allava_laion_cap_{number}"}
    if image is not None:
        item["image"] = image
    item["conversations"] = [{"from": "human", "value": "<image>\nPlease depict the image in words."},
                             {"from": "gpt", "value": caption}]
    return {**item, **fields}


def test_allava_captions(tmp_path: Path) -> None:
    root = tmp_path / "ALLaVA-4V"
    write_image(root / "allava_laion" / "images" / "100277305.jpeg", 48, 36)
    caption = "The image displays a silver ring with a design that resembles a stylized leaf."
    turns = allava_item(0, caption)["conversations"]
    path = write_json(root / "ALLaVA-Caption-LAION-4V.json", [
        allava_item(100277305, caption, "allava_laion/images/100277305.jpeg"),
        allava_item(1, caption),                                                                # no image
        allava_item(2, caption, "allava_laion/images/100277305.jpeg", conversations=turns * 2),  # two exchanges
        allava_item(3, caption, "allava_laion/images/100277305.jpeg", conversations=turns[::-1]),  # gpt first
        {"id": "allava_laion_cap_4", "image": "allava_laion/images/100277305.jpeg"},            # malformed
        allava_item(5, caption, "allava_laion/images/5.jpeg"),                                   # image missing
    ])
    report, lines = run("allava", path, tmp_path)
    assert counts(report) == (6, 1, {"no image": 1, "not one question-answer pair": 1, "malformed record": 2,
                                     "image not found": 1})
    (line,) = lines
    assert (line["id"], line["type"], line["source"]) == ("allava-allava_laion_cap_100277305", "open_ended", "allava")
    assert (line["problem"], line["answer"], line["image_size"]) == ("Please depict the image in words.", caption, [48, 36])
    assert line["options"] is None and line["meta"] == {"allava_id": "allava_laion_cap_100277305"}


def test_allava_text_only_records_are_skipped_as_having_no_image(tmp_path: Path) -> None:
    """ALLaVA-Text (Evol-Instruct-GPT4-Turbo-143K.json) records carry ``idx`` and conversations, no image and no id:
    the reason given is the missing image, not the missing id."""
    text_only = {"idx": "evol_instruct_0", "conversations": [
        {"from": "human", "value": "Explain recursion."}, {"from": "gpt", "value": "A function calling itself."}]}
    report, lines = run("allava", write_json(tmp_path / "Evol-Instruct-GPT4-Turbo-143K.json", [text_only]), tmp_path)
    assert counts(report) == (1, 0, {"no image": 1}) and lines == []
    assert "text-only" in report.first["no image"]
