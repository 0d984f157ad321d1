"""Objectives and budgets: which record key each objective and each budget reads, and the
one rule of feasibility."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workbench.record.keys import (
    ACCURACY,
    CONSTRAINT_LATENCY,
    CONSTRAINT_MACS,
    CONSTRAINT_PARAMS,
    LATENCY_P50,
    LATENCY_P90,
    MACS,
    PARAMS,
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


def within_budgets(constraints: dict[str, float]) -> bool:
    """The one definition of feasible: every constraint value (figure - budget) is <= 0.

    Example:
        >>> within_budgets({"max_macs": -5.0, "max_params": 0.0}), within_budgets({"max_macs": 1.0})
        (True, False)
    """
    return all(float(value) <= 0.0 for value in constraints.values())
