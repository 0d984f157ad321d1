"""Per-iteration timers (host clock on the CPU, CUDA events on a GPU), the settings that
must be pinned while timing and restored afterwards, and the summary of repeated timings."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
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


@dataclass(frozen=True)
class TimingStats:
    """Median (the headline), p90, mean, sample standard deviation and coefficient of
    variation (std / mean) of timings in milliseconds."""

    p50_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    samples: int


def summarize(samples_ms: Sequence[float]) -> TimingStats:
    """Summarize timings; percentiles interpolate linearly (numpy's default).

    Example:
        >>> s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
        >>> s.p50_ms, s.p90_ms, round(s.cv, 4)
        (3.0, 4.6, 0.527)
    """
    if not samples_ms:
        raise ValueError("no samples to summarize")
    values = np.asarray(samples_ms, dtype=float)
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return TimingStats(
        p50_ms=float(np.median(values)),
        p90_ms=float(np.percentile(values, 90)),
        mean_ms=mean,
        std_ms=std,
        cv=std / mean if mean > 0 else 0.0,
        samples=int(values.size),
    )
