"""Resumable training checkpoints: written atomically, the newest ``keep_last`` kept.

A checkpoint folder ``step_<N>/`` holds the policy as an HF export (loadable with
``from_pretrained``), the engine state in ``engine/`` (optimizer state and update count; under
DeepSpeed its own partitioned checkpoint), each rank's RNG states, the frozen reference when it is not
``model.path`` (after a warm-up), and ``state.pt``: data-sampler position and the step counters. It is
written under a temporary name and renamed when complete, so a run killed while saving never leaves a
half checkpoint that ``resume=auto`` would pick.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixed_r1.data.sampler import PromptSampler
from mixed_r1.engine import Engine
from mixed_r1.engine.distributed import barrier, is_main, rank
from mixed_r1.errors import ConfigError, StorageError
from mixed_r1.models import ModelAdapter

STATE_FILE = "state.pt"
log = logging.getLogger("mixed_r1")


def rng_states() -> dict[str, Any]:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(root: Path, step: int, phase_step: int, adapter: ModelAdapter, engine: Engine,
                    reference_source: Path | None, sampler: PromptSampler, keep_last: int,
                    identity: dict[str, str] | None = None) -> Path:
    """Every rank joins (the policy export and the engine state are collective under DeepSpeed);
    rank 0 writes the shared files, ``state.pt`` last, and renames the folder into place. ``identity``
    (:func:`run_identity`) is kept in ``state.pt``: a resume checks it. A save that fails for lack of space
    removes its partial folder and says so; the previous checkpoint stays as it was."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    if is_main():
        shutil.rmtree(tmp, ignore_errors=True)
    barrier()
    try:
        engine.export(adapter, engine.model, tmp / "policy")
        engine.save_state(tmp / "engine")
        torch.save(rng_states(), tmp / f"rng_rank{rank()}.pt")
        barrier()
        if is_main():
            if reference_source is not None:  # π_ref differs from model.path (a warm-up ran): keep it
                shutil.copytree(reference_source, tmp / "reference")
            torch.save({"step": step, "phase_step": phase_step, "sampler": sampler.state_dict(),
                        "identity": identity or {}}, tmp / STATE_FILE)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as a RuntimeError of its writer
        shutil.rmtree(tmp, ignore_errors=True)
        if _out_of_space(err):
            previous = complete_checkpoints(root)
            kept = f"the previous checkpoint {previous[-1]} is intact" if previous else "no earlier checkpoint exists"
            raise StorageError(f"disk full while writing checkpoint {final} (its partial folder is removed; {kept}): "
                               f"free space on {root}, then run again with resume=auto") from None
        raise
    if is_main():
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in complete_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old)
    barrier()
    return final


def _out_of_space(err: BaseException) -> bool:
    """A full disk or quota, however the writer reported it (an OSError's errno, or the message torch's
    file writer turns it into)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err).lower()
    return "no space left" in text or "disk quota exceeded" in text


def run_identity(values: dict[str, str], data_file: Path) -> dict[str, str]:
    """What a checkpoint must agree with to be resumed by this run: ``values`` (the model family and path,
    the algorithm, the batch, the seed, the number of processes) and the training file's content hash."""
    digest = hashlib.sha256()
    with open(data_file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {**values, "data_sha256": digest.hexdigest()}


def check_identity(checkpoint: Path, state: dict[str, Any], identity: dict[str, str]) -> None:
    """Refuse to resume ``checkpoint`` into a run that differs from the one that wrote it, naming every key
    that differs with both values (an earlier checkpoint without a record is resumed with a warning)."""
    recorded = state.get("identity") or {}
    if not recorded:
        log.warning("resume: %s records no run identity (written by an older version): not checked", checkpoint)
        return
    differ = [f"{key}: checkpoint {recorded.get(key)!r}, this run {identity.get(key)!r}"
              for key in sorted(set(recorded) | set(identity)) if recorded.get(key) != identity.get(key)]
    if differ:
        raise ConfigError(f"resume: {checkpoint} was written by another run ({'; '.join(differ)}); resume it with "
                          f"the settings that wrote it, or start this run in its own folder (hydra.run.dir=...)")


def load_rng_states(checkpoint: Path) -> None:
    """This rank's RNG states as they were (resume needs the same number of processes)."""
    path = checkpoint / f"rng_rank{rank()}.pt"
    if not path.is_file():
        raise ConfigError(f"resume: {checkpoint} has no RNG state for rank {rank()}; resume with the number "
                          f"of processes that wrote it")
    set_rng_states(torch.load(path, weights_only=False))


def complete_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file())


def find_resume_checkpoint(resume: str | None, root: Path) -> Path | None:
    """``resume=auto``: the newest complete checkpoint under ``root`` (None on a fresh run, said in the
    log); a path: that checkpoint, which must be complete."""
    if not resume:
        return None
    if resume == "auto":
        found = complete_checkpoints(root)
        if not found:
            log.info("resume=auto: no checkpoint found in %s, starting fresh", root)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError(f"resume={resume}: not a complete checkpoint (no {STATE_FILE})")
    return path


def kept_reference(checkpoint: Path, run_dir: Path) -> Path | None:
    """Where a resumed run reads (and its checkpoints copy) the frozen reference from: ``run_dir/reference``,
    filled from the checkpoint when missing. Never the checkpoint folder itself: ``keep_last`` deletes
    it a few saves later. None when the reference is ``model.path`` (no warm-up ran)."""
    source = checkpoint / "reference"
    if not source.is_dir():
        return None
    kept = run_dir / "reference"
    if is_main() and not kept.is_dir():
        tmp = run_dir / ".tmp_reference"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        os.replace(tmp, kept)
    barrier()
    return kept


def load_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(checkpoint / STATE_FILE, weights_only=False)
