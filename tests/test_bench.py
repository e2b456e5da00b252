"""The bench scripts run and print their tables (timings are never asserted): bench/grpo_step.py --quick (ours,
and TRL's GRPOTrainer when trl is installed) and bench/update_passes.py on a tiny rollout."""
import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ENV, ROOT


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The side column -> the row's cells, for the rows of the printed table."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "side":
            rows[cells[0]] = cells
    return rows


@pytest.mark.slow  # one process: may run beside the others
def test_grpo_step_bench_quick_prints_a_row_per_side():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "grpo_step.py"), "--quick", "--threads", "1"],
                          cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    rows = table_rows(proc.stdout)
    ours = [side for side in rows if side.startswith("ours")]
    assert ours, proc.stdout
    expected = ours + (["TRL GRPOTrainer"] if importlib.util.find_spec("trl") else [])
    assert sorted(rows) == sorted(expected), proc.stdout
    if not importlib.util.find_spec("trl"):
        assert "trl is not installed" in proc.stdout
    for side, cells in rows.items():
        steps, step_s, rollout_s, tokens_s, completion_len = (float(cells[i].replace(",", "")) for i in (1, 2, 3, 8, 9))
        assert steps == 2 and step_s > 0 and rollout_s > 0 and tokens_s > 0 and completion_len > 0, (side, cells)
        no_grad, grad, reference = (int(n) for n in cells[11].split("·"))
        assert no_grad >= 1 and grad >= 1 and reference >= 1, (side, cells)  # generation, the loss, the KL term


@pytest.mark.slow  # one process: may run beside the others
def test_update_passes_bench_prints_every_configuration_with_one_gradient():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "update_passes.py"), "--prompts", "1", "--group", "4",
                           "--min-len", "2", "--max-len", "12", "--micro-batch", "2", "--repeats", "1", "--threads", "1"],
                          cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in proc.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| passes")]
    assert [r[0].split(" <=")[0] for r in rows] == ["unshared, fixed 2 rows", "unshared, packed",
                                                     "shared, fixed 2 rows", "shared, packed"]
    norms = [float(r[5]) for r in rows]
    assert norms[0] > 0 and max(norms) - min(norms) < 1e-4 * norms[0]  # the same gradient every way
    computed = [int(r[3].replace(",", "")) for r in rows]
    assert computed[2] < computed[0]  # one prompt per group instead of one per completion


@pytest.mark.slow  # one process: may run beside the others
def test_memory_bench_prints_both_tables_and_the_chunked_head_needs_less():
    """bench/memory.py on small shapes: the head table's chunked rows equal the whole logits' values and
    peak lower; the phases table has a row per default switch, beta=0's reference pass holds no reference."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "memory.py"), "--shape", "quick", "--threads", "1",
                           "--vocab", "4000", "--hidden", "32", "--lengths", "256", "--chunks", "0", "32"],
                          cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    head = {cells[1]: cells for line in proc.stdout.splitlines()
            if line.startswith("| 256 |") for cells in [[c.strip() for c in line.strip("|").split("|")]]}
    assert set(head) == {"whole", "32"}, proc.stdout
    assert float(head["32"][2].replace(",", "")) < float(head["whole"][2].replace(",", "")) / 2, proc.stdout
    assert float(head["32"][4]) <= 1e-5, proc.stdout
    rows = table_rows(proc.stdout)
    assert {"full", "chunked", "frozen_vision", "beta0", "lora", "lean"} <= set(rows), proc.stdout
    peaks = {name: [float(rows[name][i].replace(",", "")) for i in (2, 3, 4)] for name in rows if name in
             ("full", "beta0", "lora")}
    assert peaks["beta0"][1] < peaks["full"][1]  # no reference weights, no reference pass
    assert int(rows["lora"][5].replace(",", "")) < int(rows["full"][5].replace(",", "")) / 10
