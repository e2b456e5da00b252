"""The six benchmarks of Table 1, by name. Each module documents the layout it reads and the official
scoring rule it implements, with the rule's source."""
from __future__ import annotations

import importlib
from functools import cache

from mixed_r1.errors import ConfigError
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, answer_text

NAMES: tuple[str, ...] = ("mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d")  # Table 1's column order


@cache
def benchmark(name: str) -> Benchmark:
    """The benchmark ``name`` (its module is imported on first use)."""
    if name not in NAMES:
        raise ConfigError(f"unknown benchmark {name!r}; expected one of {', '.join(NAMES)}")
    return importlib.import_module(f"mixed_r1.eval.benchmarks.{name}").BENCHMARK


__all__ = ["NAMES", "Benchmark", "EvalItem", "Judgement", "answer_text", "benchmark"]
