"""`Budgets`: the one description of hard limits on a trial's cost figures.

The search space holds one (its schema refuses limits that are not positive), the study stores
it, and picks and views honour one; every part reads the same class.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.record.keys import TARGET_SEP
from workbench.record.objectives import BUDGET_COLUMNS, budget_column


class Budgets(BaseModel):
    """Hard limits a search, a pick or a view honours; None means unbounded.

    `max_latency_ms` is one limit on the first latency target, or limits by target name
    (`{ort-int8: 2.0}`, budgets named `max_latency_ms:ort-int8`).

    Example:
        >>> Budgets(max_macs=2e7).describe(), Budgets().describe()
        ('max_macs=2e+07', 'no budgets')
        >>> Budgets(max_latency_ms={"ort-int8": 2.0}).limits()
        {'max_latency_ms:ort-int8': 2.0}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_params: Optional[float] = Field(None, ge=0)
    max_macs: Optional[float] = Field(None, ge=0)
    max_latency_ms: Optional[Union[float, dict[str, float]]] = None

    @field_validator("max_latency_ms")
    @classmethod
    def _non_negative(cls, value: Any) -> Any:
        limits = value.values() if isinstance(value, dict) else [] if value is None else [value]
        for limit in limits:
            if limit < 0:
                raise ValueError(f"must be at least 0, got {limit:g}")
        for name in value if isinstance(value, dict) else []:
            if TARGET_SEP in name or not name:
                raise ValueError(f"'{name}' is not a latency target name")
        return value

    @classmethod
    def from_stored(cls, stored: Any) -> "Budgets":
        """The budgets a study stored (unknown keys of other versions ignored; None: no budgets)."""
        stored = stored if isinstance(stored, dict) else {}
        return cls(**{k: v for k, v in stored.items() if k in BUDGET_COLUMNS})

    def limits(self) -> dict[str, float]:
        """The bounded budgets only, by budget name (`max_latency_ms:<target>` for a per-target limit)."""
        limits: dict[str, float] = {}
        for name, limit in self.model_dump().items():
            if isinstance(limit, dict):
                limits.update({f"{name}{TARGET_SEP}{target}": float(v) for target, v in limit.items()})
            elif limit is not None:
                limits[name] = float(limit)
        return limits

    def targets(self) -> list[str]:
        """The latency targets named by per-target budgets."""
        return list(self.max_latency_ms) if isinstance(self.max_latency_ms, dict) else []

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """True for rows within every budget (rows missing a budgeted figure are out)."""
        keep = pd.Series(True, index=frame.index)
        for budget, limit in self.limits().items():
            column = budget_column(budget)
            if column not in frame:
                return pd.Series(False, index=frame.index)
            keep &= frame[column].notna() & (frame[column] <= limit)
        return keep

    def describe(self) -> str:
        """'max_macs=2e+07, max_latency_ms=5' or 'no budgets'."""
        parts = [f"{k}={v:g}" for k, v in self.limits().items()]
        return ", ".join(parts) if parts else "no budgets"
