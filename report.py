"""Our finished runs beside the paper's numbers: Tables 1-4 and Fig.-4-style curves in one Markdown report.
The logic lives in ``mixed_r1/report/``; missing runs are marked in the tables, so it can run mid-sweep.

    python report.py --runs runs --out runs/report          # writes runs/report/report.md and its PNGs
    python report.py --runs runs --out runs/report --window 50
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="runs root: <runs>/<table>/<point>/ (default: runs)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <runs>/report)")
    parser.add_argument("--window", type=int, default=None, help="moving-average window of the curves, in GRPO steps")
    args = parser.parse_args(argv)
    if args.window is not None and args.window < 1:
        parser.error("--window must be >= 1")
    if not args.runs.is_dir():
        parser.error(f"--runs {args.runs}: no such folder")

    from mixed_r1.errors import exit_on_user_error  # imported late: `--help` stays instant
    from mixed_r1.report import write_report
    from mixed_r1.report.plots import DEFAULT_WINDOW

    path = exit_on_user_error(write_report, args.runs, args.out or args.runs / "report",
                              window=args.window or DEFAULT_WINDOW)
    print(path)
    return path


if __name__ == "__main__":
    main()
