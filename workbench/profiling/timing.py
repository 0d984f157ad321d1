"""Per-iteration timers (host clock on the CPU, CUDA events on a GPU) and the settings
that must be pinned while timing and restored afterwards."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Protocol

import torch


class Timer(Protocol):
    """Times one call of a step in milliseconds; `now()` is the wall clock in nanoseconds."""

    name: str
    until_stable: bool

    def now(self) -> int: ...

    def time(self, step: Callable[[], Any]) -> float: ...


class CpuTimer:
    """Host clock around the call (`time.perf_counter_ns` unless a fake clock is injected).

    Example:
        >>> import time
        >>> CpuTimer(time.perf_counter_ns).time(lambda: None) >= 0
        True
    """

    name = "perf_counter_ns"
    until_stable = False

    def __init__(self, clock: Callable[[], int]) -> None:
        self.now = clock

    def time(self, step: Callable[[], Any]) -> float:
        start = self.now()
        step()
        return (self.now() - start) / 1e6


class CudaTimer:
    """CUDA events recorded around the call on the current stream, then synchronised."""

    name = "cuda_events"
    until_stable = True

    def __init__(self, clock: Callable[[], int]) -> None:
        self.now = clock
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def time(self, step: Callable[[], Any]) -> float:
        self._start.record()
        step()
        self._end.record()
        self._end.synchronize()
        return float(self._start.elapsed_time(self._end))


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """Pin torch's intra-op thread count (None keeps the current one); yields the count used
    and restores the previous count afterwards."""
    previous = torch.get_num_threads()
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Let cuDNN pick the fastest kernels while timing on a GPU; restore the flag after."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled or previous
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous
