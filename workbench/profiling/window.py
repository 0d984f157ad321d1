"""The exclusive timing window: while one process of a search times a model, the same host's
other processes of that search neither train nor time.

Two processes of `--workers auto` share the cores; a model timed while the other one trains is
timed on half a machine, and the ranking of two passes falls apart (Kendall tau 0.0-0.4 measured
on the digits space). The window is a pair of `flock` locks on files named by the search:

- compute (a training step, an evaluation batch, a graph export, a quantization) holds the main
  lock *shared*, so any number of processes compute at once;
- timing holds it *exclusive*, so it starts only when no process is inside a compute unit and
  none enters one until the timing ends.

A plain reader-writer `flock` lets a stream of shared holders starve the writer (a trainer frees
and retakes its lock between steps faster than the waiting timer is woken), so a *gate* lock
comes first: a timer holds the gate exclusive while it waits, and a compute unit passes the gate
(shared, released at once) before it takes the main lock. A compute unit is short (one step), so
a timer waits at most one unit.

The window is off unless `WORKBENCH_TIMING_WINDOW` names a lock file; the search runner sets it
for its workers (one file per study and storage, in the temp folder). Locks die with their
process, so a killed worker never wedges the others. Platforms without `fcntl` run unlocked.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock, the window is off
    fcntl = None  # type: ignore[assignment]

ENV_VAR = "WORKBENCH_TIMING_WINDOW"


class TimingWindow:
    """Shared (compute) and exclusive (timing) holds on one lock file and its gate.

    Holds nest: a compute unit inside a compute unit takes nothing more, and a timing started
    inside a compute unit gives the shared hold up while it waits (two timers each holding a
    shared lock while waiting for the exclusive one would wait for ever) and takes it back after.

    Example:
        >>> import tempfile, os
        >>> window = TimingWindow(os.path.join(tempfile.mkdtemp(), "w.lock"))
        >>> with window.compute():
        ...     with window.timing() as waited:
        ...         waited >= 0.0
        True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._main: IO[bytes] | None = None
        self._gate: IO[bytes] | None = None
        self._depth = 0
        self.waited_seconds = 0.0  # total time this process waited for the window (timing and compute)

    def _files(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._main is None or self._gate is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._main = open(self.path, "ab")  # noqa: SIM115 - held for the process's life
            self._gate = open(f"{self.path}.gate", "ab")  # noqa: SIM115
        return self._main, self._gate

    @contextmanager
    def compute(self) -> Iterator[None]:
        """Hold the window shared for one unit of compute (a training step, say)."""
        if fcntl is None or self._depth > 0:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        main, gate = self._files()
        started = time.perf_counter()
        fcntl.flock(gate, fcntl.LOCK_SH)
        fcntl.flock(main, fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        self.waited_seconds += time.perf_counter() - started
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            fcntl.flock(main, fcntl.LOCK_UN)

    @contextmanager
    def timing(self) -> Iterator[float]:
        """Hold the window exclusive while timing; yields the seconds waited for it."""
        if fcntl is None:
            yield 0.0
            return
        main, gate = self._files()
        started = time.perf_counter()
        if self._depth > 0:
            fcntl.flock(main, fcntl.LOCK_UN)
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(main, fcntl.LOCK_EX)
        waited = time.perf_counter() - started
        self.waited_seconds += waited
        try:
            yield waited
        finally:
            fcntl.flock(main, fcntl.LOCK_SH if self._depth > 0 else fcntl.LOCK_UN)
            fcntl.flock(gate, fcntl.LOCK_UN)


class _Off:
    """The window when no search shares the host: holds nothing, waits for nothing."""

    path = None
    waited_seconds = 0.0

    @contextmanager
    def compute(self) -> Iterator[None]:
        yield

    @contextmanager
    def timing(self) -> Iterator[float]:
        yield 0.0


_windows: dict[str, TimingWindow] = {}
_OFF = _Off()


def host_window() -> TimingWindow | _Off:
    """This process's window: the lock file `WORKBENCH_TIMING_WINDOW` names, else one that is off.

    Example:
        >>> import os
        >>> os.environ.pop(ENV_VAR, None) and None
        >>> host_window().path is None
        True
    """
    path = os.environ.get(ENV_VAR)
    if not path:
        return _OFF
    if path not in _windows:
        _windows[path] = TimingWindow(path)
    return _windows[path]


@contextmanager
def search_window(storage: str, study: str) -> Iterator[str]:
    """Turn the window on for this process and the workers it starts (they inherit the
    environment) while a search of `study` on `storage` runs; yields the lock file."""
    path = window_path(storage, study)
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous


def window_path(storage: str, study: str) -> str:
    """The lock file of one study's search on this host (the temp folder, named by a hash of the
    storage and study, so two searches of the same study share it and other searches do not)."""
    digest = hashlib.sha256(f"{storage}\0{study}".encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"workbench-timing-{digest}.lock")
