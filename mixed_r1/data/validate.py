"""``python -m mixed_r1.data validate``: the loader's checks on a whole file, every problem listed
(training stops at load with the same messages), then what the file holds per type and per source."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mixed_r1.data.schema import ImageCheck, Sample, scan_samples


def count_by(samples: list[Sample], key: str) -> dict[str, int]:
    """Samples per value of ``key`` ("type" or "source"), most common first, ties by name."""
    counts = Counter(getattr(s, key) for s in samples)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass
class ValidationReport:
    path: Path
    problems: list[str]
    by_type: dict[str, int]
    by_source: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.problems and sum(self.by_type.values()) > 0

    def format(self) -> str:
        good = sum(self.by_type.values())
        lines = [f"{self.path}: {good} good sample(s), {len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems]
        if not good and not self.problems:
            lines.append(f"  {self.path}: no samples")
        lines.append("  per type:   " + (", ".join(f"{k} {v}" for k, v in self.by_type.items()) or "none"))
        lines.append("  per source: " + (", ".join(f"{k} {v}" for k, v in self.by_source.items()) or "none"))
        lines.append("  OK" if self.ok else "  FAILED")
        return "\n".join(lines)


def validate_file(path: str | Path, check_images: bool = True, model_check: ImageCheck | None = None) -> ValidationReport:
    """Every problem of ``path`` (bad lines, missing or wrong images, duplicate ids) and its counts."""
    result = scan_samples(path, check_images=check_images, model_check=model_check)
    return ValidationReport(result.path, result.problems, count_by(result.samples, "type"),
                            count_by(result.samples, "source"))
