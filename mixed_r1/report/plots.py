"""Fig.-4-style training curves: mean reward and mean completion length per GRPO step, one line per sweep
point of a table, read from each point's ``metrics.jsonl``. Raw values are drawn faint and a trailing moving
average solid, as single GRPO steps are noisy (a batch of 64 prompts)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mixed_r1.errors import DataError
from mixed_r1.metrics import read_metrics

METRICS = {"reward/mean": "Mean reward", "completion_length": "Mean completion length (tokens)"}
DEFAULT_WINDOW = 20
FIGSIZE = (12.0, 5.0)  # inches; at DPI: 1200 x 500 pixels, whatever the data (tests check the size)
DPI = 100


@dataclass
class Curves:
    """One sweep point's GRPO metrics: for each metric, its (step, value) points in step order."""

    point: str
    series: dict[str, tuple[list[int], list[float]]]


@dataclass
class PlotResult:
    path: Path | None  # None: no point had GRPO metrics, nothing drawn
    plotted: list[str] = field(default_factory=list)  # sweep points drawn
    missing: dict[str, str] = field(default_factory=dict)  # point -> why it has no usable GRPO metrics


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` values (fewer at the start), so the curve keeps every step."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def read_curves(path: Path, point: str, metrics: Sequence[str] = tuple(METRICS)) -> Curves:
    """The rewarded steps of one ``metrics.jsonl`` (those logging ``reward/mean``: GRPO's; an SFT warm-up's are
    skipped); a step logged twice keeps its last value; a null (non-finite) value is left out."""
    by_step: dict[str, dict[int, float]] = {m: {} for m in metrics}
    for record in read_metrics(path):
        if "reward/mean" not in record or not isinstance(record.get("step"), int):
            continue
        for metric in metrics:
            value = record.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                by_step[metric][record["step"]] = float(value)
    return Curves(point, {m: (sorted(s), [s[k] for k in sorted(s)]) for m, s in by_step.items()})


def plot_training_curves(runs_root: Path, out_path: Path, table: str = "table4", window: int = DEFAULT_WINDOW,
                         labels: dict[str, str] | None = None, expected: Sequence[str] = (),
                         metrics: dict[str, str] | None = None, title: str | None = None) -> PlotResult:
    """One PNG with a panel per metric for the sweep points under ``<runs_root>/<table>/``: those named in
    ``labels`` first (legend: their label), then any other with GRPO metrics (legend: its folder name).
    Points in ``expected`` that have no GRPO metrics are returned as missing, not raised."""
    metrics = metrics or METRICS
    labels = labels or {}
    folder = runs_root / table
    found = sorted(p.name for p in folder.iterdir() if (p / "metrics.jsonl").is_file()) if folder.is_dir() else []
    order = [p for p in labels if p in found] + [p for p in found if p not in labels]
    result = PlotResult(path=None, missing={p: "no metrics.jsonl" for p in expected if p not in found})
    curves = []
    for point in order:
        try:
            c = read_curves(folder / point / "metrics.jsonl", point, tuple(metrics))
        except DataError as err:
            result.missing[point] = str(err)
            continue
        if any(c.series[m][0] for m in metrics):
            curves.append(c)
        elif point in expected:
            result.missing[point] = "no GRPO steps in metrics.jsonl"
    if not curves:
        return result
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: renders without a display
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(curves))]
    for ax, (metric, name) in zip(axes, metrics.items()):
        for c, color in zip(curves, colors):
            steps, values = c.series[metric]
            if not steps:
                continue
            ax.plot(steps, values, color=color, alpha=0.2, linewidth=0.8)
            ax.plot(steps, moving_average(values, window), color=color, linewidth=1.8, label=labels.get(c.point, c.point))
        ax.set_title(name)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", title=f"smoothed: {window}-step mean")
    figure.suptitle(f"{title or table}: per GRPO step; solid: moving average over {window} steps, faint: raw")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, dpi=DPI)
    result.path = out_path
    result.plotted = [c.point for c in curves]
    return result
