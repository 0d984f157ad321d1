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


def check_fidelity(fidelity: FidelitySpec | None, prescreen: PrescreenSpec | None, *, source: str,
                   accuracy_source: str, single_objective: bool, repeats: int, recipe_epochs: float | None) -> None:
    """The checks that need the rest of the space; raises `WorkbenchError` naming the field.

    `recipe_epochs` is the epochs the space's recipe states explicitly (None when it does not).
    """
    from workbench.errors import WorkbenchError
    from workbench.training import ZERO_COST_PROXIES

    if prescreen is not None:
        if prescreen.proxy not in ZERO_COST_PROXIES or prescreen.proxy in ("params", "macs"):
            allowed = [p for p in ZERO_COST_PROXIES if p not in ("params", "macs")]
            raise WorkbenchError(f"{source}: prescreen.proxy: unknown zero-cost proxy '{prescreen.proxy}' "
                                 f"(allowed: {', '.join(allowed)})")
        if accuracy_source != "proxy":
            raise WorkbenchError(f"{source}: prescreen: screens candidates before proxy training; accuracy.source "
                                 f"is '{accuracy_source}' (remove prescreen: or use source: proxy)")
        if single_objective:
            raise WorkbenchError(f"{source}: prescreen: ranks candidates on accuracy against cost and needs a "
                                 "multi-objective study (remove scalarization:)")
    if fidelity is None:
        return
    if accuracy_source != "proxy":
        raise WorkbenchError(f"{source}: fidelity.unit: zero-cost scoring has no {fidelity.unit} to vary "
                             f"(accuracy.source is '{accuracy_source}'; use source: proxy or remove fidelity:)")
    if single_objective:
        raise WorkbenchError(f"{source}: fidelity: a ladder promotes on accuracy against cost and needs a "
                             "multi-objective study; a scalarised study prunes with pruner: median")
    if repeats != 1:
        raise WorkbenchError(f"{source}: fidelity: a ladder scores one seed per rung; set repeats: 1 "
                             f"(got {repeats}), and measure the seed noise with noise:")
    if fidelity.unit == "epochs":
        if any(float(r) != int(r) for r in fidelity.rungs):
            raise WorkbenchError(f"{source}: fidelity.rungs: epochs rungs must be whole epochs, got {fidelity.rungs}")
        if recipe_epochs is not None and float(recipe_epochs) != fidelity.top:
            raise WorkbenchError(f"{source}: fidelity.rungs: the top rung ({fidelity.top:g} epochs) is the full "
                                 f"proxy training, but recipe.epochs says {recipe_epochs:g}; make them equal or "
                                 "remove recipe.epochs")
    elif fidelity.top > 1:
        raise WorkbenchError(f"{source}: fidelity.rungs: train_fraction rungs are shares of the training split "
                             f"in (0, 1], got {fidelity.rungs}")
