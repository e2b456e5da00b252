"""Run metrics: one JSON line per step in ``metrics.jsonl`` (wandb-style keys) and a console line."""
from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from mixed_r1.errors import DataError

log = logging.getLogger("mixed_r1")

_CONSOLE_KEYS = ("loss", "reward/mean", "reward/format", "kl", "completion_length", "step_seconds",
                 "val/accuracy/mean", "val/format", "validation_seconds")


@dataclass(frozen=True)
class LoggerSettings:
    """The ``logger`` group: ``metrics.jsonl`` always; ``name=wandb`` also logs to Weights & Biases."""

    name: Literal["none", "wandb"]
    project: str | None = None
    entity: str | None = None
    mode: Literal["online", "offline", "disabled"] | None = None


class MetricsLogger:
    """Appends to ``metrics.jsonl`` (always) and to wandb (``logger=wandb``); ``resume_after=N`` first
    drops lines of steps after N (they are redone by the resumed run) and continues the wandb run."""

    def __init__(self, run_dir: str | Path, resume_after: int | None = None, logger: LoggerSettings | None = None,
                 config: dict[str, Any] | None = None, enabled: bool = True) -> None:
        self.enabled = enabled  # only rank 0 of a multi-process run writes
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "metrics.jsonl"
        if not enabled:
            return
        self.completions_path = self.run_dir / "completions.jsonl"
        self.wandb = _start_wandb(self.run_dir, logger, config) if logger and logger.name == "wandb" else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_after is not None:  # steps after the checkpoint are redone: their lines go
            for path in (self.path, self.completions_path):
                if path.is_file():
                    kept = [r for r in read_metrics(path) if r.get("step", 0) <= resume_after]
                    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        else:
            for path in (self.path, self.completions_path):
                if path.is_file():  # a fresh (not resumed) run in an old folder starts fresh logs
                    log.warning("%s exists and this run does not resume: starting it anew", path)
                    path.unlink()
        self._file = self.path.open("a", encoding="utf-8")

    def log(self, record: dict[str, Any]) -> None:
        """One line of strict JSON: a NaN or inf value (a skipped update's gradient norm) is ``null``."""
        if not self.enabled:
            return
        record = {k: strict_json_value(v) for k, v in record.items()}
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"},
                           step=record["step"])
        shown = " ".join(f"{k}={record[k]:.4g}" for k in _CONSOLE_KEYS if isinstance(record.get(k), (int, float)))
        if record.get("skipped"):
            shown += f" skipped={record.get('skip_reason')}"
        log.info("[%s %d] %s", record.get("phase", "?"), record.get("step", -1), shown)

    def log_completions(self, step: int, rows: list[dict[str, Any]], table: str = "completions") -> None:
        """A few prompts with their image, completions, rewards and advantages: JSONL, and a wandb Table named
        ``table`` (validation's rows, which have no advantage, go under ``val/completions``: a step's training
        table is not overwritten)."""
        if not self.enabled or not rows:
            return
        with self.completions_path.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"step": step, **row}) + "\n")
        if self.wandb is not None:
            import wandb

            columns = [c for c in ("id", "image", "problem", "answer", "completion", "reward", "advantage") if c in rows[0]]
            shown: dict[str, Callable[[Any], Any]] = {"image": wandb.Image, "answer": str}
            data = wandb.Table(columns=columns)
            for row in rows:
                data.add_data(*(shown.get(c, lambda value: value)(row[c]) for c in columns))
            self.wandb.log({table: data}, step=step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self.wandb is not None:
            self.wandb.finish()


def strict_json_value(value: Any) -> Any:
    """``None`` for a non-finite float (strict JSON has no NaN), the value otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _start_wandb(run_dir: Path, logger: LoggerSettings, config: dict[str, Any] | None) -> Any:
    """One wandb run per run folder: its id is kept there so a resumed run continues it."""
    import wandb  # imported only with logger=wandb

    id_file = run_dir / "wandb_run_id"
    run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:12]
    id_file.write_text(run_id)
    return wandb.init(project=logger.project, entity=logger.entity, mode=logger.mode, dir=str(run_dir),
                      id=run_id, resume="allow", config=config, name=run_dir.name)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL log. A torn last line (the run was killed mid-write) is dropped with a
    warning; a bad line anywhere else is a :class:`~mixed_r1.errors.DataError` naming it."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                log.warning("%s:%d is incomplete (the run was killed while writing it): dropped", path, number)
                break
            raise DataError(f"{path}:{number}: not valid JSON ({err.msg}); fix or remove that line") from None
    return records


def reward_trend(records: Iterable[dict[str, Any]], fraction: float = 0.2) -> tuple[float, float]:
    """Mean ``reward/mean`` of the first and of the last ``fraction`` of the steps that log rewards (GRPO's)."""
    rewards = [r["reward/mean"] for r in records if isinstance(r.get("reward/mean"), (int, float))]
    if not rewards:
        return math.nan, math.nan
    k = max(1, int(len(rewards) * fraction))
    return sum(rewards[:k]) / k, sum(rewards[-k:]) / k
