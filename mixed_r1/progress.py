"""A progress bar with rate and ETA for long loops (training, filtering, evaluation): rank 0 only, and
only when the console is a terminal — a log file or CI output gets the per-step log lines alone."""
from __future__ import annotations

import contextlib
import sys
from typing import IO, Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mixed_r1.engine.distributed import is_main


@contextlib.contextmanager
def progress_bar(total: int, initial: int = 0, desc: str = "", enabled: bool | None = None,
                 stream: IO[str] | None = None) -> Iterator[tqdm]:
    """``enabled=None``: on when this is rank 0 and ``stream`` (stderr) is a terminal. While the bar is
    shown, log lines are printed above it instead of through it."""
    stream = stream or sys.stderr
    if enabled is None:
        enabled = is_main() and stream.isatty()
    bar = tqdm(total=total, initial=initial, desc=desc, disable=not enabled, file=stream, dynamic_ncols=True,
               unit="step")
    try:
        with logging_redirect_tqdm() if enabled else contextlib.nullcontext():
            yield bar
    finally:
        bar.close()
