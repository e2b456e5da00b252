"""Scores out: the six benchmarks of Table 1 (loaders and official scoring rules), the sharded,
resumable runner behind ``eval.py``, and the lmms-eval backend."""
from __future__ import annotations

from typing import Any

from mixed_r1.eval.benchmarks import benchmark
from mixed_r1.eval.benchmarks.base import answer_text


def score(benchmark_name: str, item: dict[str, Any], response: str) -> float:
    """1.0 when ``response`` answers ``item`` (one record of the benchmark's dataset, published field
    names, images not needed) by the benchmark's official rule, else 0.0. The last ``<answer>`` block is
    scored when present, else the whole response. MMBench's circular grouping and MMStar's category
    mean happen in aggregation, not here."""
    return 1.0 if benchmark(benchmark_name).judge(item, answer_text(response)).correct else 0.0


__all__ = ["score"]
