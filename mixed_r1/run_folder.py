"""A run folder belongs to one live run: a second run started into it (by hand, or two jobs of a SLURM array that
start in the same second) is refused, instead of unlinking the first one's metrics lines and overwriting its
checkpoints. The owner is recorded in ``<run>/run.lock`` (host, pid, start time); a lock left by a process that
is gone (same host) is taken over with a message. Default run folders carry the job's id or pid besides the
second (:func:`mixed_r1.engine.distributed.run_stamp`), so two runs do not pick the same folder in the first place."""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from mixed_r1.engine.distributed import broadcast_object, is_main
from mixed_r1.errors import ConfigError

LOCK = "run.lock"
log = logging.getLogger("mixed_r1")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _holder(lock: Path) -> dict[str, object] | None:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None  # vanished or torn between our create attempt and this read: treated as free


@contextlib.contextmanager
def owned(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for the block (rank 0 of a run calls this): refuse a folder a live run holds, take over one
    whose holder died on this host, release it on the way out."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None:
                continue
            host, pid = holder.get("host"), holder.get("pid")
            if host == me["host"] and isinstance(pid, int) and not _alive(pid):
                log.warning("%s: taking over the run folder from pid %s on %s, which is no longer running", run_dir, pid,
                            host)
                lock.unlink(missing_ok=True)
                continue
            where = "this host" if host == me["host"] else f"host {host}"
            raise ConfigError(f"{run_dir} is in use by another run (pid {pid} on {where}, started "
                              f"{holder.get('started')}): give this run its own folder (hydra.run.dir=...); if that run "
                              f"is gone, delete {lock}") from None
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ConfigError(f"{run_dir}: disk full, cannot even write {LOCK}") from None
            raise
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    else:
        raise ConfigError(f"{lock}: could not take the run folder's lock (it keeps changing hands)")
    try:
        yield
    finally:
        if _holder(lock) == me:
            lock.unlink(missing_ok=True)


@contextlib.contextmanager
def owned_by_this_run(run_dir: Path) -> Iterator[None]:
    """:func:`owned` on rank 0, its verdict on every rank (all refuse together, none waits in a collective)."""
    held = contextlib.ExitStack()
    refusal = None
    if is_main():
        try:
            held.enter_context(owned(run_dir))
        except ConfigError as err:
            refusal = str(err)
    refusal = broadcast_object(refusal)
    if refusal is not None:
        raise ConfigError(refusal)
    with held:
        yield
