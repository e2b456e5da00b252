"""DeepSpeed ZeRO-2/3 on CPU (gloo): the generated config, 1 vs 2 processes, collectives, launchers."""
import json
import math
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ENV, ROOT, compose_train, launches_processes, settings_of, torchrun, train_cli

_train, _torchrun = train_cli, torchrun


def test_deepspeed_json_is_derived_from_the_config(tmp_path):
    from mixed_r1.engine.deepspeed_config import deepspeed_config, reference_config

    cfg = settings_of(compose_train(["model=qwen7b", "data=mixed45k", "data.train_file=x", "data.mix.root=/m"],
                                    run_dir=tmp_path))
    seqs = cfg.trainer.prompts_per_step * cfg.algo.group_size  # 512
    ds = deepspeed_config(cfg.deepspeed, cfg.trainer, seqs, cfg.trainer.prompts_per_step, cfg.run.model.dtype, world=8)
    assert ds["zero_optimization"]["stage"] == 3 and ds["bf16"]["enabled"] and not ds["fp16"]["enabled"]
    assert ds["train_micro_batch_size_per_gpu"] == cfg.trainer.micro_batch_size == 4
    assert ds["gradient_accumulation_steps"] == 64 // 4  # 64 sequences per rank in micro-batches of 4
    assert ds["train_batch_size"] == 512 and ds["gradient_clipping"] == cfg.trainer.grad_clip
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    ref = reference_config(ds)
    assert ref["zero_optimization"]["stage"] == 3 and "optimizer" not in ref

    tiny = settings_of(compose_train(["deepspeed=zero2", "trainer.micro_batch_size=5"], run_dir=tmp_path))
    ds2 = deepspeed_config(tiny.deepspeed, tiny.trainer, 64, 8, tiny.run.model.dtype, world=2)
    assert ds2["zero_optimization"]["stage"] == 2 and not ds2["bf16"]["enabled"]
    assert (ds2["train_micro_batch_size_per_gpu"], ds2["gradient_accumulation_steps"]) == (5, 7)  # 32 per rank
    assert reference_config(ds2) is None  # ZeRO-2 does not partition parameters: a plain replica


def test_a_batch_that_does_not_split_over_the_ranks_is_a_config_error(tmp_path):
    from mixed_r1.engine.deepspeed_config import deepspeed_config
    from mixed_r1.errors import ConfigError

    cfg = settings_of(compose_train(["deepspeed=zero3", "trainer.prompts_per_step=6"], run_dir=tmp_path))
    with pytest.raises(ConfigError, match="trainer.prompts_per_step=6"):
        deepspeed_config(cfg.deepspeed, cfg.trainer, 48, 6, cfg.run.model.dtype, world=4)


def test_deepspeed_launcher_local_rank_argument_is_taken_out_before_hydra(monkeypatch):
    from mixed_r1.engine.distributed import strip_local_rank

    monkeypatch.setenv("LOCAL_RANK", "")  # recorded, so the value strip_local_rank sets is removed after the test
    monkeypatch.delenv("LOCAL_RANK")  # (it leaked into later tests: accelerate then starts a process group)
    assert strip_local_rank(["train.py", "--local_rank=3", "model=qwen7b"]) == ["train.py", "model=qwen7b"]
    assert os.environ["LOCAL_RANK"] == "3"
    assert strip_local_rank(["train.py", "--local_rank", "1", "seed=2"]) == ["train.py", "seed=2"]


def test_cfg_job_of_the_paper_run_shows_the_paper_settings_and_zero3():
    proc = _train("model=qwen7b", "data=mixed45k", "--cfg", "job", timeout=120)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["trainer"]["prompts_per_step"] == 64 and cfg["algo"]["group_size"] == 8
    assert cfg["algo"]["temperature"] == 1.0 and cfg["algo"]["beta"] == 0.04 and cfg["trainer"]["lr"] == 3e-6
    assert cfg["deepspeed"]["stage"] == 3 and cfg["model"]["gradient_checkpointing"] is True
    # the command line still picks another engine
    proc = _train("model=qwen3b", "data=mixed45k", "deepspeed=zero2", "--cfg", "job", timeout=120)
    assert yaml.safe_load(proc.stdout)["deepspeed"]["stage"] == 2


