"""Locks that let several searches share one study without doing the same work twice.

* `study_lock(url, storage, study_name)`: a factory of short locks held while a worker counts
  the study's trials and asks for a new one, or claims an architecture (a file lock next to a
  journal or SQLite file, a PostgreSQL advisory lock on PostgreSQL, a lease held by the gRPC
  proxy for `grpc://` workers, `storage.leases`). Every worker of every
  process takes the same lock, so "count, then ask" and "check, then claim" are atomic.
* `exclusive_run(url)`: SQLite has one writer; a second `workbench search` on the same file is
  refused at once with advice (never a traceback, never duplicate work).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from optuna.storages import BaseStorage

from workbench.errors import WorkbenchError
from workbench.storage.leases import LeaseClient
from workbench.storage.proxy import grpc_address
from workbench.storage.urls import journal_path, sqlite_path


class Lock:
    """Held from `__enter__` until `release()` or `__exit__`; release is idempotent."""

    def __init__(self, acquire: Callable[[], Any], release: Callable[[], None]) -> None:
        self._acquire, self._release, self.held = acquire, release, False

    def __enter__(self) -> "Lock":
        self._acquire()
        self.held = True
        return self

    def release(self) -> None:
        """Let other workers in (safe to call twice)."""
        if self.held:
            self.held = False
            self._release()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _file_lock_factory(lock_file: Path) -> Callable[[], Lock]:
    def file_lock() -> Lock:
        handle = open(lock_file, "a+")

        def release() -> None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

        def acquire() -> None:
            fcntl.flock(handle, fcntl.LOCK_EX)

        return Lock(acquire, release)

    return file_lock


def lock_file_for(url: str) -> Path | None:
    """The lock file beside a journal or SQLite database (None for a database server)."""
    path = journal_path(url) or sqlite_path(url)
    return None if path is None else Path(f"{path}.workbench.lock")


def study_lock(url: str, storage: BaseStorage, study_name: str) -> Callable[[], Lock]:
    """A factory of locks that serialise count-and-ask and claim-an-architecture across every
    worker of a study, in any process.

    Example:
        >>> new_lock = study_lock("sqlite:///:memory:", None, "s")
        >>> with new_lock():
        ...     pass
    """
    lock_file = lock_file_for(url)
    if lock_file is not None:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        return _file_lock_factory(lock_file)
    if url.startswith("postgresql"):
        from sqlalchemy import text

        engine = getattr(storage, "engine")
        key = int.from_bytes(study_name.encode()[:7].ljust(7, b"\0"), "big") ^ 0x5742  # stable 63-bit key

        def pg_lock() -> Lock:
            conn = engine.connect()

            def acquire() -> None:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})

            def release() -> None:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                finally:
                    conn.close()

            return Lock(acquire, release)

        return pg_lock
    address = grpc_address(url)
    if address is not None:
        client = LeaseClient(*address)

        def lease_lock() -> Lock:
            lease = client.lease(study_name)
            return Lock(lease.acquire, lease.release)

        return lease_lock
    return lambda: Lock(lambda: None, lambda: None)


@contextmanager
def exclusive_run(url: str) -> Iterator[None]:
    """Hold the run lock of a SQLite study file for a whole search; a second search on the same
    file is refused with advice. Journal files and database servers need no run lock.

    Raises:
        WorkbenchError: another search holds the file.
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True) if str(path.parent) else None
    lock_path = Path(f"{path}.workbench.run")
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise WorkbenchError(
                f"another workbench search ({owner}) is writing {path}; SQLite has one writer. Wait for it to finish, "
                f"or run searches side by side on a journal file (--storage {path.with_suffix('.log')}) or PostgreSQL"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        if not handle.closed:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
