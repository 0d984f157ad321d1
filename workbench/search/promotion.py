"""Who goes on to the next rung: asynchronous successive halving over several objectives.

The rule of MO-ASHA (Schmucker et al., 2021) in its stopping form: when a candidate has been
scored on a rung, all candidates scored on that rung so far (each architecture once, the
workers' included) are put in order by non-dominated sorting of (accuracy at that rung, cost),
ties within a front broken by exclusive hypervolume contribution (larger first). The candidate
goes on when its place is within the first ceil(n / eta) of the n. Nothing waits for
stragglers: a decision uses what the study holds at that moment, so the first candidates on a
rung pass easily and the bar rises as the rung fills.

Points are given in loss form (every column minimised: pass -accuracy); the order does not
depend on the columns' units, because scaling an axis scales every contribution alike.
"""

from __future__ import annotations

import math

import numpy as np

# Optuna's exact hypervolume (the one its TPE uses to break the same kind of tie).
from workbench.storage import hypervolume


def nondominated_ranks(losses: np.ndarray) -> np.ndarray:
    """Front number of each row (0 = not dominated by any row), all columns minimised.

    Example:
        >>> nondominated_ranks(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 2.0]])).tolist()
        [0, 0, 1, 2]
    """
    n = len(losses)
    ranks = np.full(n, -1, dtype=int)
    remaining = np.arange(n)
    rank = 0
    while remaining.size:
        sub = losses[remaining]
        dominated = np.array([np.any(np.all(sub <= row, axis=1) & np.any(sub < row, axis=1)) for row in sub])
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    return ranks


def hypervolume_contributions(losses: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Exclusive hypervolume of each row: what the set loses without it (rows should be
    mutually non-dominated; duplicates contribute 0).

    Example:
        >>> hypervolume_contributions(np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]), np.array([3.0, 3.0])).tolist()
        [1.0, 1.0, 1.0]
    """
    inside = np.all(losses < reference, axis=1)
    total = hypervolume(losses, reference)
    out = np.zeros(len(losses))
    for i in np.flatnonzero(inside):
        out[i] = total - hypervolume(np.delete(losses, i, axis=0), reference)
    return out


def reference_point(losses: np.ndarray) -> np.ndarray:
    """The worst value of each column pushed out by a tenth of its range (1 when flat), so the
    extreme points keep a positive contribution."""
    worst, best = losses.max(axis=0), losses.min(axis=0)
    span = worst - best
    return worst + np.where(span > 0, 0.1 * span, 1.0)


def promotion_order(losses: np.ndarray) -> np.ndarray:
    """Row indices from the most to the least promising: by front, then by hypervolume
    contribution within the front (larger first), then by row order.

    Example:
        >>> promotion_order(np.array([[2.0, 2.0], [0.0, 1.0], [1.0, 0.0]])).tolist()
        [1, 2, 0]
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 2 or not len(losses):
        return np.zeros(0, dtype=int)
    ranks = nondominated_ranks(losses)
    reference = reference_point(losses)
    contribution = np.zeros(len(losses))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        contribution[members] = hypervolume_contributions(losses[members], reference)
    return np.array(sorted(range(len(losses)), key=lambda i: (ranks[i], -contribution[i], i)), dtype=int)


def promoted_count(n: int, eta: float) -> int:
    """How many of `n` candidates on a rung go on: ceil(n / eta), at least one.

    Example:
        >>> [promoted_count(n, 3) for n in (1, 2, 3, 4, 9, 10)]
        [1, 1, 1, 2, 3, 4]
    """
    return max(1, math.ceil(n / eta - 1e-9))


def is_promoted(candidate: int, losses: np.ndarray, eta: float) -> bool:
    """True when row `candidate` of `losses` (every candidate on the rung, itself included)
    is among the first `promoted_count(n, eta)` of `promotion_order`.

    Example:
        >>> points = np.array([[-0.9, 5.0], [-0.8, 5.0], [-0.7, 5.0]])
        >>> is_promoted(0, points, 3), is_promoted(1, points, 3)
        (True, False)
    """
    order = promotion_order(losses)
    return candidate in order[:promoted_count(len(order), eta)].tolist()