def test_a_missing_required_value_is_named_before_anything_starts(tmp_path):
    proc = _train("model=internvl4b", "data=mixed45k", f"hydra.run.dir={tmp_path}", timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "missing required config value(s): data.mix.root" in proc.stderr  # the folder a mix draws from


def _harness(tmp_path, nproc: int, stages: str, port: int, model: str = "tiny_qwen") -> dict[str, list[dict]]:
    """tests/distributed/grpo_ranks.py in ``nproc`` processes, each of ``stages`` (comma-separated engines)
    in turn in one launch; returns each engine's results."""
    out = tmp_path / f"{model}_{nproc}"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           str(ROOT / "tests" / "distributed" / "grpo_ranks.py"), str(out), stages, model]
    env = {**ENV, "OMP_NUM_THREADS": "1"} if nproc > 1 else ENV  # ranks share the cores
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {stage: [json.loads(line) for line in (out / f"results_{stage}.jsonl").read_text().splitlines()]
            for stage in stages.split(",")}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=2e-5, abs_tol=1e-7)


def _assert_runs_agree(runs: dict[str, list[dict]]) -> None:
    base = runs["torch"]
    for name, run in runs.items():
        assert [r["scenario"] for r in run] == [r["scenario"] for r in base], name
        assert run[0]["shape"] == base[0]["shape"] and _close(run[0]["fingerprint"], base[0]["fingerprint"])
        for r, b in zip(run[1:], base[1:]):
            if r["scenario"] == "nan_reward":
                continue
            for key in ("loss", "grad_norm", "kl", "clip_fraction", "fingerprint"):
                assert _close(r[key], b[key]), (name, r["scenario"], key, r[key], b[key])
    for run in runs.values():
        by = {r["scenario"]: r for r in run}
        assert math.isnan(by["nan_reward"]["grad_norm"])  # skipped ...
        assert by["nan_reward"]["fingerprint"] == by["rank_without_rows"]["fingerprint"]  # ... weights untouched
        assert by["nan_reward"]["updates"] == by["rank_without_rows"]["updates"]
        assert by["after_nan"]["grad_norm"] > 0 and by["after_nan"]["updates"] == by["nan_reward"]["updates"] + 1
        assert by["mu2"]["clip_fraction"] > 0 and by["plain"]["clip_fraction"] == 0


@launches_processes
def test_two_processes_match_one_process_and_plain_torch(tmp_path):
    """The same global rollout: plain torch, ZeRO-3 in 1 and 2 processes and ZeRO-2 in 2 processes give
    the same loss, gradient norm and updated weights — with shared-prompt log-prob passes and without (ZeRO-3,
    2 processes), and with the optimizer offloaded to the CPU and chunked log-probs — through micro-batching
    (3 per micro-batch, so groups of 4 split), ranks
    with different image sizes, a rank left with no rows, a NaN reward on one rank (skipped
    everywhere) and mu=2."""
    one = _harness(tmp_path, 1, "none,zero3", 29620)
    two = _harness(tmp_path, 2, "zero3,zero2,zero3+unshared,zero3+offload+chunked", 29622)
    runs = {"torch": one["none"], "zero3x1": one["zero3"], "zero3x2": two["zero3"], "zero2x2": two["zero2"],
            "zero3x2_unshared": two["zero3+unshared"],  # shared-prompt passes (default) = one prompt per row
            "zero3x2_offload_chunked": two["zero3+offload+chunked"]}  # optimizer on the CPU, head in chunks
    _assert_runs_agree(runs)
    assert runs["zero3x2"][1]["rows_on_rank"] == runs["torch"][1]["rows_on_rank"] // 2


@launches_processes
def test_internvl_ranks_with_different_tile_counts_match_one_process(tmp_path):
    """InternVL: the wide image on rank 1 has more tiles than rank 0's; ZeRO-3 in 2 processes still
    joins every collective and matches plain torch, with shared-prompt passes and without."""
    two = _harness(tmp_path, 2, "zero3,zero3+unshared", 29625, "tiny_internvl")
    runs = {"torch": _harness(tmp_path, 1, "none", 29624, "tiny_internvl")["none"],
            "zero3x2": two["zero3"], "zero3x2_unshared": two["zero3+unshared"]}
    _assert_runs_agree(runs)


