"""The fidelity ladder and the zero-cost pre-screen of a space: what they are, and their checks.

A space may declare

* `fidelity: {rungs: [1, 3, 9], unit: epochs, eta: 3}`: every candidate is scored on the
  lowest rung first and goes on to the next only while it sits in the top 1/eta of the
  candidates that reached that rung (`workbench.search.promotion`). With `unit: epochs` a
  promoted candidate keeps training the same model (the schedule spans the top rung); with
  `unit: train_fraction` each rung trains the full recipe again on a larger seeded share of
  the training split.
* `prescreen: {proxy: naswot, keep: 0.25}`: every candidate is first scored by a zero-cost
  proxy (under a second) and trained only while it sits in the top `keep` share of the
  screened candidates (same rule, eta = 1 / keep). Screened-out candidates do not count
  toward `--trials`: a trial slot is a candidate that was trained.

Both are checked before any trial runs; every mistake names its field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FidelityUnit = Literal["epochs", "train_fraction"]
FIDELITY_UNITS: tuple[str, ...] = ("epochs", "train_fraction")


class FidelitySpec(BaseModel):
    """A ladder of growing training budgets: `rungs` in `unit`, promotion to the top 1/`eta`."""

    model_config = ConfigDict(extra="forbid")

    rungs: list[float] = Field(min_length=2)
    unit: str = "epochs"
    eta: float = 3.0

    @field_validator("unit")
    @classmethod
    def _unit(cls, unit: str) -> str:
        if unit not in FIDELITY_UNITS:
            raise ValueError(f"unknown unit '{unit}' (allowed: {', '.join(FIDELITY_UNITS)})")
        return unit

    @field_validator("eta")
    @classmethod
    def _eta(cls, eta: float) -> float:
        if not eta >= 2:
            raise ValueError(f"eta must be at least 2 (the share promoted is 1/eta), got {eta:g}")
        return eta

    @field_validator("rungs")
    @classmethod
    def _increasing(cls, rungs: list[float]) -> list[float]:
        if any(r <= 0 for r in rungs):
            raise ValueError(f"rungs must be positive, got {rungs}")
        for low, high in zip(rungs, rungs[1:]):
            if high <= low:
                raise ValueError(f"rungs must increase, got {rungs} ({high:g} after {low:g})")
        return rungs

    @property
    def top(self) -> float:
        """The highest rung: a candidate's full-fidelity score."""
        return self.rungs[-1]

    def label(self, rung: float) -> str:
        """How a rung is written in records and charts: `3ep`, `0.25data`."""
        return f"{rung:g}ep" if self.unit == "epochs" else f"{rung:g}data"


class PrescreenSpec(BaseModel):
    """Train a candidate only when its zero-cost `proxy` score is in the top `keep` share."""

    model_config = ConfigDict(extra="forbid")

    proxy: str
    keep: float = Field(0.25, gt=0.0, lt=1.0)
    batch_size: int = Field(64, ge=1)

    @property
    def eta(self) -> float:
        """The promotion ratio the screen uses (1 / keep)."""
        return 1.0 / self.keep
