"""A paper table end to end at tiny size: the experiment's sweep (two of its points), each run trained and
evaluated on tiny benchmark sets in the real layouts, a re-run that skips finished runs, and the report with
Fig. 4's curves."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from mixed_r1.data.demo import PAPER_SOURCES, write_paper_sources
from mixed_r1.eval.synthetic import write_benchmarks
from mixed_r1.report import write_report
from tests.conftest import ENV, ROOT, compose_train, launches_processes


def test_the_tiny_sources_are_every_file_the_paper_mixes_draw_from():
    cfg = compose_train(["data=mixed45k", "data.mix.root=/x"])
    drawn = {name: t for t, files in cfg.data.mix.parts.items() for name in files}
    assert drawn == PAPER_SOURCES


def table4(runs: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "train.py"), "experiment=table4", "preset=tiny", "model=tiny_qwen", "num_threads=1",
           "reward.open_ended=bipartite,bmas", "trainer.max_steps=2", *extra]  # two of the sweep's five points
    return subprocess.run(cmd, cwd=ROOT, env={**ENV, "MIXED_R1_RUNS": str(runs), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=900)


@launches_processes
def test_a_tiny_table4_sweep_trains_evaluates_skips_when_done_and_reports(tmp_path):
    runs = tmp_path / "runs"
    write_paper_sources(runs / "tiny" / "sources", per_file=24)
    write_benchmarks(runs / "tiny" / "bench", num_items=4)
    first = table4(runs)
    assert first.returncode == 0, first.stderr[-3000:]
    points = sorted(p.name for p in (runs / "table4").iterdir() if p.is_dir())
    assert points == ["reward.open_ended=bipartite", "reward.open_ended=bmas"]
    for point in points:
        run = runs / "table4" / point
        assert (run / "metrics.jsonl").is_file() and (run / "checkpoint" / "config.json").is_file()
        assert (run / "eval" / "thinking" / "results.json").is_file() and (run / ".hydra" / "config.yaml").is_file()
    again = table4(runs)
    log = again.stdout + again.stderr
    assert again.returncode == 0 and log.count("is finished (its evaluation exists): nothing to do") == 2

    report = write_report(runs, runs / "report")
    text = report.read_text()
    table = text[text.index("## Table 4"):]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ") and "---" not in line}
    assert "missing: runs/table4/reward.open_ended=sbert" in rows["Sentence-Bert"]
    assert "(57.4, " in rows["Our BMAS"] and "missing" not in rows["Our BMAS"]  # ours beside the paper's 57.4
    assert "missing" not in rows["Tokenizer bipartite matching"]
    with Image.open(runs / "report" / "table4_curves.png") as png:
        assert png.size == (1200, 500)


def test_a_run_trained_but_not_evaluated_goes_straight_to_its_evaluation(tmp_path, run_training, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="mixed_r1")
    bench = tmp_path / "bench"
    write_benchmarks(bench, names=("ai2d",), num_items=2)
    run_dir = tmp_path / "run"
    args = ("eval.after_training=[direct]", f"eval.data_root={bench}", "eval.benchmarks=[ai2d]", "eval.max_new_tokens=4",
            "trainer.max_steps=1", "warmup.steps=0", "trainer.prompts_per_step=2", "algo.group_size=2",
            "algo.max_new_tokens=4", "data.synthetic.num_samples=20")
    run_training(run_dir, *args)
    results = run_dir / "eval" / "direct" / "results.json"
    metrics = (run_dir / "metrics.jsonl").read_text()
    assert results.is_file() and (run_dir / "trained.json").is_file()
    results.unlink()  # as if killed during the evaluation
    run_training(run_dir, *args)
    assert "was trained earlier" in caplog.text and results.is_file()
    assert (run_dir / "metrics.jsonl").read_text() == metrics  # no step trained again


def test_bad_evaluation_settings_stop_a_run_before_training(tmp_path, run_training):
    import pytest

    from mixed_r1.errors import ConfigError

    with pytest.raises(ConfigError, match="needs eval.data_root"):
        run_training(tmp_path / "a", "eval.after_training=[thinking]")
    with pytest.raises(ConfigError, match=r"\['sideways'\] not among thinking, direct"):
        run_training(tmp_path / "b", "eval.after_training=[sideways]", "eval.data_root=/x")
    assert not (tmp_path / "a" / "metrics.jsonl").exists()
    # a mistyped benchmark folder is found before training, not after it (issue 23)
    with pytest.raises(ConfigError, match=r"/no/such/bench"):
        run_training(tmp_path / "c", "eval.after_training=[thinking]", "eval.data_root=/no/such/bench")
    assert not (tmp_path / "c" / "metrics.jsonl").exists()
