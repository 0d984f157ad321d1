"""Summary statistics of repeated timings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


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
