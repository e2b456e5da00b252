"""The benchmarks, by name: Table 1's six and any added after. Each module documents the layout it reads and the
official scoring rule it implements, with the rule's source."""
from __future__ import annotations

import importlib
from functools import cache

from mixed_r1.errors import ConfigError
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, answer_text

# every registered benchmark: a new one is its module plus its name here
NAMES: tuple[str, ...] = ("mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d")
# the paper's Table 1 columns, in its order (a fact of the paper, not a registry): its rows and its Avg.
TABLE_1: tuple[str, ...] = ("mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d")


@cache
def benchmark(name: str) -> Benchmark:
    """The benchmark ``name`` (its module is imported on first use)."""
    if name not in NAMES:
        raise ConfigError(f"unknown benchmark {name!r}; expected one of {', '.join(NAMES)}")
    return importlib.import_module(f"mixed_r1.eval.benchmarks.{name}").BENCHMARK


__all__ = ["NAMES", "TABLE_1", "Benchmark", "EvalItem", "Judgement", "answer_text", "benchmark"]
