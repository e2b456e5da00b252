"""The the_cauldron converters (``cauldron_<subset>``) on parquet fixtures in the published layout: ``images`` (a
list of HF image dicts) and ``texts`` (turns ``{"user", "assistant", "source"}``), each subset's turns phrased
the way huggingface/smollm's build_ds_sft.py phrased them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mixed_r1.data.__main__ import main
from mixed_r1.data.sources import convert
from mixed_r1.data.sources.cauldron import SUBSETS
from tests.data.layouts import hf_image, png_bytes, read_jsonl, write_parquet


def turn(user: str | None, assistant: str | None, source: str) -> dict[str, Any]:
    return {"user": user, "assistant": assistant, "source": source}


def row(texts: list[dict[str, Any]] | None, *sizes: tuple[int, int]) -> dict[str, Any]:
    """One cauldron row: an image per size (colour varied so no two rows share an image file)."""
    images = [hf_image(png_bytes(w, h, (w % 256, h % 256, 7)), None) for w, h in sizes]
    return {"images": images, "texts": texts}


def run(tmp_path: Path, subset: str, rows: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    source = write_parquet(tmp_path / subset / "train-00000-of-00001.parquet", rows)
    output = tmp_path / "out" / f"{subset}.jsonl"
    report = convert(f"cauldron_{subset}", source, output)
    return report, read_jsonl(output)


def check(sample: dict[str, Any], subset: str, sample_id: str, problem: str, answer: str,
          size: tuple[int, int], turn_no: int, options: list[str] | None = None) -> None:
    """Every field of one written sample (the image is the row's, written once below out/images)."""
    assert sample["id"] == sample_id
    assert (sample["problem"], sample["answer"], sample["options"]) == (problem, answer, options)
    assert sample["type"] == SUBSETS[subset].type and sample["source"] == subset
    assert sample["image_size"] == list(size)
    assert sample["meta"]["subset"] == subset and sample["meta"]["turn"] == turn_no
    assert sample["image"].startswith("images/")


# ----------------------------------------------------------------------------- yes_no: mapqa, clevr, figureqa, vsr
def test_mapqa_short_answer_hints_and_non_yes_no_answers(tmp_path: Path) -> None:
    rows = [
        row([turn("Does Oregon have the highest value in the USA?\nAnswer briefly.", "Yes.", "MapQA"),
             turn("Which states have the lowest value in the West?\nKeep it brief.", "Oregon, Nevada.", "MapQA"),
             turn("Is the value of Ohio higher than that of Iowa?\nBe succinct.", "No.", "MapQA")], (40, 30)),
        row(None, (20, 10)),  # texts missing
        row([turn("Does Iowa have the lowest value?\nAnswer briefly.", "Yes.", "MapQA")]),  # zero images
        row([turn("How many states have a value above 50?\nShort answer required.", "12.", "MapQA")], (24, 24)),
    ]
    report, samples = run(tmp_path, "mapqa", rows)
    assert (report.read, report.written) == (4, 2)
    assert report.skipped == {"answer is not yes/no": 2, "malformed record": 1, "not one image": 1}
    assert report.images_written == 1  # the row whose every turn was skipped wrote no image
    check(samples[0], "mapqa", "cauldron_mapqa-0-0", "Does Oregon have the highest value in the USA?", "yes", (40, 30), 0)
    check(samples[1], "mapqa", "cauldron_mapqa-0-2", "Is the value of Ohio higher than that of Iowa?", "no", (40, 30), 2)
    assert samples[0]["image"] == samples[1]["image"] and samples[0]["meta"]["turn_source"] == "MapQA"


def test_clevr_brevity_hints_counts_skipped(tmp_path: Path) -> None:
    rows = [
        row([turn("Are there any other things that are the same shape as the big metallic object?\n"
                  "Give a very brief answer.", "No.", "clevr"),
             turn("How many cylinders are there?\nYour answer should be very brief.", "3.", "clevr"),
             turn("Is the red cube made of metal?\nEnsure brevity in your answer. ", "Yes.", "clevr")], (48, 32)),
        row([turn(None, "Yes.", "clevr")], (30, 20)),  # a turn without its question
    ]
    report, samples = run(tmp_path, "clevr", rows)
    assert (report.read, report.written) == (2, 2)
    assert report.skipped == {"answer is not yes/no": 1, "malformed record": 1}
    check(samples[0], "clevr", "cauldron_clevr-0-0",
          "Are there any other things that are the same shape as the big metallic object?", "no", (48, 32), 0)
    check(samples[1], "clevr", "cauldron_clevr-0-2", "Is the red cube made of metal?", "yes", (48, 32), 2)


def test_figureqa_answer_yes_or_no(tmp_path: Path) -> None:
    rows = [
        row([turn("Is Dark Periwinkle the roughest?\nAnswer yes or no.", "No.", "FigureQA"),
             turn("Does Medium Seafoam intersect Light Salmon?\nAnswer yes or no.", "Yes.", "FigureQA"),
             turn("Which line is the roughest?\nAnswer yes or no.", "Dark Periwinkle.", "FigureQA")], (50, 40)),
        row([turn("Is Red the minimum?\nAnswer yes or no.", "Yes.", "FigureQA")], (10, 10), (12, 12)),  # two images
    ]
    report, samples = run(tmp_path, "figureqa", rows)
    assert (report.read, report.written) == (2, 2)
    assert report.skipped == {"answer is not yes/no": 1, "not one image": 1}
    check(samples[0], "figureqa", "cauldron_figureqa-0-0", "Is Dark Periwinkle the roughest?", "no", (50, 40), 0)
    check(samples[1], "figureqa", "cauldron_figureqa-0-1", "Does Medium Seafoam intersect Light Salmon?", "yes", (50, 40), 1)


def test_vsr_caption_questions(tmp_path: Path) -> None:
    rows = [
        row([turn('Is this affirmation: "The cat is on the bed." correct?\nAnswer yes or no.', "Yes.", "VSR")], (60, 40)),
        row([turn('Does the caption "The bus is far from the parking meter." correctly depict the image?\n'
                  "Answer yes or no.", "No.", "VSR")], (33, 44)),
        # VSR's own label words (the cauldron writes Yes./No., but true/false is the same answer)
        row([turn('Is the statement "The dog is under the table." accurate regarding the image?\nAnswer yes or no.',
                  "False", "VSR"),
             turn('Is "The cup is on the table." an appropriate description for the image?\nAnswer yes or no.',
                  "The table.", "VSR")], (32, 32)),
        row([], (20, 20)),  # no turns
    ]
    report, samples = run(tmp_path, "vsr", rows)
    assert (report.read, report.written) == (4, 3)
    assert report.skipped == {"answer is not yes/no": 1, "malformed record": 1}
    check(samples[0], "vsr", "cauldron_vsr-0-0", 'Is this affirmation: "The cat is on the bed." correct?', "yes", (60, 40), 0)
    check(samples[1], "vsr", "cauldron_vsr-1-0",
          'Does the caption "The bus is far from the parking meter." correctly depict the image?', "no", (33, 44), 0)
    check(samples[2], "vsr", "cauldron_vsr-2-0",
          'Is the statement "The dog is under the table." accurate regarding the image?', "no", (32, 32), 0)


# ----------------------------------------------------------------------------- multiple_choice: ai2d, scienceqa
def ai2d_rows() -> list[dict[str, Any]]:
    return [
        row([turn("Question: What do respiration and combustion give out\nChoices:\nA. Oxygen\nB. Carbon dioxide\n"
                  "C. Nitrogen\nD. Heat\nAnswer with the letter.", "Answer: B", "AI2D"),
             turn("Question: Which stage comes after the egg?\nChoices:\nA. larva\nB. adult\nAnswer with the letter.",
                  "Answer: D", "AI2D"),
             turn("What is labeled E in the diagram?", "The sun.", "AI2D"),
             turn("Question: What eats grass?\nChoices:\nA. deer\nB. hawk\nAnswer with the letter.", "deer", "AI2D")],
            (64, 64)),
        row([turn("Question: Which label shows the moon?\nChoices:\nA. c\nB. D\nC. b\nD. a\nAnswer with the letter.",
                  "Answer: C", "AI2D")], (40, 30)),
        row(None, (16, 16)),
    ]


def test_ai2d_letters_and_options(tmp_path: Path) -> None:
    report, samples = run(tmp_path, "ai2d", ai2d_rows())
    assert (report.read, report.written) == (3, 2)
    assert report.skipped == {"answer letter not among the options": 1, "no options in the question": 1,
                              "answer is not a letter": 1, "malformed record": 1}
    check(samples[0], "ai2d", "cauldron_ai2d-0-0", "What do respiration and combustion give out", "B", (64, 64), 0,
          ["Oxygen", "Carbon dioxide", "Nitrogen", "Heat"])
    check(samples[1], "ai2d", "cauldron_ai2d-1-0", "Which label shows the moon?", "C", (40, 30), 0, ["c", "D", "b", "a"])
    assert samples[0]["meta"]["turn_source"] == "AI2D"
    # a rerun into the same folder gives the same ids and writes no image again
    again = convert("cauldron_ai2d", tmp_path / "ai2d", tmp_path / "out" / "ai2d.jsonl")
    assert [s["id"] for s in read_jsonl(tmp_path / "out" / "ai2d.jsonl")] == [s["id"] for s in samples]
    assert again.images_written == 0 and report.images_written == 2


def test_scienceqa_sections_are_parsed_into_the_problem_the_scienceqa_converter_gives(tmp_path: Path) -> None:
    rows = [
        row([turn("Lecture: Magnets can pull or push on each other without touching.\nQuestion: Will these magnets "
                  "attract or repel each other?\nHint: Two magnets are placed as shown.\nChoices:\nA. repel\nB. attract\n"
                  "Answer with the letter.", "Answer: A", "ScienceQA")], (50, 50)),
        row([turn("Question: Which animal's feet are also adapted for swimming?\nChoices:\nA. duck\nB. tiger\nC. camel\n"
                  "Answer with the letter.", "Answer: A", "ScienceQA")], (30, 30)),
        {"images": None, "texts": [turn("Question: Which is a fish?\nChoices:\nA. eel\nB. cat\nAnswer with the letter.",
                                        "Answer: A", "ScienceQA")]},
        row([turn("Question: Which is hotter?\nChoices:\nA. ice\nB. fire\nAnswer with the letter.", None, "ScienceQA"),
             turn("Question: Which is larger?\nChoices:\nB. ant\nA. whale\nAnswer with the letter.", "Answer: A",
                  "ScienceQA")], (20, 20)),
    ]
    report, samples = run(tmp_path, "scienceqa", rows)
    assert (report.read, report.written) == (4, 2)
    assert report.skipped == {"no image": 1, "malformed record": 1, "no options in the question": 1}
    # the lecture dropped, the hint as the context: what `scienceqa` makes of the same item's parquet row
    check(samples[0], "scienceqa", "cauldron_scienceqa-0-0",
          "Context: Two magnets are placed as shown.\nWill these magnets attract or repel each other?", "A", (50, 50), 0,
          ["repel", "attract"])
    standalone = convert("scienceqa", write_parquet(tmp_path / "sqa" / "train.parquet", [{
        "image": hf_image(png_bytes(50, 50)), "question": "Will these magnets attract or repel each other?",
        "choices": ["repel", "attract"], "answer": 0, "hint": "Two magnets are placed as shown.", "task": "closed choice",
        "grade": "grade2", "subject": "natural science", "topic": "physics", "category": "Magnets",
        "skill": "Predict magnetic forces", "lecture": "Magnets can pull or push on each other without touching.",
        "solution": "..."}]), tmp_path / "sqa" / "out.jsonl")
    assert standalone.written == 1
    (same,) = read_jsonl(tmp_path / "sqa" / "out.jsonl")
    assert (same["problem"], same["options"], same["answer"]) == (samples[0]["problem"], samples[0]["options"], "A")
    check(samples[1], "scienceqa", "cauldron_scienceqa-1-0", "Which animal's feet are also adapted for swimming?", "A",
          (30, 30), 0, ["duck", "tiger", "camel"])


# ----------------------------------------------------------------------------- chart: chartqa, docvqa, infovqa, multihiertt
def test_chartqa_both_prompt_variants(tmp_path: Path) -> None:
    new_prompt = ("For the question below, follow the following instructions:\n"
                  "-The answer should contain as few words as possible.\n"
                  "-Don’t include any units in the answer.\n"
                  "-Do not include any full stops at the end of the answer.\n"
                  "Question: What is the value of Japan?")
    rows = [
        row([turn("How many food item is shown in the bar graph?\nAnswer briefly.", "14.", "ChartQA"),
             turn("Is the value of Favorable 38 in 2015?\nQuick response, please.", "Yes.", "ChartQA"),
             turn("What's the share of respondents who said yes?\nConcise answer only.", "45%.", "ChartQA")], (64, 48)),
        row([turn(new_prompt, "0.25", "ChartQA")], (40, 40)),
        row(None, (8, 8)),
    ]
    report, samples = run(tmp_path, "chartqa", rows)
    assert (report.read, report.written) == (3, 3)
    assert report.skipped == {"answer is not a number": 1, "malformed record": 1}
    check(samples[0], "chartqa", "cauldron_chartqa-0-0", "How many food item is shown in the bar graph?", "14", (64, 48), 0)
    check(samples[1], "chartqa", "cauldron_chartqa-0-2", "What's the share of respondents who said yes?", "45%", (64, 48), 2)
    check(samples[2], "chartqa", "cauldron_chartqa-1-0", "What is the value of Japan?", "0.25", (40, 40), 0)


def test_docvqa_numbers_only(tmp_path: Path) -> None:
    new_prompt = ("Give a short and terse answer to the following question. Do not paraphrase or reformat the text you "
                  "see in the image. Do not include any full stops. Just give the answer without additional explanation.\n"
                  "Question: What is the total?")
    rows = [
        row([turn("What is the dividend payout in 2012?\nProvide a succinct answer.", "25.", "docvqa"),
             turn("What is the name of the company?\nOffer a terse response.", "ITC Limited.", "docvqa"),
             turn(new_prompt, "1,234", "docvqa")], (70, 90)),
        row([turn("", "25.", "docvqa")], (9, 9)),  # an empty question
    ]
    report, samples = run(tmp_path, "docvqa", rows)
    assert (report.read, report.written) == (2, 2)
    assert report.skipped == {"answer is not a number": 1, "malformed record": 1}
    check(samples[0], "docvqa", "cauldron_docvqa-0-0", "What is the dividend payout in 2012?", "25", (70, 90), 0)
    check(samples[1], "docvqa", "cauldron_docvqa-0-2", "What is the total?", "1,234", (70, 90), 2)


def test_infographic_vqa_image_counts(tmp_path: Path) -> None:
    rows = [
        row([turn("What is the inverse of the percentage of total job advertisements in London?\nGive a very brief answer.",
                  "78.", "Infographic-VQA"),
             turn("Which country has the most job advertisements?\nBe succinct.", "Canada.", "Infographic-VQA")], (36, 80)),
        row([turn("How many people are shown?\nKeep it brief.", "3.", "Infographic-VQA")], (10, 10), (11, 11)),
        {"images": None, "texts": [turn("How many icons are there?\nAnswer briefly.", "5.", "Infographic-VQA")]},
        {"images": [hf_image(png_bytes(5, 5))], "texts": None},
    ]
    report, samples = run(tmp_path, "infographic_vqa", rows)
    assert (report.read, report.written) == (4, 1)
    assert report.skipped == {"answer is not a number": 1, "not one image": 1, "no image": 1, "malformed record": 1}
    check(samples[0], "infographic_vqa", "cauldron_infographic_vqa-0-0",
          "What is the inverse of the percentage of total job advertisements in London?", "78", (36, 80), 0)


def test_multihiertt_final_answer_after_computations(tmp_path: Path) -> None:
    rows = [
        row([turn("What is the sum of Other in 2008 and Other in 2007?", "\nComputations: 100 + 200\nAnswer: 300.",
                  "multihiertt")], (80, 60)),
        row([turn("What was the change in revenue between 2018 and 2019?", "\nComputations: 1.5 - 3\nAnswer: -1.5.",
                  "multihiertt")], (80, 61)),
        row([turn("Did revenue grow in 2019?", "\nComputations: table_max(revenue)\nAnswer: increased.",
                  "multihiertt")], (80, 62)),
        row([turn("What is the total of row 3?", "\nComputations: 1 + 2\n3.", "multihiertt")], (80, 63)),
        row(None, (80, 64)),
    ]
    report, samples = run(tmp_path, "multihiertt", rows)
    assert (report.read, report.written) == (5, 2)
    assert report.skipped == {"answer is not a number": 1, "no final answer line": 1, "malformed record": 1}
    check(samples[0], "multihiertt", "cauldron_multihiertt-0-0", "What is the sum of Other in 2008 and Other in 2007?",
          "300", (80, 60), 0)
    check(samples[1], "multihiertt", "cauldron_multihiertt-1-0", "What was the change in revenue between 2018 and 2019?",
          "-1.5", (80, 61), 0)


# ----------------------------------------------------------------------------- the command line
def test_cli_converts_ai2d_and_lists_every_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_parquet(tmp_path / "ai2d" / "train-00000-of-00001.parquet", ai2d_rows())
    output = tmp_path / "converted" / "ai2d.jsonl"
    code = main(["convert", "cauldron_ai2d", "--input", str(source), "--output", str(output)])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"cauldron_ai2d: read 3 records from {source}; wrote 2 samples to {output} (multiple_choice 2)" in printed
    assert "skipped 4:" in printed and "answer letter not among the options" in printed and "malformed record" in printed
    assert [s["answer"] for s in read_jsonl(output)] == ["B", "C"]
    assert output.with_name("ai2d.jsonl.report.json").is_file()

    assert main(["sources"]) == 0
    listed = capsys.readouterr().out
    assert all(f"cauldron_{name}" in listed for name in SUBSETS) and len(SUBSETS) == 10
