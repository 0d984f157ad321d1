"""How a study's latency targets disagree: the rank agreement of two targets (Kendall tau with a
bootstrap interval), the architectures whose Pareto membership changes between them, and what
int8 buys on ONNX Runtime (speed-up and accuracy drop per architecture).

Computed once here and drawn by `workbench.figures.engines` for the dashboard and the report.
Only measured figures count: a target that was unavailable for a trial has NaN figures and the
trial is left out of every comparison with that target (never read as 0 ms); each architecture
counts once.

Example:
    >>> import pandas as pd
    >>> # trial: 0      1      2      3 (ort unavailable: NaN, left out)
    >>> frame = pd.DataFrame({"number": [0, 1, 2, 3], "state": "COMPLETE", "status": "complete",
    ...                       "scored": True, "feasible": True, "accuracy": [0.90, 0.92, 0.95, 0.99],
    ...                       "latency_p50_ms:torch": [1.0, 2.0, 3.0, 0.5],
    ...                       "latency_p50_ms:ort": [0.8, 0.6, 1.5, float("nan")]})
    >>> changes = front_changes(frame, "torch", "ort")
    >>> changes.only_first, changes.only_second, changes.both, changes.pool
    ([0], [], [1, 2], 3)
    >>> # pairs (0,1) discordant, (0,2) and (1,2) concordant: tau = (2 - 1) / 3
    >>> round(latency_agreement(frame, "torch", "ort", resamples=50).tau, 4)
    0.3333
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench import record
from workbench.record import OBJECTIVES, Budgets, Objective
from workbench.results.front import candidates, dedupe_architectures, pareto_front
from workbench.stats import kendall_tau_bootstrap

INT8_ACCURACY = "int8_accuracy"
INT8_OBJECTIVE = Objective(INT8_ACCURACY, INT8_ACCURACY, "maximize")
SPEEDUP = "int8_speedup"   # fp32 ORT p50 / int8 ORT p50: > 1 int8 is faster, < 1 it is slower
# The int8 table's columns, in display order (the p50 columns are named by `int8_table`).
INT8_TABLE_COLUMNS = ("number", "fp32_p50_ms", "int8_p50_ms", SPEEDUP, INT8_ACCURACY, "int8_ci_low",
                      "int8_ci_high", "int8_fp32_accuracy", "int8_drop", "int8_drop_ci_low", "int8_drop_ci_high",
                      "int8_host_accuracy", "int8_host_gap", "int8_host_gap_ci_low", "int8_host_gap_ci_high")


def p50(target: str) -> str:
    """The frame column of a target's median latency.

    Example:
        >>> p50("ort-int8")
        'latency_p50_ms:ort-int8'
    """
    return record.target_column(record.LATENCY_P50, target)


def latency_objective(target: str) -> Objective:
    """The minimised objective of a target's p50 (`latency_ms:<target>`)."""
    return record.objective(f"latency_ms{record.TARGET_SEP}{target}")


def _measured(frame: pd.DataFrame, column: str) -> pd.Series:
    """True where `column` holds a finite figure (an unavailable target's NaN is not one)."""
    if column not in frame:
        return pd.Series(False, index=frame.index)
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return pd.Series(np.isfinite(values.to_numpy()), index=frame.index)


def _figure(rows: pd.DataFrame, column: str | None) -> pd.Series:
    """A column's measured figures as floats, NaN where absent or not measured."""
    if column is None or column not in rows:
        return pd.Series(np.nan, index=rows.index)
    return pd.to_numeric(rows[column], errors="coerce").astype(float).where(_measured(rows, column))


