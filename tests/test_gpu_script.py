"""The prepared GPU check (tests/gpu/real_shapes.py) runs its whole code path on CPU with shrunk shapes."""
import subprocess
import sys

import pytest

from tests.conftest import ENV, ROOT, THREADS


@pytest.mark.slow  # one process: may run beside the others
def test_real_shapes_script_smoke_runs_every_model():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gpu" / "real_shapes.py"), "--smoke", "--device", "cpu",
         "--prompts", "2", "--group", "2", "--new-tokens", "6"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "model" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["qwen3b", "qwen7b", "internvl4b"]
    assert all(float(r.split("|")[9]) > 0 for r in rows)  # a real gradient flowed


@pytest.mark.slow  # one process: may run beside the others
def test_real_shapes_script_smoke_runs_the_memory_switches():
    """The README's "what fits" rows come from this run on a GPU: every switch of issue 24 builds and updates
    (LoRA trains a small fraction of the parameters, a frozen vision tower fewer than the full model)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gpu" / "real_shapes.py"), "--smoke", "--device", "cpu", "--models",
         "qwen7b", "--memory-switches", "--prompts", "2", "--group", "2", "--new-tokens", "6"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r.split("|")[2].strip(): r.split("|") for r in proc.stdout.splitlines()
            if r.startswith("| qwen7b")}
    assert list(rows) == ["full", "chunked", "frozen_vision", "beta0", "lora", "lean"]
    trainable = {name: float(cells[4]) for name, cells in rows.items()}
    assert trainable["lora"] < trainable["frozen_vision"] < trainable["full"] and trainable["lora"] > 0
    assert all(float(cells[9]) > 0 for cells in rows.values())  # a real gradient flowed under every switch


@pytest.mark.slow  # one process: may run beside the others
def test_zero3_gpu_script_smoke_trains_through_train_py():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gpu" / "zero3_step.py"), "--smoke", "--steps", "2", "--prompts", "2",
         "--new-tokens", "6", "--micro-batch", "4", "--threads", str(THREADS)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "step s" not in line]
    assert [int(r.split("|")[1]) for r in rows] == [1, 2]
    assert all(float(r.split("|")[2]) > 0 and float(r.split("|")[6]) > 0 for r in rows)  # step time, train tokens/s


@pytest.mark.slow  # one process: may run beside the others
def test_shared_prompt_gpu_script_smoke_times_both_settings():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gpu" / "shared_prompt.py"), "--smoke", "--device", "cpu",
         "--prompts", "2", "--group", "2", "--new-tokens", "6", "--steps", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "setting" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["shared", "unshared"]
    assert all(float(r.split("|")[2]) > 0 and float(r.split("|")[8]) > 0 for r in rows)  # step s, train tok/s
    diff = float(proc.stdout.split("max |diff| ")[1].split(",")[0])
    assert diff < 1e-4  # float32: the two passes agree
