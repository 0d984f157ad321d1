"""Pareto fronts and hypervolume over the scored feasible trials, each architecture once.

Fronts and hypervolumes use Optuna's own implementations (the code behind `Study.best_trials`
and `plot_hypervolume_history`, reached through `workbench.storage`), so our fronts equal
Optuna's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from workbench import record
from workbench.record import Budgets, Objective
from workbench.results.frame import scored_mask
from workbench.storage import hypervolume as _hypervolume
from workbench.storage import pareto_mask


def loss_matrix(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Objective values as losses (maximised objectives negated), as Optuna compares them."""
    columns = []
    for objective in objectives:
        values = frame[objective.column].to_numpy(dtype=float)
        columns.append(-values if objective.direction == "maximize" else values)
    return np.stack(columns, axis=1) if columns else np.empty((len(frame), 0))


def dedupe_architectures(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture (`arch_hash`): the original trial rather than a `reused`
    copy, else the earliest; rows without a hash are kept. The row order is kept.

    Example:
        >>> frame = pd.DataFrame({"number": [0, 1, 2, 3], "status": ["reused", "complete", "complete", "complete"],
        ...                       "arch_hash": ["b", "b", "a", None]})
        >>> dedupe_architectures(frame)["number"].tolist()   # trial 0 is a copy of trial 1's architecture
        [1, 2, 3]
    """
    if frame.empty or record.ARCH_HASH not in frame:
        return frame
    hashed = frame[frame[record.ARCH_HASH].notna()]
    order = hashed.assign(_copy=hashed["status"].eq("reused")).sort_values(["_copy", "number"])
    keep = set(order.drop_duplicates(record.ARCH_HASH).index) | set(frame.index[frame[record.ARCH_HASH].isna()])
    return frame[frame.index.isin(keep)]


def candidates(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.DataFrame:
    """Scored, feasible, completed trials with every objective present, within the budgets,
    one per architecture (`dedupe_architectures`)."""
    if frame.empty:
        return frame
    keep = (frame["state"] == "COMPLETE") & frame["feasible"].astype(bool) & scored_mask(frame)
    for objective in objectives:
        keep &= frame[objective.column].notna()
    if budgets is not None:
        keep &= budgets.mask(frame)
    return dedupe_architectures(frame[keep])


def pareto_front(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.DataFrame:
    """The non-dominated scored, feasible trials for the given objectives (any pair or
    triple), one per architecture, sorted by the first cost objective. With the study's own
    objectives and no budgets this equals Optuna's `study.best_trials` less its never-scored
    trials and `reused` copies.

    Example:
        >>> from workbench.record import OBJECTIVES
        >>> # accuracy ^ 0 (0.9, 2M)  1 (0.8, 3M): dominated by 0  2 (0.7, 1M)  3 never scored (0.0 stored)
        >>> frame = pd.DataFrame({"number": [0, 1, 2, 3], "state": "COMPLETE", "feasible": True,
        ...                       "scored": [True, True, True, False], "accuracy": [0.9, 0.8, 0.7, 0.0],
        ...                       "macs": [2e6, 3e6, 1e6, 5e5]})
        >>> pareto_front(frame, [OBJECTIVES["accuracy"], OBJECTIVES["macs"]])["number"].tolist()
        [2, 0]
    """
    pool = candidates(frame, objectives, budgets)
    if pool.empty:
        return pool
    on_front = pareto_mask(loss_matrix(pool, objectives))
    front = pool[on_front]
    sort_column = next((o.column for o in objectives if o.direction == "minimize"), objectives[0].column)
    return front.sort_values([sort_column, "number"])


def reference_point(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """A stated reference point for hypervolume, in loss space: 0 for a maximised accuracy
    (no accuracy), and 1.1 x the worst scored feasible value for each cost."""
    pool = candidates(frame, objectives)
    point = []
    for objective in objectives:
        if objective.direction == "maximize":
            point.append(0.0)
        else:
            worst = float(pool[objective.column].max()) if not pool.empty else 1.0
            point.append(worst * 1.1 if worst > 0 else 1.0)
    return np.asarray(point, dtype=float)


def hypervolume(frame: pd.DataFrame, objectives: Sequence[Objective], reference: np.ndarray | None = None) -> float:
    """Hypervolume of the scored feasible trials (Optuna's WFG implementation) w.r.t.
    `reference`, given in loss space (see `reference_point`)."""
    reference = reference_point(frame, objectives) if reference is None else np.asarray(reference, dtype=float)
    pool = candidates(frame, objectives)
    if pool.empty:
        return 0.0
    return _hypervolume(loss_matrix(pool, objectives), reference)


def arrivals_on_front(losses: np.ndarray) -> np.ndarray:
    """For rows in arrival order: True where no earlier row weakly dominates the row (is at
    most as large in every loss).

    Example:
        >>> arrivals_on_front(np.array([[2.0, 2.0], [3.0, 3.0], [1.0, 3.0], [2.0, 2.0]])).tolist()
        [True, False, True, False]
    """
    keep = np.zeros(len(losses), dtype=bool)
    kept = np.empty((0, losses.shape[1]))
    for i, point in enumerate(losses):
        if not np.any(np.all(kept <= point, axis=1)):
            keep[i] = True
            kept = np.vstack([kept, point])
    return keep


def hypervolume_history(frame: pd.DataFrame, objectives: Sequence[Objective],
                        reference: np.ndarray | None = None) -> pd.DataFrame:
    """Hypervolume after each trial number (columns `number`, `hypervolume`), with the
    reference point of the whole study so the curve is comparable from start to end; only
    scored feasible trials add to it.

    A trial weakly dominated by an earlier candidate never changes the hypervolume (the earlier
    one already covers its box), so the hypervolume is computed only where a trial arrives on
    the front (`arrivals_on_front`: a few dozen in a typical study) and carried forward across
    the others: well under a second at 10,000 trials.

    Example:
        >>> import pandas as pd
        >>> from workbench.record import OBJECTIVES
        >>> # Trial 0 covers accuracy [0, 0.75) x MACs [2, 4): 1.5. Trial 1 is dominated by it;
        >>> # trial 2 adds accuracy [0, 0.5) x MACs [1, 2): 0.5.
        >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "feasible": True, "scored": True,
        ...                       "accuracy": [0.75, 0.5, 0.5], "macs": [2.0, 3.0, 1.0]})
        >>> axes = [OBJECTIVES["accuracy"], OBJECTIVES["macs"]]
        >>> hypervolume_history(frame, axes, reference=[0.0, 4.0])["hypervolume"].tolist()
        [1.5, 1.5, 2.0]
    """
    reference = reference_point(frame, objectives) if reference is None else np.asarray(reference, dtype=float)
    if frame.empty:
        return pd.DataFrame(columns=["number", "hypervolume"])
    numbers = frame["number"].sort_values().to_numpy()
    pool = candidates(frame, objectives).sort_values("number")
    values = np.zeros(len(numbers))
    if not pool.empty:
        losses = loss_matrix(pool, objectives)
        arrived = arrivals_on_front(losses)
        pool_numbers = pool["number"].to_numpy()
        steps = pd.Series([_hypervolume(losses[:i + 1][arrived[:i + 1]], reference) for i in np.flatnonzero(arrived)],
                          index=pool_numbers[arrived])
        values = steps.reindex(numbers).ffill().fillna(0.0).to_numpy(dtype=float)
    return pd.DataFrame({"number": numbers, "hypervolume": values})
