"""Storage failures a user can act on, turned into one line (`WorkbenchError`, exit 2).

A read-only file, a directory the database cannot be written in, a database locked by another
program, or a server that went away surface from SQLAlchemy and Optuna as long tracebacks
ending in messages such as "invalid data in the commit"; `storage_errors(url)` names the
storage and the likely cause instead. Nothing already stored is touched.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from workbench.errors import WorkbenchError

# Fragments of driver messages, and what to tell the user about each.
_CAUSES = (
    ("readonly", "is read-only (check the file's and its folder's permissions)"),
    ("read-only", "is read-only (check the file's and its folder's permissions)"),
    ("unable to open database", "cannot be opened for writing (check the folder exists and is writable)"),
    ("database is locked", "is locked by another program; wait for it or use another --storage"),
    ("permission denied", "cannot be written (permission denied)"),
    ("operation not permitted", "cannot be written (operation not permitted: an immutable file or folder?)"),
    ("read-only file system", "cannot be written (a read-only file system)"),
    ("disk i/o error", "cannot be written (disk I/O error: full disk or a read-only mount?)"),
    ("database or disk is full", "cannot be written (the disk is full)"),
    ("no space left on device", "cannot be written (the disk is full)"),
    # Optuna's own wrapping of a failed commit; over gRPC the driver's message is lost behind it.
    ("exception is raised during the commit", "could not commit a write (a full disk, or the database refused it)"),
    ("file too large", "cannot be written (the file reached its size limit: `ulimit -f` or a quota?)"),
    # gRPC's status when the server stopped mid-run (Optuna's client then fails on its own `UnboundLocalError`).
    ("statuscode.unavailable", "stopped answering: its server is gone; every finished trial is kept, and the same "
                               "command run again (with the server back) resumes"),
)
SERVER_GONE = _CAUSES[-1][1]


# Where an error raised by a storage comes from (besides the OS itself: OSError).
_DRIVER_MODULES = ("sqlalchemy", "sqlite3", "optuna.storages", "psycopg", "grpc")


def storage_failure_cause(error: BaseException, *, drivers_only: bool = False) -> str | None:
    """What stops the storage being written ("cannot be written (the disk is full)"), read from
    the error's chain, or None when the error is not a storage failure we know. `drivers_only`
    reads only errors raised by the OS or a storage driver (inside a trial, where a numpy
    "read-only" array is not a storage).

    Example:
        >>> storage_failure_cause(OSError(28, "No space left on device"))
        'cannot be written (the disk is full)'
        >>> storage_failure_cause(ValueError("assignment destination is read-only"), drivers_only=True) is None
        True
    """
    texts = []
    current: BaseException | None = error
    while current is not None and len(texts) < 6:  # the driver's message hides in the cause chain
        if not drivers_only or _from_storage(current):
            texts.append(str(current).lower())
        current = current.__cause__ or current.__context__
    joined = " ".join(texts)
    return next((cause for fragment, cause in _CAUSES if fragment in joined), None)


def server_gone(error: BaseException) -> bool:
    """Whether `error` says a gRPC storage server stopped answering.

    Example:
        >>> server_gone(RuntimeError("<_InactiveRpcError ... status = StatusCode.UNAVAILABLE ...>"))
        True
    """
    return storage_failure_cause(error) == SERVER_GONE


def _from_storage(error: BaseException) -> bool:
    return isinstance(error, OSError) or type(error).__module__.startswith(_DRIVER_MODULES)


def describe_storage_error(url: str, error: BaseException) -> str | None:
    """The one-line explanation of a storage failure, or None when it is not one we know."""
    cause = storage_failure_cause(error)
    return None if cause is None else f"storage '{url}' {cause}"


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Re-raise known storage failures inside the block as `WorkbenchError` naming `url`."""
    try:
        yield
    except WorkbenchError:
        raise
    except Exception as error:  # noqa: BLE001 - filtered by message below; anything else propagates
        message = describe_storage_error(url, error)
        if message is None:
            raise
        raise WorkbenchError(message) from error
