"""Validation during training (issue 25): the held-out split (pure, deterministic, stratified, disjoint from
training), its config refused with the key named before any model loads, and whole tiny runs — validation lines at
the set interval with the same keys each time, the same steps and held-out completions after a kill and resume,
benchmark subsets scored with eval's settings, and a benchmark-only validation that leaves training untouched."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mixed_r1.errors import ConfigError
from mixed_r1.metrics import read_metrics
from mixed_r1.validation import holdout_split
from tests.conftest import SHORT, compose_train, graded_by_length, launches_processes, settings_of, torchrun, without_timings

# conftest's short GRPO run without its warm-up (GRPO step k is step k)
TINY = ["seed=3", *(o for o in SHORT if not o.startswith("warmup.")), "warmup.steps=0"]
# with its 2 warm-up steps (GRPO step k is step k + 2: the interval counts GRPO steps), validated every 2 GRPO steps
COMMON = ["seed=3", *SHORT, "trainer.save_every=2", "trainer.keep_last=1", "eval.every_steps=2",
          "eval.validation.holdout=6", "eval.validation.log_completions=2"]


def _types(samples) -> Counter:
    return Counter(s.type for s in samples)


def _mix(samples, sizes: dict[str, int]) -> list:
    """The first ``sizes[type]`` samples of each type, in file order."""
    seen: Counter = Counter()
    out = []
    for sample in samples:
        if seen[sample.type] < sizes.get(sample.type, 0):
            seen[sample.type] += 1
            out.append(sample)
    return out


# ----------------------------------------------------------------------------- the split
def test_the_split_is_deterministic_stratified_and_disjoint_from_training(samples):
    mix = _mix(samples, {"yes_no": 12, "multiple_choice": 12, "chart": 6, "grounding": 3, "open_ended": 3})
    assert len(mix) == 36
    training, held = holdout_split(mix, 9, seed=0)
    assert (training, held) == holdout_split(list(mix), 9, seed=0)  # a pure function of samples, count, seed
    assert {s.id for s in training}.isdisjoint({s.id for s in held}) and len(training) + len(held) == len(mix)
    assert [s.id for s in training] == [s.id for s in mix if s not in held]  # both in file order
    assert [s.id for s in held] == [s.id for s in mix if s in held]
    # every type held out once, the rest by share: 9 of 36 is a quarter, 3 + 3 + 1.5 + 0.75 + 0.75
    assert _types(held) == {"yes_no": 3, "multiple_choice": 3, "chart": 1, "grounding": 1, "open_ended": 1}
    assert _types(training) == {"yes_no": 9, "multiple_choice": 9, "chart": 5, "grounding": 2, "open_ended": 2}
    assert holdout_split(mix, 9, seed=1)[1] != held  # the seed picks which ones
    more = holdout_split(mix, 15, seed=0)[1]  # a larger split takes a superset: same stream per type
    assert {s.id for s in held} < {s.id for s in more}
    assert holdout_split(mix, 0, seed=0) == (mix, [])


@pytest.mark.parametrize("count, message", [
    (4, r"eval.validation.holdout=4 cannot represent each of the 5 sample types"),
    (32, r"eval.validation.holdout=32 is more than the 31 samples that can be held out of 36"),
])
def test_a_split_that_cannot_be_stratified_is_refused_naming_the_key(samples, count, message):
    mix = _mix(samples, {"yes_no": 12, "multiple_choice": 12, "chart": 6, "grounding": 3, "open_ended": 3})
    with pytest.raises(ConfigError, match=message):
        holdout_split(mix, count, seed=0)
    with pytest.raises(ConfigError, match=r"holdout=3: type chart has a single sample, which cannot be both trained on"):
        holdout_split(_mix(samples, {"yes_no": 5, "chart": 1}), 3, seed=0)


# ----------------------------------------------------------------------------- the config
@pytest.mark.parametrize("overrides, message", [
    (["eval.every_steps=-1"], r"eval.every_steps=-1 must be >= 0"),
    (["eval.every_steps=two"], r"eval.every_steps='two' must be"),
    (["eval.every_steps=5"], r"eval.every_steps=5 validates nothing: set eval.validation.holdout"),
    (["eval.validation.holdout=-2"], r"eval.validation.holdout=-2 must be >= 0"),
    (["eval.validation.max_new_tokens=0"], r"eval.validation.max_new_tokens=0 must be > 0"),
    (["eval.validation.limit=0"], r"eval.validation.limit=0 must be >= 1"),
    (["eval.validation.log_completions=-1"], r"eval.validation.log_completions=-1 must be >= 0"),
    (["eval.validation.benchmarks=[mmstar,nope]"], r"eval.validation.benchmarks=\('mmstar', 'nope'\) names \['nope'\]"),
    (["eval.every_steps=5", "eval.validation.benchmarks=[mmstar]"],
     r"eval.validation.benchmarks=\['mmstar'\] needs eval.data_root"),
    (["+eval.validation.typo=1"], r"eval.validation: no setting named typo"),
    (["algo=sft", "eval.every_steps=5", "eval.validation.holdout=5"],
     r"eval.validation.max_new_tokens=null takes algo.max_new_tokens, which algo=sft does not have"),
])
def test_a_bad_validation_value_is_refused_naming_its_key(overrides, message, tmp_path):
    """Refused while the config is read (``train_settings``): before any data or model loads."""
    with pytest.raises(ConfigError, match=message):
        settings_of(compose_train(overrides, run_dir=tmp_path))


def test_validation_settings_are_read_and_eval_py_accepts_the_keys(tmp_path):
    from mixed_r1.eval.runner import eval_settings

    on = ["eval.every_steps=3", "eval.validation.holdout=5", "eval.validation.benchmarks=[mmstar]",
          "eval.data_root=/data/bench", "eval.temperature=0.5", "eval.validation.limit=2"]
    validation = settings_of(compose_train([*on, "algo=sft", "eval.validation.max_new_tokens=7"],
                                           run_dir=tmp_path)).validation
    assert (validation.every_steps, validation.holdout) == (3, 5)
    assert [validation.due(k, 7) for k in range(1, 8)] == [False, False, True, False, False, True, True]
    assert validation.evaluation is not None  # eval's own generation settings, on validation's subset
    assert (validation.evaluation.benchmarks, validation.evaluation.limit, validation.evaluation.temperature) == \
        (("mmstar",), 2, 0.5)
    off = settings_of(compose_train(["eval.validation.holdout=5"], run_dir=tmp_path)).validation
    assert off.holdout == 0 and not off.due(5, 5)  # every_steps=0: nothing held out, never validated
    _, evaluation = eval_settings(compose_train(on, run_dir=tmp_path, config_name="eval"))
    assert evaluation.benchmarks == ("mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d")


# ----------------------------------------------------------------------------- whole runs
def _run(run_dir: Path, tiny_checkpoints: dict[str, Path], *overrides: str) -> None:
    """``recipe.run`` in this process, its reward graded by completion length (conftest's ``graded_by_length``: a
    random model scores 0 everywhere, so without it no update would move the weights, and validations of a straight
    and a resumed run would agree whatever they validated). Validation builds its reward the same way."""
    from mixed_r1 import recipe

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipe, "build_reward", graded_by_length(recipe.build_reward))
        recipe.run(compose_train([f"model.path={tiny_checkpoints['tiny_qwen']}", "num_threads=0", *overrides],
                                 run_dir=run_dir), run_dir)


def _lines(run_dir: Path, phase: str | None = None) -> list[dict[str, Any]]:
    return [{k: v for k, v in without_timings(r).items() if k != "validation_seconds"}
            for r in read_metrics(run_dir / "metrics.jsonl") if phase is None or r["phase"] == phase]


def _holdout(run_dir: Path, step: int) -> list[dict[str, Any]]:
    """Every held-out completion of a validation (no image path: the run folders differ)."""
    path = run_dir / "validation" / f"step_{step:08d}" / "holdout.jsonl"
    return [{k: v for k, v in json.loads(line).items() if k != "image"} for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_checkpoints) -> Path:
    """An uninterrupted run: 5 GRPO steps validated every 2 (and after the last)."""
    run_dir = tmp_path_factory.mktemp("straight")
    _run(run_dir, tiny_checkpoints, "trainer.max_steps=5", "logger=wandb", "logger.mode=disabled", *COMMON)
    return run_dir


def test_validation_lines_appear_at_the_interval_and_the_last_step_with_the_same_keys(straight):
    records = read_metrics(straight / "metrics.jsonl")
    validation = [r for r in records if r["phase"] == "validation"]
    assert [r["step"] for r in validation] == [4, 6, 7]  # after GRPO steps 2, 4 and the last, 5
    assert [r["phase"] for r in records] == ["sft"] * 2 + ["grpo"] * 2 + ["validation"] + ["grpo"] * 2 + \
        ["validation"] + ["grpo", "validation"]
    assert len({frozenset(r) for r in validation}) == 1
    expected = {"val/accuracy/yes_no", "val/accuracy/multiple_choice", "val/accuracy/chart", "val/accuracy/grounding",
                "val/accuracy/open_ended", "val/accuracy/mean", "val/format", "val/reward/mean",
                "val/completion_length", "validation_seconds", "step", "phase"}
    assert set(validation[0]) == expected
    assert all(isinstance(r["val/accuracy/mean"], float) and r["validation_seconds"] > 0 for r in validation)
    assert not any(k.startswith("val/") for r in records if r["phase"] != "validation" for k in r)
    # the held-out samples: 6, every type, never in a training batch's data count
    held = _holdout(straight, 4)
    assert len(held) == 6 and {r["type"] for r in held} == {"yes_no", "multiple_choice", "chart", "grounding",
                                                           "open_ended"}
    assert sum(json.loads((straight / "data_counts.json").read_text())["type"].values()) == 20 - 6
    # a few of them with images in completions.jsonl (and a wandb table), beside no training rows at other steps
    rows = [json.loads(line) for line in (straight / "completions.jsonl").read_text().splitlines()]
    mine = [r for r in rows if r.get("phase") == "validation"]
    assert [r["step"] for r in mine] == [4, 4, 6, 6, 7, 7] and all(Path(r["image"]).is_file() for r in mine)
    assert [r["id"] for r in mine[:2]] == [r["id"] for r in held[:2]]
    assert {"id", "type", "problem", "answer", "completion", "reward"} <= set(mine[0])


def test_a_killed_and_resumed_run_validates_at_the_same_steps_on_the_same_samples(straight, tmp_path,
                                                                                  tiny_checkpoints):
    resumed = tmp_path / "resumed"
    # killed after GRPO step 3 (validated as its last step), with a checkpoint after GRPO step 2 (step 4)
    _run(resumed, tiny_checkpoints, "trainer.max_steps=3", *COMMON)
    assert [r["step"] for r in read_metrics(resumed / "metrics.jsonl") if r["phase"] == "validation"] == [4, 5]
    _run(resumed, tiny_checkpoints, "trainer.max_steps=5", "resume=auto", *COMMON)
    # the line of step 5 (after the checkpoint) is dropped and not redone: the interval goes on from GRPO step 2
    assert [r["step"] for r in _lines(resumed, "validation")] == [4, 6, 7]
    assert _lines(resumed) == _lines(straight)  # every training and validation value, in the same order
    for step in (4, 6, 7):  # the same held-out samples, with the same greedy completions
        assert _holdout(resumed, step) == _holdout(straight, step)
    assert not (resumed / "validation" / "step_00000005").exists()  # the killed run's, after its checkpoint: gone
    # another held-out split would train on other samples: refused, both values named
    with pytest.raises(ConfigError, match=r"eval.validation.holdout: checkpoint '6 samples \(ids [0-9a-f]+\)', "
                                          r"this run '7 samples"):
        _run(resumed, tiny_checkpoints, "trainer.max_steps=6", "resume=auto", *COMMON, "eval.validation.holdout=7")


def test_benchmark_subsets_are_validated_and_training_is_left_untouched(tmp_path, tiny_checkpoints):
    """Benchmarks only (nothing held out): the first ``limit`` items of each, generated with eval's settings and
    scored by its rules; the training lines equal a run without validation (validation restores the RNG)."""
    from mixed_r1.eval.synthetic import write_benchmark

    bench = tmp_path / "bench"
    write_benchmark("mmstar", bench, num_items=4)
    write_benchmark("ai2d", bench, num_items=4)
    short = [*TINY, "trainer.max_steps=3"]
    _run(tmp_path / "plain", tiny_checkpoints, *short)
    _run(tmp_path / "bench_run", tiny_checkpoints, *short, "eval.every_steps=2", f"eval.data_root={bench}",
         "eval.validation.benchmarks=[mmstar,ai2d]", "eval.validation.limit=3", "eval.max_new_tokens=6",
         "eval.batch_size=2")
    validation = _lines(tmp_path / "bench_run", "validation")
    assert [r["step"] for r in validation] == [2, 3]
    assert set(validation[0]) == {"step", "phase", "val/mmstar/accuracy", "val/ai2d/accuracy"}
    assert all(0.0 <= r[f"val/{name}/accuracy"] <= 1.0 for r in validation for name in ("mmstar", "ai2d"))
    predictions = tmp_path / "bench_run" / "validation" / "step_00000003" / "predictions" / "ai2d.jsonl"
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(lines) == 3 and all(line["completion_tokens"] <= 6 for line in lines)  # limit, eval.max_new_tokens
    assert _lines(tmp_path / "bench_run", "grpo") == _lines(tmp_path / "plain", "grpo")


@launches_processes
def test_two_zero3_processes_with_uneven_shares_validate_without_waiting_on_each_other(tmp_path):
    """ZeRO-3 in two processes with uneven work: 5 held-out samples (shares of 3 and 2, and greedy completions of
    different lengths) and 3 benchmark chunks (2 and 1). Generation runs on the gathered module (no per-forward
    collective; a forward through the DeepSpeed engine would hang here), both validations finish, every held-out
    sample and benchmark item is logged."""
    from mixed_r1.eval.synthetic import write_benchmark

    bench = tmp_path / "bench"
    write_benchmark("mmstar", bench, num_items=3)
    run_dir = tmp_path / "run"
    proc = torchrun(2, 29730, f"hydra.run.dir={run_dir}", *TINY, "trainer.max_steps=2", "deepspeed=zero3",
                    "eval.every_steps=1", "eval.validation.holdout=5", f"eval.data_root={bench}",
                    "eval.validation.benchmarks=[mmstar]", "eval.validation.limit=3", "eval.batch_size=1",
                    "eval.max_new_tokens=6", timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    validation = _lines(run_dir, "validation")
    assert [r["step"] for r in validation] == [1, 2]
    assert all(r["val/mmstar/accuracy"] is not None and r["val/accuracy/mean"] is not None for r in validation)
    assert len(_holdout(run_dir, 2)) == 5
    predictions = run_dir / "validation" / "step_00000002" / "predictions" / "mmstar.jsonl"
    assert len(predictions.read_text().splitlines()) == 3


def test_the_steps_and_the_validation_share_one_mixed_reward(tmp_path, tiny_checkpoints):
    """The reward is built once per run and scores both the rollouts and the held-out samples: an open-ended scorer
    with a model of its own (sbert, modernbert, an LLM judge) is loaded once, not twice."""
    from mixed_r1 import recipe

    built = []

    def counted(run, adapter, policy):
        built.append(run)
        return graded_by_length(real)(run, adapter, policy)

    real = recipe.build_reward
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipe, "build_reward", counted)
        recipe.run(compose_train([f"model.path={tiny_checkpoints['tiny_qwen']}", "num_threads=0", *TINY,
                                  "trainer.max_steps=2", "eval.every_steps=1", "eval.validation.holdout=5"],
                                 run_dir=tmp_path), tmp_path)
    assert len(built) == 1
    assert [r["step"] for r in _lines(tmp_path, "validation")] == [1, 2]
