"""Run folders, preemption and full disks (issue 23): a folder is owned by one live run, default folders of one
second differ, a fresh run never touches an earlier run's checkpoints, a resume refuses another run's checkpoint,
a full disk during a save keeps the previous checkpoint, and SIGTERM stops after the step with a checkpoint."""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixed_r1.engine.distributed import run_stamp
from mixed_r1.errors import ConfigError, StorageError
from mixed_r1.metrics import read_metrics
from mixed_r1.run_folder import LOCK, owned
from tests.conftest import ENV, ROOT, SHORT, launches_processes

COMMON = ["seed=3", *SHORT, "trainer.keep_last=1"]


def _lock(folder: Path, pid: int, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK).write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid, "started": "earlier"}))


def test_a_folder_held_by_a_live_run_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, caplog):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(tmp_path / "live", sleeper.pid)
        with pytest.raises(ConfigError, match=rf"is in use by another run \(pid {sleeper.pid} on this host"), \
                owned(tmp_path / "live"):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    _lock(tmp_path / "stale", sleeper.pid)  # that process is gone now
    caplog.set_level(logging.WARNING, logger="mixed_r1")
    with owned(tmp_path / "stale"):
        assert json.loads((tmp_path / "stale" / LOCK).read_text())["pid"] == os.getpid()
    assert "taking over the run folder" in caplog.text and not (tmp_path / "stale" / LOCK).exists()
    _lock(tmp_path / "remote", 1, host="another-node")  # liveness cannot be told: refused, with the way out
    with pytest.raises(ConfigError, match=r"host another-node.*delete .*run.lock"), owned(tmp_path / "remote"):
        pass


def test_a_second_run_into_a_held_folder_writes_nothing(tmp_path, run_training):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(tmp_path, sleeper.pid)
        with pytest.raises(ConfigError, match="in use by another run"):
            run_training(tmp_path, "trainer.max_steps=1", *COMMON)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "checkpoints").exists()


def test_default_run_folders_of_one_second_differ():
    """Two jobs of a SLURM array (or two plain runs) started in the same second get different folders."""
    array = {"SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": "3", "SLURM_JOB_ID": "80"}
    assert run_stamp(array).endswith("-j77_3") and run_stamp({"SLURM_JOB_ID": "80"}).endswith("-j80")
    code = "from mixed_r1.engine.distributed import run_stamp; print(run_stamp({}))"
    stamps = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT,
                             check=True).stdout.strip() for _ in range(2)]
    assert stamps[0] != stamps[1] and all(s.split("-p")[-1].isdigit() for s in stamps)


def test_a_fresh_run_does_not_touch_an_earlier_runs_checkpoints(tmp_path, run_training):
    run_training(tmp_path, "trainer.max_steps=2", "trainer.save_every=2", *COMMON)
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    with pytest.raises(ConfigError, match=r"holds an earlier run's checkpoints \(newest step_00000004\).*resume=auto"):
        run_training(tmp_path, "trainer.max_steps=2", "trainer.save_every=2", *COMMON)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


def test_resume_refuses_another_runs_checkpoint_naming_both_values(tmp_path, run_training):
    run_training(tmp_path, "trainer.max_steps=2", "trainer.save_every=2", *COMMON)
    with pytest.raises(ConfigError, match=r"seed: checkpoint '3', this run '7'"):
        run_training(tmp_path, "trainer.max_steps=3", "trainer.save_every=2", "resume=auto", *SHORT, "seed=7")
    (tmp_path / "data" / "train.jsonl").write_text((tmp_path / "data" / "train.jsonl").read_text().replace("Is", "is"))
    with pytest.raises(ConfigError, match=r"data_sha256: checkpoint '[0-9a-f]+', this run '[0-9a-f]+'"):
        run_training(tmp_path, "trainer.max_steps=3", "trainer.save_every=2", "resume=auto", *COMMON)


def test_resume_with_other_trained_parts_is_refused_naming_both_values(tmp_path, run_training):
    """Freezing the vision tower (or LoRA, or another optimizer) changes which parameters have optimizer state:
    a resume with it changed is named, not a shape error inside the optimizer."""
    run_training(tmp_path, "trainer.max_steps=2", "trainer.save_every=2", *COMMON)
    with pytest.raises(ConfigError, match=r"model.freeze: checkpoint None, this run 'vision'"):
        run_training(tmp_path, "trainer.max_steps=3", "resume=auto", *COMMON, "model.freeze_vision=true")


