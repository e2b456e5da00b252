"""The prepared GPU check (tests/gpu/real_shapes.py) runs its whole code path on CPU with shrunk shapes."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_real_shapes_script_smoke_runs_every_model():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gpu" / "real_shapes.py"), "--smoke", "--device", "cpu",
         "--prompts", "2", "--group", "2", "--new-tokens", "6"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "model" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["qwen3b", "qwen7b", "internvl4b"]
    assert all(float(r.split("|")[7]) > 0 for r in rows)  # a real gradient flowed
