"""Resumable work over fixed chunks, sharded over the ranks of a launch (the difficulty filter, evaluation).

Work is cut into chunks fixed by the data alone (never by the number of processes), so a chunk's result —
seeded by its index, batched the same way — is the same whichever rank computes it, in whichever run.
Each rank appends its finished records to its own ``rank-NNNNN.jsonl`` in one flushed write per chunk; a
restarted run reads every rank file of any earlier world size, cuts a record torn by a kill, and computes
only the chunks with unfinished ids.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from mixed_r1.engine.distributed import broadcast_object, is_main, rank, world_size

log = logging.getLogger("mixed_r1")


def read_shard(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """The complete records of a shard file. A line cut by a crash (always the last) is ignored, and
    with ``repair`` cut off the file so appending continues on a clean line."""
    records: list[dict[str, Any]] = []
    good_bytes = 0
    with path.open("rb") as handle:
        for raw in handle:
            try:
                records.append(json.loads(raw))
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            if not raw.endswith(b"\n"):  # the last record is whole but unterminated
                records.pop()
                break
            good_bytes += len(raw)
    if repair and good_bytes != path.stat().st_size:
        log.warning("%s: cut a record torn by an interrupted run (%d bytes)", path, path.stat().st_size - good_bytes)
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return records


def read_shards(shard_dir: Path, repair: bool = False) -> dict[str, dict[str, Any]]:
    """Every finished record by ``id``, over all rank files (of any earlier world size)."""
    done: dict[str, dict[str, Any]] = {}
    for path in sorted(shard_dir.glob("rank-*.jsonl")):
        for record in read_shard(path, repair):
            done.setdefault(record["id"], record)
    return done


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """One write, flushed to disk: a chunk is on disk whole, or (killed mid-write) cut at its last line."""
    text = "".join(json.dumps(r, allow_nan=False, ensure_ascii=False) + "\n" for r in records)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def rank_file(shard_dir: Path) -> Path:
    """This rank's file in ``shard_dir``."""
    return shard_dir / f"rank-{rank():05d}.jsonl"


def plan_chunks(chunk_ids: Sequence[Sequence[str]], shard_dir: Path, what: str) -> tuple[set[str], list[int]]:
    """``(ids finished earlier, the chunks this rank computes)``. Rank 0 repairs torn files and decides
    what is left before any rank appends (a rank reading while another writes could shard differently);
    the pending chunks go round-robin over the ranks."""
    state = None
    if is_main():
        shard_dir.mkdir(parents=True, exist_ok=True)
        done = read_shards(shard_dir, repair=True)
        pending = [k for k, ids in enumerate(chunk_ids) if any(i not in done for i in ids)]
        log.info("%s: %d items in %d chunks; %d finished earlier; %d chunks to compute on %d process(es)",
                 what, sum(len(ids) for ids in chunk_ids), len(chunk_ids), len(done), len(pending), world_size())
        state = (sorted(done), pending)
    finished, pending = broadcast_object(state)
    return set(finished), pending[rank()::world_size()]
