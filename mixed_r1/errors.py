"""Errors a user can fix (bad data, inconsistent config): entry points print them without a stack trace."""
from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class UserError(ValueError):
    """Base of errors whose message alone tells the user what to fix."""


class DataError(UserError):
    """A sample or data file that violates the schema; the message names the file, line and id."""


class ConfigError(UserError):
    """A configuration that cannot run (e.g. a batch larger than the dataset)."""


class StorageError(UserError):
    """A write the disk could not take (full disk, quota); the message names the path and what was kept."""


class Preempted(UserError):
    """The run was asked to stop (SIGTERM, how SLURM preempts); the message says what was saved."""


class TrainingDiverged(UserError):
    """Too many consecutive steps with a non-finite loss or reward."""


def exit_on_user_error(run: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``run(*args, **kwargs)``; a :class:`UserError` ends the process with its one-line message (the message
    says what to fix; a stack trace would only hide it). Every entry point runs through it."""
    try:
        return run(*args, **kwargs)
    except UserError as err:
        sys.exit(f"error: {err}")
