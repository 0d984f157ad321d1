"""Objectives and budgets: which record key each objective and each budget reads, and the
one rule of feasibility."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from workbench.record.keys import (
    ACCURACY,
    CONSTRAINT_LATENCY,
    CONSTRAINT_MACS,
    CONSTRAINT_PARAMS,
    INT8,
    INT8_COLUMNS,
    LATENCY_P50,
    LATENCY_P90,
    LATENCY_TARGETS,
    MACS,
    PARAMS,
    TARGET_FIGURES,
    TARGET_SEP,
)


@dataclass(frozen=True)
class Objective:
    """An objective a study can optimise: its name, the record key holding its value, and
    its direction."""

    name: str
    column: str
    direction: Literal["maximize", "minimize"]


OBJECTIVES: dict[str, Objective] = {
    "accuracy": Objective("accuracy", ACCURACY, "maximize"),
    "macs": Objective("macs", MACS, "minimize"),
    "params": Objective("params", PARAMS, "minimize"),
    "latency_ms": Objective("latency_ms", LATENCY_P50, "minimize"),
}

# The one map between budgets and figures: budget field (also the constraint's name) -> the
# record key it limits. Searches, results, the dashboard and the report all read it from here.
BUDGET_COLUMNS: dict[str, str] = {
    CONSTRAINT_PARAMS: PARAMS,
    CONSTRAINT_MACS: MACS,
    CONSTRAINT_LATENCY: LATENCY_P50,
}
# Cost columns a user may put on the x axis or budget, with their budget keys.
COST_COLUMNS: dict[str, str] = {
    **{column: budget for budget, column in BUDGET_COLUMNS.items()},
    LATENCY_P90: CONSTRAINT_LATENCY,
}


def target_column(column: str, target: str) -> str:
    """The frame column of one target's figure: `latency_p50_ms:ort-int8`.

    Example:
        >>> target_column("latency_p50_ms", "ort-int8")
        'latency_p50_ms:ort-int8'
    """
    return f"{column}{TARGET_SEP}{target}"


def split_target(name: str) -> tuple[str, str | None]:
    """`latency_ms:ort-int8` -> ('latency_ms', 'ort-int8'); a plain name -> (name, None)."""
    base, sep, target = name.partition(TARGET_SEP)
    return (base, target) if sep else (name, None)


def objective(name: str) -> Objective:
    """The objective called `name`: one of `OBJECTIVES`, or `latency_ms:<target>` (that target's p50).

    Raises:
        KeyError: an unknown objective name.

    Example:
        >>> objective("latency_ms:ort-cpu").column, objective("macs").column
        ('latency_p50_ms:ort-cpu', 'macs')
    """
    base, target = split_target(name)
    if target is None and name in OBJECTIVES:
        return OBJECTIVES[name]
    if base == "latency_ms" and target:
        return Objective(name, target_column(LATENCY_P50, target), "minimize")
    raise KeyError(name)


def budget_column(budget: str) -> str:
    """The record column a budget limits: `max_latency_ms:ort-int8` -> `latency_p50_ms:ort-int8`.

    Example:
        >>> budget_column("max_macs"), budget_column("max_latency_ms:ort-int8")
        ('macs', 'latency_p50_ms:ort-int8')
    """
    base, target = split_target(budget)
    column = BUDGET_COLUMNS[base]
    return target_column(column, target) if target else column


def figure(values: Mapping[str, Any], column: str) -> Any:
    """A figure of a record (a trial's attributes or a record being written) by frame column:
    a plain key, a target's figure (`latency_p50_ms:ort-cpu`, None when that target was
    unavailable), or an int8 figure (`int8_accuracy`).

    Example:
        >>> rec = {"macs": 5, "latency_targets": {"o": {"p50_ms": 1.5, "available": True}}}
        >>> figure(rec, "macs"), figure(rec, "latency_p50_ms:o"), figure(rec, "latency_p50_ms:x")
        (5, 1.5, None)
    """
    base, target = split_target(column)
    if target is not None and base in TARGET_FIGURES:
        entry = (values.get(LATENCY_TARGETS) or {}).get(target)
        if not isinstance(entry, dict) or not entry.get("available", True):
            return None
        return entry.get(TARGET_FIGURES[base])
    if column in INT8_COLUMNS:
        entry = values.get(INT8)
        return entry.get(INT8_COLUMNS[column]) if isinstance(entry, dict) and entry.get("available") else None
    return values.get(column)


def within_budgets(constraints: dict[str, float]) -> bool:
    """The one definition of feasible: every constraint value (figure - budget) is <= 0.

    Example:
        >>> within_budgets({"max_macs": -5.0, "max_params": 0.0}), within_budgets({"max_macs": 1.0})
        (True, False)
    """
    return all(float(value) <= 0.0 for value in constraints.values())
