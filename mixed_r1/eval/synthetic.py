"""Tiny benchmark sets in each benchmark's published layout, asking about synthetic images with known answers.

Why: ``eval.py``, its tests and the demo must run end to end on a CPU with the tiny model and no download. Each
benchmark writes its split as ``hf download <hf_id> --repo-type dataset --local-dir <root>/<folder>`` lays it out
(same shard names and folders, the published field names and Arrow types, images embedded as Hugging Face image
structs ``{"bytes": PNG, "path": name}``, the ``huggingface`` features in the schema metadata), so its module reads
it with the same loader and scorer as the real download. The writer is the benchmark's own
``BENCHMARK.synthetic`` (in ``eval/benchmarks/<name>.py``, which says what it writes), on the scenes and
questions of :mod:`mixed_r1.eval.benchmarks.tiny_sets`; this module only picks the folder and the seed.

Adding a benchmark adds nothing here: its module (with its ``synthetic`` writer) and its name in
``benchmarks.NAMES`` are all ``write_benchmarks`` and the command line need.

``num_items`` is the number of questions, i.e. of items the loader returns, except for MMBench, where it is the
number of circular groups (three or four items each). Everything is a function of ``(name, seed)``: the same
arguments write the same bytes.

    python -m mixed_r1.eval.synthetic data/bench --items 8 --seed 0
    python eval.py model=tiny_qwen model.path=<checkpoint> eval.data_root=data/bench
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Sequence

from mixed_r1.errors import ConfigError, UserError
from mixed_r1.eval.benchmarks import NAMES, benchmark
from mixed_r1.eval.benchmarks.tiny_sets import IMAGE_SIZE, write_shard


def write_benchmark(name: str, root: Path, num_items: int = 8, seed: int = 0) -> Path:
    """Write ``num_items`` synthetic questions of benchmark ``name`` under ``root / benchmark(name).folder`` in its
    published layout; returns that folder. MMBench: ``num_items`` circular groups (3-4 rows each)."""
    bench = benchmark(name)  # an unknown name raises ConfigError
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 1:
        raise ConfigError(f"num_items={num_items!r}: must be an integer >= 1")
    folder = Path(root) / bench.folder
    rng = random.Random(f"{name}:{seed}")  # a string seed is hashed deterministically (not PYTHONHASHSEED)
    for shard in bench.synthetic(rng, num_items):
        write_shard(folder, shard)
    return folder


def write_benchmarks(root: Path, names: Sequence[str] = NAMES, num_items: int = 8, seed: int = 0) -> dict[str, Path]:
    """Every benchmark of ``names`` under ``root`` (an ``eval.data_root``); name -> its folder."""
    return {name: write_benchmark(name, root, num_items, seed) for name in names}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mixed_r1.eval.synthetic ROOT``: write the sets, say how many items each loads back; 2 on a bad
    argument."""
    parser = argparse.ArgumentParser(prog="python -m mixed_r1.eval.synthetic",
                                     description="Write tiny synthetic benchmark sets in their published layouts.")
    parser.add_argument("root", type=Path, help="the data root to write (eval.data_root)")
    parser.add_argument("--items", type=int, default=8, help="questions per benchmark (MMBench: circular groups)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmarks", default=",".join(NAMES), help=f"comma-separated, of {','.join(NAMES)}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()]
    try:
        if not names:
            raise ConfigError("--benchmarks names no benchmark")
        folders = write_benchmarks(args.root, names, args.items, args.seed)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, folder in folders.items():
        print(f"{name}: {len(benchmark(name).load(folder))} items in {folder}")
    print(f"score a checkpoint on them: python eval.py ... eval.data_root={args.root}")
    return 0


__all__ = ["IMAGE_SIZE", "main", "write_benchmark", "write_benchmarks"]


if __name__ == "__main__":
    sys.exit(main())
