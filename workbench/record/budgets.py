"""`Budgets`: the one description of hard limits on a trial's cost figures.

The search space holds one (its schema refuses limits that are not positive), the study stores
it, and picks and views honour one; every part reads the same class.
"""

from __future__ import annotations

from typing import Any, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from workbench.record.objectives import BUDGET_COLUMNS


class Budgets(BaseModel):
    """Hard limits a search, a pick or a view honours; None means unbounded.

    Example:
        >>> Budgets(max_macs=2e7).describe(), Budgets().describe()
        ('max_macs=2e+07', 'no budgets')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_params: Optional[float] = Field(None, ge=0)
    max_macs: Optional[float] = Field(None, ge=0)
    max_latency_ms: Optional[float] = Field(None, ge=0)

    @classmethod
    def from_stored(cls, stored: Any) -> "Budgets":
        """The budgets a study stored (unknown keys of other versions ignored; None: no budgets)."""
        stored = stored if isinstance(stored, dict) else {}
        return cls(**{k: v for k, v in stored.items() if k in BUDGET_COLUMNS})

    def limits(self) -> dict[str, float]:
        """The bounded budgets only, by budget name."""
        return {name: float(limit) for name, limit in self.model_dump().items() if limit is not None}

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """True for rows within every budget (rows missing a budgeted figure are out)."""
        keep = pd.Series(True, index=frame.index)
        for budget, limit in self.limits().items():
            column = BUDGET_COLUMNS[budget]
            keep &= frame[column].notna() & (frame[column] <= limit)
        return keep

    def describe(self) -> str:
        """'max_macs=2e+07, max_latency_ms=5' or 'no budgets'."""
        parts = [f"{k}={v:g}" for k, v in self.limits().items()]
        return ", ".join(parts) if parts else "no budgets"
