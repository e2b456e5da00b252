"""The paper's tables with our numbers beside its own: each finished run's ``results.json`` read into the row
it reproduces, laid out like the paper (same rows, columns and labels), each cell ``ours (paper, Δ)``.

A run that is missing or unreadable is marked in its row and never stops the report: the report is most
useful while a sweep is still running.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from mixed_r1.report.paper import AVG, PaperCell, PaperNumbers, PaperRow, PaperTable

DASH = "–"
NOTE_MARK = "†"


@dataclass
class RunScores:
    """What a row's run gave: its benchmark scores (percent), or why there are none."""

    shown_path: str  # the results.json path as the report shows it (from the runs root's own name)
    scores: dict[str, float] = field(default_factory=dict)
    problem: str | None = None  # "missing: ..." / "unreadable: ...": no scores at all
    warnings: list[str] = field(default_factory=list)  # scores kept, but something is off
    budget: str | None = None  # the training budget the run had (its trained.json), e.g. "703 steps = 1.00 epoch of 45,000"
    thinking: object = None  # what results.json says of its prompt (a bool when it says anything)


def budget_text(run_dir: Path) -> str | None:
    """The training budget of the run in ``run_dir`` as the report shows it, from the ``trained.json`` training
    writes; None for a run that trained nothing (the base model) or an older run that did not record it."""
    try:
        budget = json.loads((run_dir / "trained.json").read_text(encoding="utf-8"))["budget"]
        steps, samples, epochs = int(budget["steps"]), int(budget["samples"]), budget.get("epochs")
        asked = "trainer.max_steps" if "max_steps" in budget["asked"] else "trainer.epochs"
    except (OSError, ValueError, KeyError, TypeError):
        return None
    passes = f"{float(epochs):.2f} epochs" if isinstance(epochs, (int, float)) else "n/a epochs"
    return f"{steps} steps = {passes} of {samples:,} samples ({asked})"


def shown(path: Path, runs_root: Path) -> str:
    """``runs/table2/...`` whether the root was given as ``runs`` or as an absolute path: short and stable."""
    return (Path(runs_root.name) / path.relative_to(runs_root)).as_posix()


def read_run(runs_root: Path, table: str, row: PaperRow) -> RunScores:
    """The scores of the run that reproduces ``row``; a missing or malformed file becomes ``problem``."""
    run = read_scores(row.run.results_path(runs_root, table), runs_root)
    if run.problem is None:
        run.budget = budget_text(row.run.results_path(runs_root, table).parents[2])  # <point>/eval/<mode>/results.json
        if isinstance(run.thinking, bool) and run.thinking != (row.run.mode == "thinking"):
            run.warnings.append(f"results.json says thinking={str(run.thinking).lower()}")
    return run


def read_scores(path: Path, runs_root: Path) -> RunScores:
    """The benchmark scores of one ``results.json``; a missing or malformed file becomes ``problem``."""
    run = RunScores(shown_path=shown(path, runs_root))
    if not path.is_file():
        run.problem = f"missing: {run.shown_path}"
        return run
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        benchmarks = summary["benchmarks"]
        run.scores = {name: float(entry["score"]) for name, entry in benchmarks.items()
                      if isinstance(entry, dict) and isinstance(entry.get("score"), (int, float))
                      and math.isfinite(entry["score"])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        run.problem = f"unreadable: {run.shown_path} ({type(err).__name__}: {err})"
        return run
    run.thinking = summary.get("thinking")
    return run


def our_average(scores: dict[str, float], columns: tuple[str, ...]) -> float | None:
    """The mean over exactly the columns the paper averages (not results.json's own average, which is over
    whatever that evaluation ran); None unless all of them were evaluated."""
    if not columns or any(c not in scores for c in columns):
        return None
    return sum(scores[c] for c in columns) / len(columns)


def format_cell(ours: float | None, paper: PaperCell) -> str:
    """``ours (paper, Δ)`` with Δ = ours - paper on the one-decimal numbers shown, so the three agree."""
    mark = NOTE_MARK if paper.note else ""
    if ours is None:
        return f"{DASH} ({paper.value:.1f}{mark})"
    delta = round(round(ours, 1) - paper.value, 1) + 0.0  # + 0.0: no "-0.0"
    return f"{ours:.1f} ({paper.value:.1f}{mark}, {delta:+.1f})"


def render_table(runs_root: Path, table: PaperTable, paper: PaperNumbers) -> str:
    """One table as Markdown: the paper's label columns, (Avg.,) its benchmark columns, and where each row's
    numbers came from; footnotes for the paper's own notes."""
    keys = table.cell_keys()
    header = [*table.label_columns, *(paper.column_name(k) for k in keys), "Run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(table.label_columns) + "---:|" * len(keys) + "---|"]
    notes: list[str] = []
    for row in table.rows:
        run = read_run(runs_root, table.key, row)
        ours = {c: run.scores.get(c) for c in table.columns}
        if table.average_over:
            ours[AVG] = our_average(run.scores, table.average_over)
        cells = [format_cell(ours[k], row.cells[k]) for k in keys]
        not_evaluated = [paper.column_name(c) for c in table.columns if run.problem is None and c not in run.scores]
        where = run.problem or f"`{row.run.point}` ({row.run.mode})" + (f", {run.budget}" if run.budget else "")
        extra = ([f"not evaluated: {', '.join(not_evaluated)}"] if not_evaluated else []) + run.warnings
        if extra:
            where += " — " + "; ".join(extra)
        lines.append("| " + " | ".join([*row.labels, *cells, where]) + " |")
        notes += [f"- {NOTE_MARK} {table.row_name(row)}, {paper.column_name(k)}: {row.cells[k].note}"
                  for k in keys if row.cells[k].note]
    averaged = ", ".join(paper.column_name(c) for c in table.average_over)
    intro = (f"Cells: ours (paper, Δ = ours − paper). Avg.: the mean of {averaged}, as in the paper."
             if table.average_over else "Cells: ours (paper, Δ = ours − paper). The paper gives no average here.")
    return "\n".join([f"## {table.title}", "", intro, "", *lines, *(["", *notes] if notes else []), ""])


def render_tables(runs_root: Path, paper: PaperNumbers) -> list[str]:
    """Every table of the paper, in its order (Table 1 for both models, 2, 3 (a), 3 (b), 4)."""
    return [render_table(runs_root, table, paper) for table in paper.tables.values()]
