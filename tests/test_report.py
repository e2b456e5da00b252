"""report.py: the paper's numbers are all there and exact, our runs land in the right cells beside them (the
average over the paper's columns only), missing or broken runs are marked instead of crashing, and the
Fig.-4-style curves come out as PNGs of a fixed size."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mixed_r1.report import write_report
from mixed_r1.report.paper import AVG, PaperNumbers, load_paper, printed_average_mismatches
from mixed_r1.report.plots import DPI, FIGSIZE, moving_average, plot_training_curves, read_curves
from mixed_r1.report.tables import format_cell, render_table
from report import main as report_main

PNG_SIZE = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
T1 = ("mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d")


@pytest.fixture(scope="module")
def paper() -> PaperNumbers:
    return load_paper()


def write_results(runs: Path, table: str, point: str, mode: str, scores: dict[str, float], thinking: bool | None = None) -> None:
    folder = runs / table / point / "eval" / mode
    folder.mkdir(parents=True)
    summary = {"method": point, "thinking": mode == "thinking" if thinking is None else thinking, "backend": "native",
               "average": sum(scores.values()) / len(scores),
               "benchmarks": {n: {"score": s, "items": 10, "unparseable": 0, "split": "test", "extractor": "rules"}
                              for n, s in scores.items()}}
    (folder / "results.json").write_text(json.dumps(summary), encoding="utf-8")


def write_metrics(runs: Path, table: str, point: str, steps: int, torn: bool = False) -> None:
    folder = runs / table / point
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"phase": "sft", "step": 1, "loss": 2.0}]  # a warm-up line: not a GRPO step, not drawn
    lines += [{"phase": "grpo", "step": s, "reward/mean": 0.2 + s / 100, "completion_length": 100.0 + s,
               "reward/open_ended": 0.5} for s in range(1, steps + 1)]
    text = "".join(json.dumps(line) + "\n" for line in lines) + ('{"phase": "grpo", "st' if torn else "")
    (folder / "metrics.jsonl").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A sweep in progress: some points finished, table2/data=yorn not run, one results.json broken."""
    root = tmp_path_factory.mktemp("sweep") / "runs"
    # six scores averaging 57.1667 (the paper: 57.0)
    write_results(root, "table1_qwen3b", "base", "direct", dict(zip(T1, [62.0, 21.0, 78.0, 47.0, 56.0, 79.0])))
    # exactly the paper's row
    write_results(root, "table1_qwen7b", "algo=grpo", "thinking", dict(zip(T1, [70.6, 30.3, 84.5, 55.7, 64.6, 83.2])))
    # MMBench and AI2D were evaluated too, but Table 2 averages its four columns only
    write_results(root, "table2", "base", "direct", {"mathvista": 62.0, "mathvision": 20.0, "mmmu": 47.0, "mmstar": 57.0,
                                                     "mmbench": 10.0, "ai2d": 10.0})
    write_results(root, "table2", "data=yorn_mcq", "thinking", {"mathvista": 60.0, "mathvision": 21.0, "mmmu": 50.0})
    write_results(root, "table4", "reward.open_ended=bmas", "thinking",
                  {"mathvista": 57.4, "mathvision": 20.1, "mmmu": 47.0, "mmstar": 54.3}, thinking=False)
    broken = root / "table3a" / "data=mixed20k" / "eval" / "thinking"
    broken.mkdir(parents=True)
    (broken / "results.json").write_text('{"benchmarks": {"mathvista": ', encoding="utf-8")  # killed mid-write
    write_metrics(root, "table4", "reward.open_ended=bmas", steps=30, torn=True)
    write_metrics(root, "table4", "reward.open_ended=sbert", steps=12)
    write_metrics(root, "table4", "reward.open_ended=modernbert", steps=0)  # only the warm-up line
    return root


