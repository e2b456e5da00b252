"""The difficulty filter (section 3.1) on the tiny model: a planted always-equal question is dropped and
nothing else; a killed run resumes to the same result without duplicates; 2 processes equal 1; an
earlier run's rewards are re-decided without a model."""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixed_r1.data.schema import Sample, load_samples, write_samples
from mixed_r1.data.synthetic import SyntheticSpec, generate
from mixed_r1.errors import ConfigError, DataError
from mixed_r1.filter import decide
from mixed_r1.shards import read_shard
from tests.conftest import ENV, ROOT, compose_train, launches_processes

QUESTIONS = 12  # + the planted one
PLANTED = "planted-unanswerable"
# the filter's settings in these tests: 8 samples at T = 1 (the paper's), short answers, small chunks,
# and the accuracy reward must vary (the tiny model's format still varies, which alone would keep a question)
FILTER = ["filter.max_new_tokens=40", "filter.questions_per_chunk=2", "filter.compare=accuracy"]


def filter_group(test):
    """The filter tests share one warmed-up model: under xdist they run in order on one worker."""
    return pytest.mark.xdist_group("filter")(test)


@pytest.fixture(scope="module")
def warmed_model(tmp_path_factory, tiny_checkpoints) -> Path:
    """The tiny model after the demo's supervised warm-up: it writes the answer format, so its rewards
    vary (a random model answers nothing and every question would be dropped as all-wrong)."""
    from mixed_r1.recipe import run

    run_dir = tmp_path_factory.mktemp("warmed")
    cfg = compose_train([f"model.path={tiny_checkpoints['tiny_qwen']}", "warmup.steps=120", "warmup.batch_size=16",
                         "trainer.max_steps=0", "data.synthetic.num_samples=200", "num_threads=0"], run_dir=run_dir)
    run(cfg, run_dir)
    return run_dir / "checkpoint"


@pytest.fixture(scope="module")
def planted_data(tmp_path_factory) -> Path:
    """Synthetic open-ended questions (a continuous reward: it varies whenever the answers differ) plus one
    chart question whose answer the model never writes: its N accuracy rewards are all 0."""
    folder = tmp_path_factory.mktemp("planted")
    generate(folder, SyntheticSpec(num_samples=QUESTIONS, image_size=56, seed=11,
                                   type_weights={"yes_no": 0, "multiple_choice": 0, "chart": 0, "grounding": 0,
                                                 "open_ended": 1}))
    samples = load_samples(folder / "train.jsonl")
    planted = Sample(id=PLANTED, image=samples[0].image, problem="What is the value of the red bar?",
                     answer="-987654.25", type="chart", source="planted", image_size=samples[0].image_size)
    samples.insert(5, planted)
    return write_samples(samples, folder / "with_planted.jsonl")


def filter_overrides(model: Path, data: Path, out: Path, *more: str) -> list[str]:
    return [f"model.path={model}", "data=jsonl", f"data.train_file={data}", f"filter.output_dir={out}", *FILTER, *more]


def run_filter_here(model: Path, data: Path, out: Path, *more: str):
    from mixed_r1.filter import run_filter

    return run_filter(compose_train(filter_overrides(model, data, out, "num_threads=0", *more), run_dir=out,
                                    config_name="filter"))


