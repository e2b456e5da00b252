"""Run metrics: one JSON line per step in ``metrics.jsonl`` (wandb-style keys) and a console line."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger("mixed_r1")

_CONSOLE_KEYS = ("loss", "reward/mean", "reward/format", "kl", "completion_length", "step_seconds")


class MetricsLogger:
    """Appends to ``metrics.jsonl``; ``resume_after=N`` first drops lines of steps after N (they are
    redone by the resumed run)."""

    def __init__(self, run_dir: str | Path, resume_after: int | None = None) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_after is not None and self.path.is_file():
            kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_after]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        elif self.path.is_file():  # a fresh (not resumed) run in an old folder starts a fresh log
            log.warning("%s exists and this run does not resume: starting it anew", self.path)
            self.path.unlink()
        self._file = self.path.open("a", encoding="utf-8")

    def log(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        shown = " ".join(f"{k}={record[k]:.4g}" for k in _CONSOLE_KEYS if k in record)
        log.info("[%s %d] %s", record.get("phase", "?"), record.get("step", -1), shown)

    def close(self) -> None:
        self._file.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def reward_trend(records: Iterable[dict[str, Any]], fraction: float = 0.2) -> tuple[float, float]:
    """Mean ``reward/mean`` of the first and of the last ``fraction`` of GRPO steps."""
    rewards = [r["reward/mean"] for r in records if r.get("phase") == "grpo"]
    if not rewards:
        return math.nan, math.nan
    k = max(1, int(len(rewards) * fraction))
    return sum(rewards[:k]) / k, sum(rewards[-k:]) / k