def table_rows(markdown: str) -> dict[str, dict[str, str]]:
    """A rendered table as {its label cells joined by ' / ': {column: cell}}; the label columns are the left-aligned
    ones before the right-aligned numbers (the last left-aligned one is Run)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    aligns = [c.strip() for c in lines[1].strip("|").split("|")]
    n_labels = sum(1 for a in aligns if not a.endswith(":")) - 1  # minus the Run column
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[" / ".join(cells[:n_labels])] = dict(zip(header, cells))
    return rows


def test_paper_numbers_hold_every_cell_of_every_table(paper):
    expected = {"table1_qwen3b": (4, 7), "table1_qwen7b": (4, 7), "table2": (6, 5), "table3a": (3, 3), "table3b": (3, 3),
                "table4": (5, 5)}
    assert {k: (len(t.rows), len(t.cell_keys())) for k, t in paper.tables.items()} == expected
    cells = [(t, r, k) for t in paper.tables.values() for r in t.rows for k in t.cell_keys()]
    assert len(cells) == sum(rows * columns for rows, columns in expected.values()) == 129
    assert all(r.cells[k].source.startswith("Table ") for _, r, k in cells)
    assert paper.tables["table1_qwen3b"].average_over == T1  # Avg. over six
    four = ("mathvista", "mathvision", "mmmu", "mmstar")  # Tables 2 and 4: the four columns shown
    assert paper.tables["table2"].average_over == paper.tables["table4"].average_over == four
    assert not paper.tables["table3a"].average_over and not paper.tables["table3b"].average_over


def test_paper_numbers_exact_values(paper):
    def cell(table: str, label: str, key: str):
        row = next(r for r in paper.tables[table].rows if paper.tables[table].row_name(r) == label)
        return row.cells[key]

    yorn_mcq = cell("table2", "+YORN +MCQ", "mathvista")
    assert yorn_mcq.value == 61.3 and yorn_mcq.source == "Table 2, row '+YORN +MCQ', MathVista"
    assert cell("table1_qwen7b", "+Mixed-R1 (Ours) (thinking)", "mathvision").value == 30.3
    assert cell("table1_qwen3b", "Qwen2.5-VL-3B (thinking)", AVG).value == 53.2
    assert cell("table3a", "Mixed-R1 90K", "mmstar").value == 59.3
    assert cell("table3b", "+SFT", "mathvista").value == 51.7
    assert cell("table4", "Our BMAS", AVG).value == 44.7
    # the layout's runs: Table 1's thinking-inference row is the base model evaluated with the thinking prompt
    row = paper.tables["table1_qwen3b"].rows[1]
    assert (row.run.point, row.run.mode) == ("base", "thinking")


def test_the_papers_printed_averages_that_are_not_the_mean_of_their_columns_are_named(paper):
    found = printed_average_mismatches(paper)
    assert len(found) == 3, found
    assert any("'+YORN +MCQ +Chart'" in f and "48.40" in f for f in found)


def test_cells_show_ours_paper_and_difference(paper):
    cell = paper.tables["table2"].rows[0].cells["mathvision"]  # 20.7
    assert format_cell(20.0, cell) == "20.0 (20.7, -0.7)"
    assert format_cell(20.7, cell) == "20.7 (20.7, +0.0)"
    assert format_cell(20.74, cell) == "20.7 (20.7, +0.0)"  # Δ of the numbers shown
    assert format_cell(None, cell) == "– (20.7)"


def test_table2_average_over_its_four_columns_and_missing_runs_marked(runs, paper):
    rows = table_rows(render_table(runs, paper.tables["table2"], paper))
    base = rows["Qwen2.5-VL-3B (baseline)"]
    assert base["Avg."] == "46.5 (46.3, +0.2)"  # (62 + 20 + 47 + 57) / 4, not with MMBench/AI2D's 10s
    assert base["MathVista"] == "62.0 (61.8, +0.2)" and base["MathVision"] == "20.0 (20.7, -0.7)"
    assert base["Run"] == "`base` (direct)"
    assert rows["+YORN"]["Run"] == "missing: runs/table2/data=yorn/eval/thinking/results.json"
    assert rows["+YORN"]["MathVista"] == "– (57.2)" and rows["+YORN"]["Avg."] == "– (44.2)"
    partial = rows["+YORN +MCQ"]  # MMStar not evaluated: no average rather than one over three columns
    assert partial["MathVista"] == "60.0 (61.3, -1.3)" and partial["Avg."] == "– (47.2)" and partial["MMStar"] == "– (56.8)"
    assert "not evaluated: MMStar" in partial["Run"]
    assert rows["+YORN +MCQ +Chart"]["Avg."] == "– (48.0†)"  # the paper's own inconsistency, footnoted


def test_table1_average_over_six_columns(runs, paper):
    rows3 = table_rows(render_table(runs, paper.tables["table1_qwen3b"], paper))
    assert rows3["Qwen2.5-VL-3B / -"]["Avg."] == "57.2 (57.0†, +0.2)"
    assert rows3["Qwen2.5-VL-3B / -"]["MMBench"] == "78.0 (78.3, -0.3)"
    assert rows3["Qwen2.5-VL-3B / ✓"]["Run"] == "missing: runs/table1_qwen3b/base/eval/thinking/results.json"
    rows7 = table_rows(render_table(runs, paper.tables["table1_qwen7b"], paper))
    ours = rows7["+Mixed-R1 (Ours) / ✓"]
    assert ours["MathVision"] == "30.3 (30.3, +0.0)" and ours["Avg."] == "64.8 (64.8, +0.0)"


def test_broken_results_and_wrong_prompt_are_marked_not_fatal(runs, paper):
    rows3a = table_rows(render_table(runs, paper.tables["table3a"], paper))
    assert "Avg." not in rows3a["Mixed-R1 / 20K"]  # Table 3 has no average
    assert rows3a["Mixed-R1 / 20K"]["Run"].startswith("unreadable: runs/table3a/data=mixed20k/eval/thinking/results.json")
    assert rows3a["Mixed-R1 / 20K"]["MathVista"] == "– (62.8)"
    rows4 = table_rows(render_table(runs, paper.tables["table4"], paper))
    assert rows4["Our BMAS"]["MathVista"] == "57.4 (57.4, +0.0)"
    assert "results.json says thinking=false" in rows4["Our BMAS"]["Run"]


def test_moving_average_keeps_every_step():
    assert moving_average([1.0, 2.0, 3.0, 4.0, 5.0], window=2) == [1.0, 1.5, 2.5, 3.5, 4.5]
    assert moving_average([4.0, 2.0], window=10) == [4.0, 3.0]


def test_curves_read_grpo_steps_only(runs):
    curves = read_curves(runs / "table4" / "reward.open_ended=bmas" / "metrics.jsonl", "bmas")
    steps, values = curves.series["completion_length"]
    assert steps == list(range(1, 31)) and values[0] == 101.0  # the SFT line and the torn last line are left out


def test_curves_png_size_and_missing_points(runs, tmp_path):
    labels = {"reward.open_ended=modernbert": "ModernBert", "reward.open_ended=bmas": "Our BMAS"}
    result = plot_training_curves(runs, tmp_path / "fig4.png", labels=labels,
                                  expected=[*labels, "reward.open_ended=llm_judge"])
    assert result.path == tmp_path / "fig4.png"
    assert result.plotted == ["reward.open_ended=bmas", "reward.open_ended=sbert"]  # labelled first, then the rest
    assert result.missing == {"reward.open_ended=llm_judge": "no metrics.jsonl",
                              "reward.open_ended=modernbert": "no GRPO steps in metrics.jsonl"}
    with Image.open(result.path) as image:
        assert image.format == "PNG" and image.size == PNG_SIZE
    assert plot_training_curves(runs, tmp_path / "none.png", table="table3b").path is None  # nothing to draw
    assert not (tmp_path / "none.png").exists()


def test_report_script_writes_every_table_and_links_its_pngs(runs, tmp_path):
    path = report_main(["--runs", str(runs), "--out", str(tmp_path / "report"), "--window", "5"])
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "report" / "report.md"
    for title in ("Table 1 (Qwen2.5-VL-3B)", "Table 1 (Qwen2.5-VL-7B)", "## Table 2", "## Table 3 (a)", "## Table 3 (b)",
                  "## Table 4", "### Fig. 4"):
        assert title in text
    assert "46.5 (46.3, +0.2)" in text and "missing: runs/table2/data=yorn/eval/thinking/results.json" in text
    assert "moving average over 5 steps" in text
    assert "- missing: `runs/table4/reward.open_ended=llm_judge` (no metrics.jsonl)" in text
    links = [line[line.index("(") + 1:-1] for line in text.splitlines() if line.startswith("![")]
    assert links == ["table4_curves.png"]  # only table4 has GRPO metrics here
    with Image.open(path.parent / links[0]) as image:
        assert image.size == PNG_SIZE


def test_report_of_an_empty_runs_root_marks_everything_missing(tmp_path):
    (tmp_path / "runs").mkdir()
    path = write_report(tmp_path / "runs", tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert text.count("missing: runs/") == 4 + 4 + 6 + 3 + 3 + 5 + 4  # every row of every table, variants too
    assert text.count("missing: `runs/table4/") == 5  # and each of Fig. 4's curves
    assert "nothing drawn" in text and not list((tmp_path / "out").glob("*.png"))


def test_paper_numbers_cite_the_paper_by_title_and_arxiv_id():
    from mixed_r1.report import paper as paper_module

    source = (Path(paper_module.__file__).parent / "paper_numbers.yaml").read_text()
    head = source[:source.index("\npaper:")]
    assert "arXiv:2505.24164" in head and "Mixed-R1: Unified Reward Perspective" in head
    assert "/work/" not in source and ".txt" not in head  # no local file stands in for the paper


def test_each_trained_row_shows_the_budget_its_run_had(tmp_path, paper):
    from mixed_r1.report.tables import render_table

    runs = tmp_path / "runs"
    scores = {"mathvista": 60.0, "mathvision": 21.0, "mmmu": 50.0, "mmstar": 55.0}
    write_results(runs, "table2", "base", "direct", scores)
    write_results(runs, "table2", "data=yorn", "thinking", scores)
    budget = {"asked": {"epochs": 1.0}, "steps": 140, "samples": 9000, "prompts_per_step": 64, "epochs": 1.0}
    (runs / "table2" / "data=yorn" / "trained.json").write_text(json.dumps({"budget": budget, "summary": {}}))
    write_results(runs, "table2", "data=yorn_mcq", "thinking", scores)
    steps = {"asked": {"max_steps": 1000}, "steps": 1000, "samples": 29000, "prompts_per_step": 64, "epochs": 1000 / 453}
    (runs / "table2" / "data=yorn_mcq" / "trained.json").write_text(json.dumps({"budget": steps, "summary": {}}))
    rows = table_rows(render_table(runs, paper.tables["table2"], paper))
    by_run = {row["Run"].split("`")[1]: row["Run"] for row in rows.values() if "`" in row["Run"]}
    assert by_run["data=yorn"].endswith("140 steps = 1.00 epochs of 9,000 samples (trainer.epochs)")
    assert by_run["data=yorn_mcq"].endswith("1000 steps = 2.21 epochs of 29,000 samples (trainer.max_steps)")
    assert by_run["base"] == "`base` (direct)"  # the base model trained nothing


def test_the_variants_table_sets_each_variant_beside_our_grpo_row(tmp_path):
    """experiment=variants' sweep (runs/variants/variant=<name>): each row's scores with Δ against our GRPO row,
    the six-benchmark average only where all six ran, a missing run marked."""
    from mixed_r1.report.variants import render_variants

    runs = tmp_path / "runs"
    six = ("mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d")
    write_results(runs, "variants", "variant=grpo", "thinking", dict(zip(six, (60.0, 20.0, 80.0, 50.0, 55.0, 80.0))))
    write_results(runs, "variants", "variant=dapo", "thinking", dict(zip(six, (61.0, 19.5, 80.0, 50.0, 56.0, 81.0))))
    write_results(runs, "variants", "variant=gspo", "thinking", {"mathvista": 58.0})
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in render_variants(runs).splitlines() if line.startswith("| ") and "Variant" not in line}
    assert rows["grpo"][:3] == ["57.5", "60.0", "20.0"]
    assert rows["dapo"][:3] == ["57.9 (+0.4)", "61.0 (+1.0)", "19.5 (-0.5)"]
    assert rows["gspo"][:2] == ["–", "58.0 (-2.0)"]  # one benchmark: no average
    assert rows["dr_grpo"][-1] == "missing: runs/variants/variant=dr_grpo/eval/thinking/results.json"