def filter_cli(model: Path, data: Path, out: Path, *more: str, nproc: int = 1, port: int = 29611) -> subprocess.Popen:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
                 str(port)] if nproc > 1 else [sys.executable])
    args = ["num_threads=1", f"hydra.run.dir={out}", *filter_overrides(model, data, out, *more)]
    return subprocess.Popen([*launcher, str(ROOT / "filter_data.py"), *args], cwd=ROOT,
                            env={**ENV, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def rewards_by_id(out: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in (out / "rewards.jsonl").read_text().splitlines()]
    assert len(records) == len({r["id"] for r in records}), "duplicate questions in rewards.jsonl"
    return {r["id"]: r for r in records}


def kept_ids(out: Path) -> list[str]:
    return [s.id for s in load_samples(out / "kept.jsonl", check_images=False)]


def test_decisions_name_why_a_question_is_dropped() -> None:
    assert decide([1, 2, 1], [0, 1, 0]) == "kept"
    assert decide([2.0] * 8, [1.0] * 8) == "all_correct"
    assert decide([1.0] * 8, [0.0] * 8) == "all_wrong"  # formatted but always wrong
    assert decide([0.4] * 8, [0.4] * 8) == "constant"  # a continuous reward that did not move
    assert decide([0.5, 0.6], [0.5, 0.6], min_std=0.1) == "low_std"
    assert decide([0.1] * 8, [0.1] * 8, min_std=0.0) == "constant"  # equal values, never a tiny float std


@filter_group
@pytest.mark.slow
def test_the_filter_drops_exactly_the_planted_question_and_reuses_its_rewards(warmed_model, planted_data, tmp_path):
    out = tmp_path / "run"
    report = run_filter_here(warmed_model, planted_data, out)
    records = rewards_by_id(out)
    assert len(records) == QUESTIONS + 1 and all(len(r["rewards"]) == 8 for r in records.values())  # N = 8
    assert records[PLANTED]["decision"] == "all_wrong" and set(records[PLANTED]["accuracy"]) == {0.0}
    assert [r["decision"] for i, r in records.items() if i != PLANTED] == ["kept"] * QUESTIONS
    assert PLANTED not in kept_ids(out) and len(kept_ids(out)) == QUESTIONS
    assert report is not None and report.by_source["planted"] == {"all_wrong": 1}
    assert report.by_type["open_ended"] == {"kept": QUESTIONS}
    saved = json.loads((out / "report.json").read_text())
    assert saved["by_type"]["chart"] == {"all_wrong": 1} and saved["kept_file"] == str(out / "kept.jsonl")

    # a stricter rule later, from the raw rewards: no model is loaded (its path does not even exist)
    again = tmp_path / "again"
    stds = sorted(statistics.pstdev(r["accuracy"]) for i, r in records.items() if i != PLANTED)
    strict = stds[len(stds) // 2]  # the median: about half of the kept questions fall below it
    report = run_filter_here(tmp_path / "no-model", planted_data, again, f"filter.reuse_rewards={out / 'rewards.jsonl'}",
                             f"filter.min_std={strict}", "model.build_dir=/nonexistent")
    expected_low = {i for i, r in records.items() if i != PLANTED and statistics.pstdev(r["accuracy"]) <= strict}
    assert expected_low, "pick a min_std that drops some questions"
    redone = rewards_by_id(again)
    assert {i for i, r in redone.items() if r["decision"] == "low_std"} == expected_low
    assert {r["id"]: r["rewards"] for r in redone.values()} == {r["id"]: r["rewards"] for r in records.values()}
    assert set(kept_ids(again)) == {i for i in records if i != PLANTED} - expected_low


@filter_group
@pytest.mark.slow
def test_a_killed_filter_resumes_to_the_same_kept_set_without_duplicates(warmed_model, planted_data, tmp_path):
    whole = tmp_path / "whole"
    full = filter_cli(warmed_model, planted_data, whole, "filter.questions_per_chunk=1")
    assert full.wait(timeout=600) == 0, full.stdout.read() if full.stdout else ""

    out = tmp_path / "killed"
    proc = filter_cli(warmed_model, planted_data, out, "filter.questions_per_chunk=1")
    shard = out / "shards" / "rank-00000.jsonl"
    deadline = time.monotonic() + 300
    while not (shard.is_file() and shard.read_text().count("\n") >= 3) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(read_shard(shard))
    assert 3 <= done_before < QUESTIONS + 1, "the run must be killed mid-way"
    with shard.open("a") as handle:  # and as if killed in the middle of a write
        handle.write('{"id": "syn-0000')

    resumed = filter_cli(warmed_model, planted_data, out, "filter.questions_per_chunk=1")
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log
    assert f"{done_before} finished earlier" in log
    assert kept_ids(out) == kept_ids(whole)
    assert rewards_by_id(out) == rewards_by_id(whole)  # the same draws: chunks are seeded by their index
    assert len(read_shard(shard)) == QUESTIONS + 1  # every question once; the torn line was cut


@filter_group
@launches_processes
def test_two_processes_filter_like_one(warmed_model, planted_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    single = filter_cli(warmed_model, planted_data, one)
    assert single.wait(timeout=600) == 0, single.stdout.read() if single.stdout else ""
    pair = filter_cli(warmed_model, planted_data, two, nproc=2, port=29613)
    log = pair.communicate(timeout=600)[0]
    assert pair.returncode == 0, log
    assert sorted(p.name for p in (two / "shards").iterdir()) == ["rank-00000.jsonl", "rank-00001.jsonl"]
    assert all(read_shard(p) for p in (two / "shards").iterdir())  # both ranks scored questions
    assert kept_ids(two) == kept_ids(one) and rewards_by_id(two) == rewards_by_id(one)


# ----------------------------------------------------------------------------- issue 23: what the filter refuses
def few_questions(folder: Path, count: int = 4) -> Path:
    generate(folder, SyntheticSpec(num_samples=count, image_size=56, seed=5))
    return folder / "train.jsonl"


def test_a_kept_file_on_the_filters_own_input_is_refused_and_the_source_kept(tmp_path):
    data = few_questions(tmp_path / "data")
    source = data.read_bytes()
    rewards = tmp_path / "earlier" / "rewards.jsonl"
    rewards.parent.mkdir()
    rewards.write_text("".join(json.dumps({"id": s.id, "type": s.type, "source": s.source, "chunk": 0,
                                           "rewards": [0.0, float(i % 2)], "accuracy": [0.0, float(i % 2)],
                                           "format": [1.0, 1.0]}) + "\n"
                               for i, s in enumerate(load_samples(data, check_images=False))))
    with pytest.raises(ConfigError, match=rf"filter.kept_file would write {data}, which is the filter's input"):
        run_filter_here(tmp_path / "no-model", data, tmp_path / "out", f"filter.reuse_rewards={rewards}",
                        f"filter.kept_file={data}", "model.build_dir=/nonexistent")
    assert data.read_bytes() == source


def test_the_filter_refuses_an_image_the_model_family_refuses_as_training_does(tmp_path):
    from PIL import Image

    data = few_questions(tmp_path / "data")
    samples = load_samples(data, check_images=False)
    thin = tmp_path / "data" / "thin.png"
    Image.new("RGB", (402, 2), "white").save(thin)  # an aspect ratio of 201: Qwen2.5-VL's processor refuses it
    samples[1] = Sample(id="thin", image=str(thin), problem=samples[1].problem, answer=samples[1].answer,
                        type=samples[1].type, source=samples[1].source, image_size=(402, 2), options=samples[1].options)
    data = write_samples(samples, tmp_path / "data" / "with_thin.jsonl")
    with pytest.raises(DataError, match=r"thin.*Qwen2.5-VL's processor rejects it"):
        run_filter_here(tmp_path / "no-model", data, tmp_path / "out", f"filter.reuse_rewards={tmp_path / 'r.jsonl'}",
                        "model.build_dir=/nonexistent")


@filter_group
def test_a_rerun_with_other_settings_is_refused_or_started_over(tiny_checkpoints, tmp_path):
    """Another filter.num_samples into the same folder never takes the first run's rewards as its own."""
    data = few_questions(tmp_path / "data", count=3)
    out = tmp_path / "run"
    model = tiny_checkpoints["tiny_qwen"]
    run_filter_here(model, data, out, "filter.num_samples=2", "filter.max_new_tokens=4")
    assert all(len(r["rewards"]) == 2 for r in rewards_by_id(out).values())
    with pytest.raises(ConfigError, match=r"holds outputs of another run.*num_samples: 2 there, 3 now.*"
                                          r"filter.overwrite=true"):
        run_filter_here(model, data, out, "filter.num_samples=3", "filter.max_new_tokens=4")
    run_filter_here(model, data, out, "filter.num_samples=3", "filter.max_new_tokens=4", "filter.overwrite=true")
    assert all(len(r["rewards"]) == 3 for r in rewards_by_id(out).values())
    assert json.loads((out / "produced_by.json").read_text())["num_samples"] == 3