def timed_on_both(frame: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Every architecture (once, `dedupe_architectures`) with a measured p50 on both targets,
    whatever its status: a rejected trial's latency is a measurement too, it only has no accuracy."""
    if frame.empty:
        return frame
    both = _measured(frame, p50(first)) & _measured(frame, p50(second))
    return dedupe_architectures(frame[both])


def unavailable(frame: pd.DataFrame, targets: Sequence[str]) -> pd.DataFrame:
    """The trials that `targets` could not time: number, target and the recorded reason (one row each).

    Example:
        >>> frame = pd.DataFrame({"number": [0, 1], "latency_available:ort": [True, False],
        ...                       "latency_reason:ort": [None, "op Foo not supported"]})
        >>> unavailable(frame, ["ort"]).to_dict("records")
        [{'number': 1, 'target': 'ort', 'reason': 'op Foo not supported'}]
    """
    rows = []
    for target in targets:
        available = record.target_column("latency_available", target)
        reason = record.target_column("latency_reason", target)
        if available not in frame:
            continue
        off = frame[frame[available].eq(False)]
        rows += [{"number": int(n), "target": target, "reason": r if isinstance(r, str) and r else "not recorded"}
                 for n, r in zip(off["number"], off[reason] if reason in off else [None] * len(off))]
    return pd.DataFrame(rows, columns=["number", "target", "reason"])


@dataclass(frozen=True)
class Agreement:
    """Kendall's tau-b of two targets' p50 over the `n` architectures timed on both, with its
    95% percentile bootstrap interval (NaN with fewer than 3 architectures)."""

    first: str
    second: str
    n: int
    tau: float
    low: float
    high: float


def latency_agreement(frame: pd.DataFrame, first: str, second: str, *, resamples: int = 2000,
                      seed: int = 0) -> Agreement:
    """How alike two targets rank the architectures timed on both (`timed_on_both`)."""
    pool = timed_on_both(frame, first, second)
    if len(pool) < 3:
        return Agreement(first, second, len(pool), math.nan, math.nan, math.nan)
    tau, low, high = kendall_tau_bootstrap(pool[p50(first)].to_numpy(float), pool[p50(second)].to_numpy(float),
                                           resamples=resamples, seed=seed)
    return Agreement(first, second, len(pool), tau, low, high)


@dataclass(frozen=True)
class FrontChanges:
    """The accuracy-versus-latency fronts of two targets over the same pool (`compared`: the
    scored feasible architectures timed on both, within the budgets): trial numbers on both
    fronts, on the first target's front only and on the second's only."""

    first: str
    second: str
    both: list[int]
    only_first: list[int]
    only_second: list[int]
    compared: list[int]

    @property
    def pool(self) -> int:
        """How many architectures the two fronts were taken over."""
        return len(self.compared)

    @property
    def changed(self) -> list[int]:
        """The architectures whose front membership changes with the target."""
        return sorted(self.only_first + self.only_second)


def front_changes(frame: pd.DataFrame, first: str, second: str, budgets: Budgets | None = None,
                  accuracy: Objective = OBJECTIVES["accuracy"]) -> FrontChanges:
    """Which architectures are on the front (`accuracy` against p50) on one target but not the other."""
    pool = candidates(frame, [accuracy, latency_objective(first), latency_objective(second)], budgets)
    on_first = set(pareto_front(pool, [accuracy, latency_objective(first)])["number"].astype(int))
    on_second = set(pareto_front(pool, [accuracy, latency_objective(second)])["number"].astype(int))
    return FrontChanges(first, second, sorted(on_first & on_second), sorted(on_first - on_second),
                        sorted(on_second - on_first), sorted(int(n) for n in pool["number"]))


def int8_pair(settings: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, str] | None:
    """(fp32 ONNX Runtime target, int8 target) of a study's target settings: the first int8
    target and the first fp32 onnxruntime target, preferring one with the same threads (None
    when the study times no fp32 ORT target: no speed-up then). None without an int8 target.

    Example:
        >>> int8_pair({"torch-cpu": {"engine": "torch", "precision": "fp32"},
        ...            "ort-cpu": {"engine": "onnxruntime", "precision": "fp32", "threads": 1},
        ...            "ort-int8": {"engine": "onnxruntime", "precision": "int8", "threads": 1}})
        ('ort-cpu', 'ort-int8')
        >>> int8_pair({"ort-int8": {"engine": "onnxruntime", "precision": "int8"}}), int8_pair({})
        ((None, 'ort-int8'), None)
    """
    int8 = next((n for n, s in settings.items() if s.get("precision") == "int8"), None)
    if int8 is None:
        return None
    fp32 = [n for n, s in settings.items() if s.get("engine") == "onnxruntime" and s.get("precision", "fp32") == "fp32"]
    threads = settings[int8].get("threads")
    return next((n for n in fp32 if settings[n].get("threads") == threads), fp32[0] if fp32 else None), int8


def int8_table(frame: pd.DataFrame, fp32_target: str | None, int8_target: str) -> pd.DataFrame:
    """Per architecture (once) with an int8 figure: the fp32 and int8 ORT p50, the speed-up
    (fp32 / int8, < 1 where int8 is slower: kept, never clipped) and the int8 accuracy, its drop
    against fp32 (fp32 - int8) with their 95% intervals. NaN where a figure was not measured.

    Example:
        >>> frame = pd.DataFrame({"number": [0, 1], "latency_p50_ms:f": [0.8, 0.6],
        ...                       "latency_p50_ms:q": [0.4, 0.75], "int8_drop": [0.02, 0.005]})
        >>> int8_table(frame, "f", "q")["int8_speedup"].round(3).tolist()   # 0.8 / 0.4, 0.6 / 0.75
        [2.0, 0.8]
    """
    columns = list(INT8_TABLE_COLUMNS)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    measured = _measured(frame, p50(int8_target)) | _measured(frame, "int8_drop")
    rows = dedupe_architectures(frame[measured])
    table = pd.DataFrame({"number": rows["number"].astype(int)}, index=rows.index)
    table["fp32_p50_ms"] = _figure(rows, p50(fp32_target) if fp32_target is not None else None)
    table["int8_p50_ms"] = _figure(rows, p50(int8_target))
    table[SPEEDUP] = table["fp32_p50_ms"] / table["int8_p50_ms"]
    for column in columns[4:]:
        table[column] = _figure(rows, column)
    return table[columns].sort_values("number").reset_index(drop=True)


def host_disagreements(table: pd.DataFrame) -> list[int]:
    """Trials whose host-kernel int8 accuracy differs from the QDQ graph's beyond the paired
    interval (the interval of host - QDQ leaves out 0).

    Example:
        >>> host_disagreements(pd.DataFrame({"number": [1, 2], "int8_host_gap_ci_low": [-0.01, -0.08],
        ...                                  "int8_host_gap_ci_high": [0.01, -0.02]}))
        [2]
    """
    if table.empty or "int8_host_gap_ci_low" not in table:
        return []
    low, high = table["int8_host_gap_ci_low"], table["int8_host_gap_ci_high"]
    return [int(n) for n in table.loc[(low > 0) | (high < 0), "number"]]


def host_text(table: pd.DataFrame) -> str:
    """'the host's int8 kernels agree with the QDQ graph on every architecture' or which differ.

    Example:
        >>> host_text(pd.DataFrame({"number": [2], "int8_host_gap_ci_low": [-0.08],
        ...                         "int8_host_gap_ci_high": [-0.02]}))[:76]
        "the host's int8 kernels differ from the QDQ graph beyond the paired interval"
    """
    differ = host_disagreements(table)
    if not differ:
        return "the host's int8 kernels agree with the QDQ graph's own arithmetic on every architecture"
    which = ", ".join(map(str, differ))
    return (f"the host's int8 kernels differ from the QDQ graph beyond the paired interval on {len(differ)} "
            f"(trial{'s' if len(differ) > 1 else ''} {which}); the int8 accuracy shown is the QDQ graph's")


def int8_front(frame: pd.DataFrame, int8_target: str, budgets: Budgets | None = None) -> pd.DataFrame:
    """The front of int8 accuracy against int8 latency (scored feasible trials, each
    architecture once, within the budgets), cheapest first."""
    if INT8_ACCURACY not in frame or p50(int8_target) not in frame:
        return frame.head(0)
    return pareto_front(frame, [INT8_OBJECTIVE, latency_objective(int8_target)], budgets)


# --- sentences shared by the dashboard and the report --------------------------------------

def agreement_text(agreement: Agreement) -> str:
    """'Kendall tau 0.47 (95% bootstrap interval 0.07 to 0.87) over 6 architectures timed on both'.

    Example:
        >>> agreement_text(Agreement("a", "b", 2, math.nan, math.nan, math.nan))
        'too few architectures timed on both a and b for a rank correlation (2; need 3)'
    """
    if not math.isfinite(agreement.tau):
        return (f"too few architectures timed on both {agreement.first} and {agreement.second} for a rank "
                f"correlation ({agreement.n}; need 3)")
    text = f"Kendall tau {agreement.tau:.2f}"
    if math.isfinite(agreement.low) and math.isfinite(agreement.high):
        text += f" (95% bootstrap interval {agreement.low:.2f} to {agreement.high:.2f})"
    return text + f" over {agreement.n} architectures timed on both"


def changes_text(changes: FrontChanges) -> str:
    """The architectures whose front membership changes, in one sentence.

    Example:
        >>> print(changes_text(FrontChanges("torch", "ort", [1, 2], [0], [3], [0, 1, 2, 3, 4])))  # doctest: +ELLIPSIS
        on the front on torch only: trial 0; on ort only: trial 3; on both: trials 1, 2 (5 scored architectures ...)
    """
    def trials(numbers: list[int]) -> str:
        if not numbers:
            return "none"
        return ("trial " if len(numbers) == 1 else "trials ") + ", ".join(map(str, numbers))

    return (f"on the front on {changes.first} only: {trials(changes.only_first)}; on {changes.second} only: "
            f"{trials(changes.only_second)}; on both: {trials(changes.both)} ({changes.pool} scored architectures "
            "timed on both)")


def speedup_text(table: pd.DataFrame) -> str:
    """'median int8 speed-up 1.62× over 5 architectures; int8 is slower on 2 (trials 1, 3)'.

    Example:
        >>> speedup_text(pd.DataFrame({"number": [0, 1, 2], "int8_speedup": [2.0, 0.8, float("nan")]}))
        'median int8 speed-up 1.40× over 2 architectures; int8 is slower on 1 (trial 1)'
    """
    speed = table[SPEEDUP].astype(float) if SPEEDUP in table else pd.Series(dtype=float)
    known = table[np.isfinite(speed.to_numpy())] if len(speed) else table
    if known.empty:
        return "no architecture was timed on both fp32 and int8"
    slower = known.loc[known[SPEEDUP] < 1, "number"].astype(int).tolist()
    text = f"median int8 speed-up {float(known[SPEEDUP].median()):.2f}× over {len(known)} architectures"
    if not slower:
        return text + "; int8 is faster on every one"
    which = ("trial " if len(slower) == 1 else "trials ") + ", ".join(map(str, slower))
    return text + f"; int8 is slower on {len(slower)} ({which})"
