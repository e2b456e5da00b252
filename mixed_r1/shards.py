"""Resumable work over fixed chunks, sharded over the ranks of a launch (the difficulty filter, evaluation).

Work is cut into chunks fixed by the data alone (never by the number of processes), so a chunk's result —
seeded by its index, batched the same way — is the same whichever rank computes it, in whichever run.
Each rank appends its finished records to its own ``rank-NNNNN.jsonl`` in one flushed write per chunk; a
restarted run reads every rank file of any earlier world size, cuts a record torn by a kill, and computes
only the chunks with unfinished ids. A folder of such outputs records what produced them (:func:`claim_folder`),
so a run with another model or other settings never takes them for its own.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mixed_r1.engine.distributed import broadcast_object, is_main, rank, world_size
from mixed_r1.errors import ConfigError

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


# ----------------------------------------------------------------------------- who owns a folder of outputs
OWNER_FILE = "produced_by.json"


SAMPLED_BYTES = 1 << 20  # of each end of a weight file: enough to tell two trainings apart, fast on any size


def weights_identity(path: str) -> dict[str, Any]:
    """What tells one checkpoint folder from another without reading all its weights: a hash of its config and
    weight index files, and of each weight file's size and first and last MiB (another training step of the
    same model has other bytes there; a copy of the folder has the same). A hub id is its own identity ({})."""
    folder = Path(path)
    if not folder.is_dir():
        return {}
    identity: dict[str, Any] = {}
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        if file.name == "config.json" or file.name.endswith(".index.json"):
            identity[file.name] = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
        elif file.suffix in (".safetensors", ".bin", ".pt"):
            size = file.stat().st_size
            digest = hashlib.sha256(str(size).encode())
            with file.open("rb") as handle:
                digest.update(handle.read(SAMPLED_BYTES))
                handle.seek(max(0, size - SAMPLED_BYTES))
                digest.update(handle.read(SAMPLED_BYTES))
            identity[file.name] = digest.hexdigest()[:16]
    return identity


def claim_folder(folder: Path, identity: Mapping[str, Any], overwrite: bool, option: str,
                 outputs: Sequence[str]) -> None:
    """Make ``folder``'s resumable ``outputs`` (names in it) belong to the run that ``identity`` describes (its
    model and weights, prompt, generation settings): outputs another run left there would otherwise be resumed
    as this run's, and its results would name this run's model over them. Outputs of another identity, or with
    no record of one, are refused naming both values, or removed when ``option`` (``eval.overwrite``) is set;
    then ``OWNER_FILE`` records the identity. Rank 0 decides; every rank raises the same error."""
    problem = None
    if is_main():
        problem = _claim(Path(folder), json.loads(json.dumps(identity, default=str)), overwrite, option, outputs)
    problem = broadcast_object(problem)
    if problem is not None:
        raise ConfigError(problem)


def _claim(folder: Path, identity: dict[str, Any], overwrite: bool, option: str,
           outputs: Sequence[str]) -> str | None:
    owner_file = folder / OWNER_FILE
    present = [name for name in outputs if (folder / name).exists()]
    owner: Any = None
    if owner_file.is_file():
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            owner = f"unreadable ({err})"
    if owner is not None and owner != identity and present:
        what = _differences(owner, identity) if isinstance(owner, dict) else [f"{OWNER_FILE} is {owner}"]
    elif owner is None and present:
        what = [f"no {OWNER_FILE} says what produced {', '.join(present)}"]
    else:
        what = []
    if what and not overwrite:
        return (f"{folder}: holds outputs of another run, which this one would take for its own: {'; '.join(what)}; "
                f"use another output folder, the same settings to resume, or {option}=true to start over")
    if what:
        log.warning("%s: removing the outputs of another run (%s=true): %s", folder, option, "; ".join(what))
        for name in [*present, OWNER_FILE]:
            target = folder / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    owner_file.write_text(json.dumps(identity, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return None


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: old there, new now`` for every value that differs, nested keys dotted."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "(absent)"), new.get(key, "(absent)")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} there, {b!r} now")
    return lines