def test_resume_into_another_model_family_is_named_before_any_weight_loads(tmp_path, run_training):
    run_training(tmp_path, "trainer.max_steps=2", "trainer.save_every=2", *COMMON)
    with pytest.raises(ConfigError, match=r"model.adapter: checkpoint 'qwen2_5_vl', this run 'internvl'"):
        run_training(tmp_path, "trainer.max_steps=3", "resume=auto", *COMMON, model="tiny_internvl")


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint_and_resume_works(tmp_path, run_training,
                                                                                 monkeypatch):
    import torch

    from mixed_r1 import checkpoint as checkpoints

    real_save = torch.save

    def full_at_step_6(obj, path, *args, **kwargs):  # 2 warm-up steps + 4 GRPO steps: the second save
        if ".tmp_step_00000006" in str(path) and str(path).endswith("state.pt"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", full_at_step_6)
    with pytest.raises(StorageError, match=r"disk full while writing checkpoint .*step_00000006.*previous checkpoint "
                                           r".*step_00000004 is intact.*resume=auto"):
        run_training(tmp_path, "trainer.max_steps=4", "trainer.save_every=2", *COMMON)
    monkeypatch.setattr(checkpoints.torch, "save", real_save)
    folders = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert folders == ["step_00000004"]  # the partial .tmp folder is gone, the previous one kept
    run_training(tmp_path, "trainer.max_steps=4", "trainer.save_every=2", "resume=auto", *COMMON)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]


def wait_for_steps(proc: subprocess.Popen, metrics: Path, lines: int, naps: int) -> None:
    """Until ``metrics`` holds ``lines`` lines, in at most ``naps`` naps of 0.2 s (a guard against a hang, not a
    timing assertion); the run must still be going then, or there is nothing to stop."""
    for _ in range(naps):
        if proc.poll() is not None or (metrics.is_file() and len(metrics.read_text().splitlines()) >= lines):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be stopped"


@pytest.mark.slow
def test_sigterm_stops_after_the_step_with_a_checkpoint_and_resume_continues(tmp_path):
    """How SLURM preempts: SIGTERM. The run finishes the step in flight, writes a checkpoint, says so, exits
    non-zero; resume=auto continues from that step."""
    args = [f"hydra.run.dir={tmp_path}", "num_threads=1", *COMMON, "trainer.max_steps=200", "trainer.save_every=0"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_steps(proc, tmp_path / "metrics.jsonl", 4, naps=1500)  # 2 warm-up + 2 GRPO steps
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode not in (0, -signal.SIGTERM), stderr[-2000:]
    logged = [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    last = logged[-1]
    assert f"stopped by SIGTERM after step {last}: checkpoint" in stderr and "resume=auto" in stderr
    assert (tmp_path / "checkpoints" / f"step_{last:08d}" / "state.pt").is_file()
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args[:-2], f"trainer.max_steps={last - 1}",
                           "trainer.save_every=0", "resume=auto"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed from {tmp_path / 'checkpoints' / f'step_{last:08d}'}" in done.stdout + done.stderr
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == list(range(1, last + 2))


@launches_processes
def test_sigterm_to_one_rank_stops_every_rank_after_the_same_step_and_two_processes_resume(tmp_path):
    """Two processes (torchrun, gloo): SIGTERM reaches one rank only (a launcher may deliver it to any
    of them); the flag is all-reduced each step, so both ranks finish the same step, one checkpoint is
    written, the launch exits non-zero, and resume=auto in two processes continues from that step."""
    import psutil

    args = [f"hydra.run.dir={tmp_path}", *COMMON, "deepspeed=zero2", "trainer.max_steps=200", "trainer.save_every=0"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29660",
           str(ROOT / "train.py"), "num_threads=1"]
    env = {**ENV, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*cmd, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    metrics = tmp_path / "metrics.jsonl"
    wait_for_steps(proc, metrics, 4, naps=3000)  # 2 warm-up + 2 GRPO steps
    workers = sorted(psutil.Process(proc.pid).children(), key=lambda p: p.pid)
    ranks = {int(w.environ()["RANK"]): w for w in workers if "RANK" in w.environ()}
    assert sorted(ranks) == [0, 1]
    ranks[1].send_signal(signal.SIGTERM)  # rank 1 only; rank 0 learns it through the collective
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0, stderr[-2000:]
    last = [r["step"] for r in read_metrics(metrics)][-1]
    assert f"stopped by SIGTERM after step {last}: checkpoint" in stderr, stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"step_{last:08d}"]
    done = subprocess.run([*cmd, *args[:-2], f"trainer.max_steps={last - 1}", "trainer.save_every=0", "resume=auto"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["step"] for r in read_metrics(metrics)] == list(range(1, last + 2))
