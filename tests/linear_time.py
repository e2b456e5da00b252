"""How a function's cost grows with the size of its input, measured so that other processes cannot move it.

The measure is the CPU time of the calling thread (``time.thread_time``), not the wall clock: time spent
waiting for a core while other processes run is not counted. (Wall-clock ratios made linear rewards look
42.6x and 59.7x on an 8x input while two other processes shared the 2 cores.) An input SCALE times larger
costs ~SCALE times more CPU for linear work and ~SCALE² for quadratic work; BOUND sits a factor of ~3 from
both (8 -> 24 <- 64). Each timing is the best of RUNS repeats of enough calls to last ~10 ms of CPU, so a
context switch or a cold cache in one repeat does not count either. Speed itself belongs in bench/.
"""
from __future__ import annotations

import time
from typing import Callable

SCALE, BOUND, RUNS, ATTEMPTS = 8, 24.0, 3, 3
TARGET_SECONDS = 10e-3  # CPU time the calls on the small input last, per repeat


def cpu_seconds(fn: Callable[[str], object], text: str, calls: int) -> float:
    """The least CPU time of this thread, over RUNS repeats, that ``calls`` calls of ``fn(text)`` take."""
    best = float("inf")
    for _ in range(RUNS):
        start = time.thread_time()
        for _ in range(calls):
            fn(text)
        best = min(best, time.thread_time() - start)
    return best


def growth(fn: Callable[[str], object], make: Callable[[int], str], n: int, attempts: int = ATTEMPTS) -> float:
    """CPU time of ``fn`` on ``make(SCALE * n)`` over its CPU time on ``make(n)``: ~SCALE when ``fn`` is
    linear, ~SCALE² when it is quadratic (the smallest of up to ``attempts`` measurements above BOUND)."""
    small, large = make(n), make(SCALE * n)
    start = time.thread_time()
    fn(small)  # warm-up, and the number of calls that makes the small timing last TARGET_SECONDS
    calls = max(1, int(TARGET_SECONDS / max(time.thread_time() - start, 1e-6)))
    ratios: list[float] = []
    for _ in range(attempts):
        ratios.append(cpu_seconds(fn, large, calls) / max(cpu_seconds(fn, small, calls), 1e-9))
        if ratios[-1] < BOUND:
            break
    return min(ratios)
