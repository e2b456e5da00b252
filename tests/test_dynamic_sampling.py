"""DAPO's dynamic sampling (issue 25): groups whose rewards are all equal are dropped and the step refilled with
new prompts from the data stream, identically in 1 and 2 processes (every rank ending with its share), capped in
rounds, logged, and resumed exactly."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zlib

import pytest
import torch

import mixed_r1.recipe as recipe
from mixed_r1.data.sampler import PromptSampler
from mixed_r1.errors import ConfigError
from mixed_r1.grpo.dynamic_sampling import informative_groups
from tests.conftest import ENV, ROOT, SHORT, compose_train, launches_processes, read_metrics, settings_of, without_timings
from tests.distributed import dynamic_sampling_ranks as harness


def test_the_sampler_hands_out_the_streams_next_prompts_across_an_epochs_end():
    sampler, twin = PromptSampler(10, 4, seed=1), PromptSampler(10, 4, seed=1)
    first = sampler.next_batch() + sampler.next_batch()  # 8 of 10: the epoch's tail is 2
    taken = sampler.take(5)  # the 2 left, then 3 of the next epoch's order
    twin.next_batch(), twin.next_batch()
    assert taken[:2] == twin._order[8:] and not set(taken[:2]) & set(first)
    assert taken[2:] == _epoch_order(1, 1)[:3]
    assert sampler.state_dict() == {"epoch": 1, "cursor": 3}
    resumed = PromptSampler(10, 4, seed=1)
    resumed.load_state_dict(sampler.state_dict())
    assert resumed.next_batch() == sampler.next_batch()  # a resume continues the same stream


def _epoch_order(seed: int, epoch: int) -> list[int]:
    sampler = PromptSampler(10, 4, seed=seed)
    sampler.epoch = epoch
    return sampler._permutation()


def test_a_group_is_informative_when_its_rewards_differ():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, float("nan"), 1.0, 1.0])
    # a NaN reward is kept, so the bad-step guard sees it (not dropped unseen)
    assert informative_groups(rewards, 3) == [False, True, False, True]


def _launch(tmp_path, nproc: int, stages: str, port: int) -> dict[str, dict]:
    out = tmp_path / f"ranks_{nproc}"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           str(ROOT / "tests" / "distributed" / "dynamic_sampling_ranks.py"), str(out), stages]
    proc = subprocess.run(cmd, cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {stage: json.loads((out / f"results_{stage}.jsonl").read_text()) for stage in stages.split(",")}


@launches_processes
def test_planted_flat_groups_are_refilled_with_the_same_new_prompts_in_one_and_two_processes(tmp_path):
    """The step's first prompt and the refill's first prompt have all-equal rewards (tests/distributed/
    dynamic_sampling_ranks.py): two rounds draw two prompts; the step trains on the batch's three other prompts and
    the second new one — the same four in 1 process and in 2 (plain torch and ZeRO-3, where rank 1 lacks nothing
    and pads its share), two on each rank, and the sampler ends at the same position."""
    one = _launch(tmp_path, 1, "none", 29720)["none"]
    two = _launch(tmp_path, 2, "none,zero3", 29721)
    first, refills = one["first"], one["refills"]
    expected = {*first[1:], refills[1]}
    assert set(one["trained"][0]) == expected and len(one["trained"][0]) == 4
    for run in two.values():
        assert (run["first"], run["refills"]) == (first, refills)
        assert [len(share) for share in run["trained"]] == [2, 2]  # every rank its share
        assert {p for share in run["trained"] for p in share} == expected
        for key in ("rounds", "resampled_groups", "unfilled_groups", "sampler", "zero_variance_fraction",
                    "reward/mean"):
            assert run[key] == one[key], key
    assert (one["rounds"], one["resampled_groups"], one["unfilled_groups"]) == (2, 2, 0)
    assert one["sampler"] == {"epoch": 0, "cursor": 6}  # 4 prompts of the batch + 2 drawn
    # sampled: 6 groups, the 2 flat ones count in the policy's figures (the trained batch alone has none)
    assert one["zero_variance_fraction"] == pytest.approx(2 / 6) and one["reward/mean"] == pytest.approx(1.0)
    assert all(run["grad_norm"] > 0 for run in (one, *two.values()))


def test_when_the_rounds_run_out_the_batch_is_topped_up_with_a_dropped_group(tmp_path, monkeypatch):
    """max_resample_rounds=1: the one new prompt is flat too, so the step trains on its three informative prompts
    and the first dropped one (advantage 0), logged as unfilled_groups=1; the batch keeps its size."""
    (run,) = harness.run_stage(tmp_path, "none", 1, lambda build: monkeypatch.setattr(recipe, "build_reward", build))
    assert (run["rounds"], run["resampled_groups"], run["unfilled_groups"]) == (1, 1, 1)
    assert run["trained"] == [[*run["first"][1:], run["first"][0]]]
    assert run["sampler"] == {"epoch": 0, "cursor": 5}


def _planted_by_id(build_reward):
    """``recipe.build_reward`` in its place: a third of the prompts (by id) always get reward 0 (flat groups), the
    others 0..G-1 by position in the group, so dynamic sampling has groups to drop in every run."""
    def build(run, adapter, policy):
        def score(samples, texts):
            flat = [zlib.crc32(s.id.encode()) % 3 == 0 for s in samples]
            values = torch.tensor([0.0 if f else float(i % 4) for i, f in enumerate(flat)])
            out = build_reward(run, adapter, policy)(samples, texts)
            return dataclasses.replace(out, total=values, accuracy=values)
        return score
    return build


def test_a_killed_and_resumed_run_with_dynamic_sampling_draws_the_same_prompts(tmp_path, run_training, monkeypatch):
    """The refills come from the sampler's stream, whose position every checkpoint keeps: a run stopped after step 3
    (checkpoint at 2) and resumed logs the same lines as the uninterrupted run, refill counts included."""
    monkeypatch.setattr(recipe, "build_reward", _planted_by_id(recipe.build_reward))
    common = ["seed=1", *SHORT, "algo.dynamic_sampling=true", "trainer.save_every=2", "trainer.keep_last=1"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_training(straight, "trainer.max_steps=4", *common)
    run_training(resumed, "trainer.max_steps=3", *common)
    run_training(resumed, "trainer.max_steps=4", "resume=auto", *common)
    lines = lambda d: [without_timings(r) for r in read_metrics(d) if r["phase"] == "grpo"]
    assert lines(straight) == lines(resumed) and len(lines(straight)) == 4
    assert sum(r["resampled_groups"] for r in lines(straight)) > 0  # refills happened
    assert all(r["rounds"] <= 3 and r["unfilled_groups"] == 0 for r in lines(straight))
    assert all(0 <= r["truncated_fraction"] <= 1 for r in lines(straight))


def test_dynamic_sampling_is_a_config_value_on_in_the_dapo_variant(tmp_path):
    algo = settings_of(compose_train(["variant=dapo"], run_dir=tmp_path)).algo
    assert algo.dynamic_sampling and algo.max_resample_rounds == 3
    assert not settings_of(compose_train([], run_dir=tmp_path)).algo.dynamic_sampling
    with pytest.raises(ConfigError, match="algo.max_resample_rounds=0"):
        settings_of(compose_train(["algo.max_resample_rounds=0"], run_dir=tmp_path))
