"""Stopping a search: Ctrl-C (SIGINT) and SIGTERM end it the same way.

Either signal interrupts the running trial, which is recorded as interrupted (and retried by the
next run); every finished trial is kept, and the after-search work (the seed-noise runs) is
skipped. SIGTERM is what schedulers, `timeout` and `kill` send; without this it would end the
process before the trial could be marked. A shell that ignores SIGINT (`nohup`, a background job
without job control) hands that setting to the search, which then cannot see Ctrl-C: it says so
once and still stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class StopRequested(KeyboardInterrupt):
    """A stop signal other than Ctrl-C, raised where the search is, like Ctrl-C's KeyboardInterrupt."""


def interrupt_reason(error: KeyboardInterrupt) -> str:
    """The reason an interrupted trial records.

    Example:
        >>> interrupt_reason(KeyboardInterrupt()), interrupt_reason(StopRequested("SIGTERM"))
        ('interrupted by the user (Ctrl-C)', 'interrupted by SIGTERM')
    """
    return f"interrupted by {error}" if isinstance(error, StopRequested) else "interrupted by the user (Ctrl-C)"


def _raise_stop(signum: int, frame: Any) -> None:
    raise StopRequested(signal.Signals(signum).name)


@contextmanager
def stop_on_signals(*, warn: bool = True) -> Iterator[None]:
    """While inside, SIGTERM raises `StopRequested` in the main thread (a no-op elsewhere), and a
    SIGINT ignored by the parent shell is reported once on stderr."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if warn and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        print("workbench search: note: Ctrl-C is ignored in this shell (SIGINT set to ignore, e.g. by nohup); "
              "stop the search with `kill -TERM <pid>`", file=sys.stderr)
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
