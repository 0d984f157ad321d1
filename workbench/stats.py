"""Small statistics shared by every part that reports an accuracy: binomial intervals,
pooled seed noise, the noise band that decides ties, and Kendall's tau with a bootstrap
interval."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats

Z95 = 1.959963984540054


def wilson_interval(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion `accuracy` out of `n` trials.

    Example:
        >>> low, high = wilson_interval(0.5, 100)
        >>> round(low, 4), round(high, 4)
        (0.4038, 0.5962)
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(float(accuracy), 0.0), 1.0)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference_interval(only_first: int, only_second: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """The difference of two accuracies measured on the same `n` images, (first - second), with
    Agresti and Min's (2005) adjusted Wald interval for paired proportions: half an image is
    added to each cell of the 2x2 agreement table, so no disagreement still gives an interval.

    `only_first` counts the images only the first model got right, `only_second` those only the
    second did. Returns (difference, low, high).

    Example:
        >>> d, low, high = paired_difference_interval(12, 2, 400)
        >>> round(d, 4), round(low, 4), round(high, 4)
        (0.025, 0.0061, 0.0436)
    """
    if n <= 0:
        return float("nan"), -1.0, 1.0
    b, c, m = only_first + 0.5, only_second + 0.5, n + 2.0
    adjusted = (b - c) / m
    variance = ((b + c) - (b - c) ** 2 / m) / (m * m)
    half = z * math.sqrt(max(variance, 0.0))
    return (only_first - only_second) / n, max(-1.0, adjusted - half), min(1.0, adjusted + half)


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on `n` images (at least half an image's worth).

    Example:
        >>> round(binomial_se(0.9, 100), 4)
        0.03
    """
    if n <= 0:
        return float("nan")
    p = min(max(float(accuracy), 0.0), 1.0)
    return max(math.sqrt(p * (1 - p) / n), 0.5 / n)


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """The pooled sample standard deviation of several groups (each one architecture's seeds).

    Groups with fewer than two values add nothing. NaN when no group has two values.

    Example:
        >>> round(pooled_sd([[1.0, 3.0], [2.0, 2.0, 5.0]]), 4)
        1.633
    """
    squares = 0.0
    dof = 0
    for group in groups:
        values = np.asarray([v for v in group if v is not None and math.isfinite(v)], dtype=float)
        if len(values) >= 2:
            squares += float(((values - values.mean()) ** 2).sum())
            dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else float("nan")


def tie_band(se_a: float, se_b: float, z: float = Z95) -> float:
    """The largest accuracy difference two figures with these standard errors can show
    while still being indistinguishable (z times the standard error of the difference).

    Example:
        >>> round(tie_band(0.003, 0.004), 5)
        0.0098
    """
    return z * math.sqrt(se_a * se_a + se_b * se_b)


def kendall_tau_bootstrap(x: Sequence[float], y: Sequence[float], resamples: int = 2000,
                          seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Kendall's tau-b of `x` against `y` and a percentile bootstrap interval over the pairs.

    Example:
        >>> tau, low, high = kendall_tau_bootstrap([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 6, 5])
        >>> round(tau, 3), low <= tau <= high
        (0.867, True)
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(xs) != len(ys) or len(xs) < 3:
        raise ValueError(f"need two equally long series of at least 3 values, got {len(xs)} and {len(ys)}")
    tau = float(scipy_stats.kendalltau(xs, ys).statistic)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        index = rng.integers(0, len(xs), len(xs))
        value = scipy_stats.kendalltau(xs[index], ys[index]).statistic
        if math.isfinite(value):
            draws.append(value)
    if not draws:
        return tau, float("nan"), float("nan")
    alpha = (1 - level) / 2
    return tau, float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))
