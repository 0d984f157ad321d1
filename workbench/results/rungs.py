"""The fidelity ladder: the rungs a study scored on, the frame as seen on one rung, and a table
of the rungs."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from workbench import record
from workbench.record import Objective, finite_number
from workbench.results.frame import ACCURACY_SE, SCORED, _binomial_se
from workbench.results.front import dedupe_architectures, pareto_front
from workbench.stats import wilson_interval


def rungs(frame: pd.DataFrame) -> list[float]:
    """The ladder rungs any trial of the frame was scored on, lowest first ([] without a ladder).

    Example:
        >>> rungs(pd.DataFrame({"accuracy_by_rung": [{"1": 0.7, "3": 0.8}, {"1": 0.6}, None]}))
        [1.0, 3.0]
    """
    if record.ACCURACY_BY_RUNG not in frame:
        return []
    found = {float(key) for value in frame[record.ACCURACY_BY_RUNG] if isinstance(value, dict) for key in value}
    return sorted(found)


def at_rung(frame: pd.DataFrame, rung: float) -> pd.DataFrame:
    """The frame as seen on one rung of a ladder: every trial that reached `rung` is scored
    with its accuracy there (stopped trials included; Wilson interval and binomial se from its
    validation size), every other trial is not scored. The top rung gives the usual frame's
    scored set; lower rungs hold more, and shorter-trained, candidates.

    Example:
        >>> # Trial 0 went on to rung 3; trial 1 was stopped after rung 1.
        >>> frame = pd.DataFrame({"number": [0, 1], "state": "COMPLETE", "status": ["complete", "stopped"],
        ...                       "scored": [True, False], "accuracy": [0.8, None], "macs": [2e6, 1e6],
        ...                       "val_size": 100.0, "accuracy_by_rung": [{"1": 0.75, "3": 0.8}, {"1": 0.5}]})
        >>> at_rung(frame, 1)[["accuracy", "scored"]].values.tolist()
        [[0.75, True], [0.5, True]]
    """
    key = f"{rung:g}"
    out = frame.copy()
    by_rung = out.get(record.ACCURACY_BY_RUNG, [None] * len(out))
    values = [(v.get(key) if isinstance(v, dict) else None) for v in by_rung]
    violations = [c for c in out.columns if c.startswith("violation_")]
    within = (out[violations].fillna(0.0) <= 0).all(axis=1) if violations else pd.Series(True, index=out.index)
    reached = pd.Series([finite_number(v) is not None for v in values], index=out.index) & within
    out[record.ACCURACY] = [float(v) if ok else np.nan for v, ok in zip(values, reached)]
    out[SCORED] = reached
    out["feasible"] = reached
    intervals = [wilson_interval(a, int(n)) if ok and math.isfinite(n) else (None, None)
                 for a, n, ok in zip(out[record.ACCURACY], out[record.VAL_SIZE], reached)]
    out[record.ACCURACY_CI_LOW] = [np.nan if low is None else low for low, _ in intervals]
    out[record.ACCURACY_CI_HIGH] = [np.nan if high is None else high for _, high in intervals]
    out[record.ACCURACY_SD] = np.nan
    out[record.ACCURACY_SAMPLES] = [[a] if ok else None for a, ok in zip(out[record.ACCURACY], reached)]
    out[ACCURACY_SE] = [_binomial_se(a, n) for a, n in zip(out[record.ACCURACY], out[record.VAL_SIZE])]
    out.attrs = dict(frame.attrs, rung=float(rung))
    return out


def rung_table(frame: pd.DataFrame, objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """Per ladder rung: the architectures scored on it, how many went on to the next rung, their
    median accuracy there and the size of that rung's front ([] without a ladder).

    Example:
        >>> from workbench.record import OBJECTIVES
        >>> frame = pd.DataFrame({"number": [0, 1], "state": "COMPLETE", "status": ["complete", "stopped"],
        ...                       "scored": [True, False], "accuracy": [0.8, None], "macs": [2e6, 1e6],
        ...                       "val_size": 100.0, "accuracy_by_rung": [{"1": 0.75, "3": 0.8}, {"1": 0.5}]})
        >>> for row in rung_table(frame, [OBJECTIVES["accuracy"], OBJECTIVES["macs"]]):
        ...     print(row)
        {'rung': 1.0, 'scored': 2, 'promoted': 1, 'median_accuracy': 0.625, 'front': 2}
        {'rung': 3.0, 'scored': 1, 'promoted': None, 'median_accuracy': 0.8, 'front': 1}
    """
    table = []
    levels = rungs(frame)
    for index, rung in enumerate(levels):
        view = dedupe_architectures(at_rung(frame, rung))
        scored = view[view[SCORED]]
        promoted = None
        if index + 1 < len(levels):
            promoted = int(dedupe_architectures(at_rung(frame, levels[index + 1]))[SCORED].sum())
        table.append({"rung": rung, "scored": int(len(scored)), "promoted": promoted,
                      "median_accuracy": float(scored[record.ACCURACY].median()) if len(scored) else None,
                      "front": int(len(pareto_front(view, objectives)))})
    return table


