"""The paper's tables as read from ``paper_numbers.yaml``: one definition of every table (rows, columns, the
columns its Avg. averages, which run reproduces each row) shared by the Markdown tables, the plots' legends
and the tests, so a number or a layout lives in one place only."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mixed_r1.errors import DataError

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.yaml")
AVG = "avg"  # the key of a row's Avg. cell
EVAL_MODES = ("direct", "thinking")


@dataclass(frozen=True)
class PaperCell:
    value: float
    source: str  # where in the paper the value was read, e.g. "Table 2, row '+YORN +MCQ', MathVista"
    note: str | None = None  # e.g. a printed average that is not the mean of its columns


@dataclass(frozen=True)
class RunRef:
    """The finished run that reproduces a row: ``<runs_root>/<table>/<point>/eval/<mode>/results.json``."""

    point: str
    mode: str  # direct | thinking

    def results_path(self, runs_root: Path, table: str) -> Path:
        return runs_root / table / self.point / "eval" / self.mode / "results.json"


@dataclass(frozen=True)
class PaperRow:
    labels: tuple[str, ...]  # one per label column
    run: RunRef
    cells: dict[str, PaperCell]  # "avg" (where the table has one) and every benchmark column


@dataclass(frozen=True)
class PaperTable:
    key: str  # the folder under the runs root, e.g. "table2"
    title: str
    label_columns: tuple[str, ...]
    columns: tuple[str, ...]  # benchmark keys as in results.json, in the paper's order
    average_over: tuple[str, ...]  # empty: no Avg. column
    rows: tuple[PaperRow, ...]

    def row_name(self, row: PaperRow) -> str:
        """The row's labels as one phrase for footnotes and legends; Table 1's Thinking mark spelled out."""
        parts = []
        for column, label in zip(self.label_columns, row.labels):
            if column == "Thinking":
                parts.append("(thinking)" if label == "✓" else "(no thinking)")
            else:
                parts.append(label)
        return " ".join(parts)

    def cell_keys(self) -> tuple[str, ...]:
        """The keys every row has a paper value for, in display order (Avg. first, as in the paper)."""
        return ((AVG,) if self.average_over else ()) + self.columns


@dataclass(frozen=True)
class PaperNumbers:
    title: str
    benchmarks: dict[str, str]  # results.json key -> the paper's column name
    tables: dict[str, PaperTable]

    def column_name(self, key: str) -> str:
        return "Avg." if key == AVG else self.benchmarks.get(key, key)


def load_paper(path: Path = PAPER_NUMBERS) -> PaperNumbers:
    """Read and check the file: a typo there would silently drop a cell from every report."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    tables = {key: _table(key, node, path) for key, node in raw["tables"].items()}
    return PaperNumbers(title=str(raw["paper"]), benchmarks={str(k): str(v) for k, v in raw["benchmarks"].items()},
                        tables=tables)


def _table(key: str, node: dict[str, Any], path: Path) -> PaperTable:
    columns = tuple(node["columns"])
    average_over = tuple(node.get("average_over") or ())
    label_columns = tuple(node["label_columns"])
    if not set(average_over) <= set(columns):
        raise DataError(f"{path}: {key}: average_over {average_over} names columns not in {columns}")
    table = PaperTable(key=key, title=str(node["title"]), label_columns=label_columns, columns=columns,
                       average_over=average_over, rows=tuple(_row(r) for r in node["rows"]))
    for number, row in enumerate(table.rows, start=1):
        where = f"{path}: {key}, row {number} {row.labels}"
        if len(row.labels) != len(label_columns):
            raise DataError(f"{where}: {len(row.labels)} labels for label columns {label_columns}")
        if row.run.mode not in EVAL_MODES:
            raise DataError(f"{where}: run.eval={row.run.mode!r}, expected one of {EVAL_MODES}")
        if tuple(row.cells) != table.cell_keys():
            raise DataError(f"{where}: cells {tuple(row.cells)}, expected {table.cell_keys()} in that order")
    return table


def _row(node: dict[str, Any]) -> PaperRow:
    cells = {str(k): PaperCell(float(v["value"]), str(v["source"]), v.get("note")) for k, v in node["cells"].items()}
    return PaperRow(labels=tuple(str(x) for x in node["labels"]), run=RunRef(str(node["run"]["point"]),
                    str(node["run"]["eval"])), cells=cells)


def printed_average_mismatches(paper: PaperNumbers, tolerance: float = 0.051) -> list[str]:
    """Rows whose printed Avg. is not the mean of the columns it averages (beyond rounding to one decimal):
    the report says so, as a Δ on such an Avg. partly measures the paper's arithmetic."""
    found = []
    for table in paper.tables.values():
        if not table.average_over:
            continue
        for row in table.rows:
            mean = sum(row.cells[c].value for c in table.average_over) / len(table.average_over)
            if abs(mean - row.cells[AVG].value) > tolerance:
                found.append(f"{table.title}, row '{table.row_name(row)}': printed Avg. {row.cells[AVG].value:.1f}, "
                             f"mean of its {len(table.average_over)} columns {mean:.2f}")
    return found
