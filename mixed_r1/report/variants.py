"""The GRPO variants beyond the paper (``experiment=variants``: conf/variant/*.yaml) as one table beside the
paper's GRPO: each variant's scores and its difference from the ``grpo`` row, read from the sweep's
``results.json`` files. The paper has no numbers for these rows, so the only reference is our own GRPO run."""
from __future__ import annotations

from pathlib import Path

from mixed_r1.eval.benchmarks import TABLE_1, benchmark
from mixed_r1.report.tables import DASH, RunScores, budget_text, our_average, read_scores, shown

SWEEP = "variants"  # conf/experiment/variants.yaml's sweep folder below the runs root
VARIANTS = ("grpo", "dr_grpo", "dapo", "gspo")  # its points, the reference first
REFERENCE = "grpo"
MODE = "thinking"


def variant_cell(ours: float | None, reference: float | None, is_reference: bool) -> str:
    """``ours (Δ vs GRPO)``; the GRPO row shows its score alone."""
    if ours is None:
        return DASH
    if is_reference or reference is None:
        return f"{ours:.1f}"
    return f"{ours:.1f} ({round(round(ours, 1) - round(reference, 1), 1) + 0.0:+.1f})"


def render_variants(runs_root: Path) -> str:
    """The variants table as Markdown (missing runs marked, never fatal)."""
    runs: dict[str, RunScores] = {}
    for name in VARIANTS:
        path = runs_root / SWEEP / f"variant={name}" / "eval" / MODE / "results.json"
        runs[name] = read_scores(path, runs_root)
        runs[name].budget = budget_text(path.parents[2]) if runs[name].problem is None else None
    columns = ["Avg.", *(benchmark(c).column for c in TABLE_1)]
    lines = [f"## GRPO variants beyond the paper (`{shown(runs_root / SWEEP, runs_root)}`)", "",
             "Cells: ours (Δ = ours − our GRPO row). Avg.: the mean of Table 1's six benchmarks. The paper has no "
             "numbers for these rows.", "",
             "| Variant | " + " | ".join(columns) + " | Run |", "|---|" + "---:|" * len(columns) + "---|"]
    reference = runs[REFERENCE].scores
    for name, run in runs.items():
        ours = [our_average(run.scores, TABLE_1), *(run.scores.get(c) for c in TABLE_1)]
        refs = [our_average(reference, TABLE_1), *(reference.get(c) for c in TABLE_1)]
        cells = [variant_cell(o, r, name == REFERENCE) for o, r in zip(ours, refs)]
        where = run.problem or f"`variant={name}` ({MODE})" + (f", {run.budget}" if run.budget else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {where} |")
    return "\n".join([*lines, ""])
