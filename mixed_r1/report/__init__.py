"""The reproduction report: every table of the paper with our finished runs beside its numbers, and Fig.-4-style
training curves, in one ``report.md`` (``python report.py --runs runs --out runs/report``)."""
from __future__ import annotations

from pathlib import Path

from mixed_r1.report.paper import PaperNumbers, PaperTable, load_paper, printed_average_mismatches
from mixed_r1.report.plots import DEFAULT_WINDOW, plot_training_curves
from mixed_r1.report.tables import render_tables
from mixed_r1.report.variants import render_variants

FIG4_TABLE = "table4"  # Fig. 4: the training curves of Table 4's open-ended reward designs

__all__ = ["write_report"]


def legend_labels(table: PaperTable) -> dict[str, str]:
    """Sweep point -> the paper's row name, for the plots' legends (a point shared by two rows: the first)."""
    labels: dict[str, str] = {}
    for row in table.rows:
        labels.setdefault(row.run.point, table.row_name(row))
    return labels


def curves_section(runs_root: Path, out_dir: Path, paper: PaperNumbers, window: int) -> list[str]:
    """Fig. 4 (Table 4's sweep) first, then any other table whose runs logged GRPO steps."""
    lines = ["## Training curves", ""]
    keys = [FIG4_TABLE] + [k for k in paper.tables if k != FIG4_TABLE]
    for key in keys:
        table = paper.tables[key]
        is_fig4 = key == FIG4_TABLE
        expected = [row.run.point for row in table.rows] if is_fig4 else []
        result = plot_training_curves(runs_root, out_dir / f"{key}_curves.png", table=key, window=window,
                                      labels=legend_labels(table), expected=expected, title=table.title)
        if result.path is None and not is_fig4:
            continue
        lines += [f"### Fig. 4 ({table.title})" if is_fig4 else f"### {table.title}", ""]
        if result.path is not None:
            lines += [f"![{key} training curves]({result.path.name})", "",
                      f"Mean reward and mean completion length per GRPO step, moving average over {window} steps "
                      f"(faint: per step). Points: {', '.join(f'`{p}`' for p in result.plotted)}.", ""]
        else:
            lines += [f"No GRPO metrics under `{runs_root.name}/{key}/*/metrics.jsonl` yet: nothing drawn.", ""]
        lines += [f"- missing: `{runs_root.name}/{key}/{point}` ({why})" for point, why in result.missing.items()]
        lines += [""] if result.missing else []
    return lines


def write_report(runs_root: Path, out_dir: Path, window: int = DEFAULT_WINDOW) -> Path:
    """Write ``<out_dir>/report.md`` and its PNGs; missing runs are marked in place, never fatal."""
    paper = load_paper()
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Mixed-R1 reproduction: our runs beside the paper's numbers", "",
             f"Runs: `{runs_root.resolve()}`. Paper: *{paper.title}*; its numbers, each with its source, are in "
             "`mixed_r1/report/paper_numbers.yaml`.", "",
             "Each cell is `ours (paper, Δ)` with Δ = ours − paper in points; `–`: no result yet; the Run column "
             "names the sweep point and prompt (direct or thinking) each row was read from.", ""]
    lines += render_tables(runs_root, paper)
    lines += [render_variants(runs_root)]
    lines += curves_section(runs_root, out_dir, paper, window)
    mismatches = printed_average_mismatches(paper)
    if mismatches:
        lines += ["## Notes on the paper's numbers", "",
                  "Printed averages that are not the mean of their columns (Δ on these Avg. cells partly measures that):",
                  "", *[f"- {m}" for m in mismatches], ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