@pytest.mark.slow
def test_internvl_checkpoint_trains_under_zero3_when_its_text_model_is_first_imported_inside_zero_init(
        tmp_path, tiny_checkpoints):
    """A user's InternVL run: train.py loads a checkpoint from disk (nothing imported its Qwen2 text model
    before), policy and reference are built inside zero.Init one after the other, and the reference pass
    runs. With transformers >= 5.25 (``kernels``' decorated attention) this crashed at the first update with
    "'Qwen2Attention' object has no attribute '_kernel_funcs'" unless the classes are defined first
    (models.base.define_model_classes)."""
    proc = _train(f"hydra.run.dir={tmp_path}", "model=tiny_internvl", f"model.path={tiny_checkpoints['tiny_internvl']}",
                  "deepspeed=zero3", "warmup.steps=0", "trainer.max_steps=1", "trainer.prompts_per_step=2",
                  "algo.group_size=2", "algo.max_new_tokens=6", "data.synthetic.num_samples=8",
                  "trainer.save_every=0", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [record] = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert record["phase"] == "grpo" and math.isfinite(record["kl"])


def test_model_classes_of_every_sub_config_are_defined_before_loading():
    from transformers import InternVLConfig, Qwen2_5_VLConfig

    from mixed_r1.models.base import define_model_classes

    names = lambda config: sorted(cls.__name__ for cls in define_model_classes(config))
    assert names(InternVLConfig()) == ["InternVLModel", "InternVLVisionModel", "Qwen2Model"]
    assert names(Qwen2_5_VLConfig()) == ["Qwen2_5_VLModel", "Qwen2_5_VLTextModel",
                                         "Qwen2_5_VisionTransformerPretrainedModel"]


@launches_processes
def test_train_py_in_two_zero3_processes_matches_one_process(tmp_path):
    """torchrun train.py: one run folder, one metrics line per step, an HF export, and a supervised phase
    whose loss and gradient norm equal the one-process run's over the same global batches."""
    common = ["warmup.steps=3", "warmup.batch_size=8", "trainer.max_steps=2", "trainer.prompts_per_step=2",
              "algo.group_size=4", "algo.max_new_tokens=8", "data.synthetic.num_samples=20",
              "trainer.save_every=2", "deepspeed=zero3"]
    one, two = tmp_path / "one", tmp_path / "two"
    proc = _train(f"hydra.run.dir={one}", *common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _torchrun(2, 29630, f"hydra.run.dir={two}", *common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    read = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    a, b = read(one), read(two)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5] and [r["phase"] for r in b] == ["sft"] * 3 + ["grpo"] * 2
    for x, y in zip(a[:3], b[:3]):
        assert _close(x["loss"], y["loss"]) and _close(x["grad_norm"], y["grad_norm"]), (x, y)
    assert sorted(p.name for p in (two / "checkpoints" / "step_00000005").iterdir()) == [
        "engine", "policy", "reference", "rng_rank0.pt", "rng_rank1.pt", "state.pt"]
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(two / "checkpoint")
    assert model.config.model_type == "qwen2_5_vl"


@launches_processes
def test_two_processes_without_deepspeed_is_a_clear_error(tmp_path):
    proc = _torchrun(2, 29640, f"hydra.run.dir={tmp_path}", "trainer.max_steps=1", "warmup.steps=0", timeout=300)
    assert proc.returncode != 0
    assert "deepspeed=none trains in one process" in proc.stderr
    # each rank exits with the one-line message; the only trace is torchrun's own report of the exit
    assert "mixed_r1/" not in proc.stderr and 'train.py", line' not in proc.stderr


def test_slurm_tasks_get_torchrun_variables():
    from mixed_r1.engine.distributed import torch_env_from_slurm

    env = {"SLURM_PROCID": "9", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[3-4]",
           "SLURM_JOB_ID": "4242"}
    got = torch_env_from_slurm(env, first_host=lambda nodes: "gpu3" if nodes == "gpu[3-4]" else "?")
    assert got == {"RANK": "9", "WORLD_SIZE": "16", "LOCAL_RANK": "1", "MASTER_ADDR": "gpu3", "MASTER_PORT": "29742"}
    assert torch_env_from_slurm({**env, "RANK": "9"}, first_host=str) == {}  # torchrun inside SLURM wins
    assert torch_env_from_slurm({**env, "SLURM_NTASKS": "1"}, first_host=str) == {}  # a one-task job


@launches_processes
def test_deepspeed_launcher_runs_train_py_in_two_processes(tmp_path):
    """`deepspeed train.py ...` passes --local_rank=N, which train.py takes out before Hydra parses."""
    bin_dir = os.path.dirname(sys.executable)
    cmd = [os.path.join(bin_dir, "deepspeed"), "--num_gpus", "2", "--master_port", "29650", str(ROOT / "train.py"),
           "num_threads=1", "deepspeed=zero2", "algo=sft", "trainer.max_steps=2", "trainer.prompts_per_step=4",
           "data.synthetic.num_samples=16", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1",
                                              "PATH": bin_dir + os.pathsep + os.environ["PATH"]},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert "--local_rank=1" in proc.stdout + proc.stderr  # the launcher did pass it
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]  # rank 0 alone writes
    assert (tmp_path / "checkpoint" / "config.json").is_file()
