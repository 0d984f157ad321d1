"""Ties and picks: the trials indistinguishable from the best, the best, the cheapest within a
margin, the knee and a trial by number. Two accuracies within each other's noise
(`workbench.stats.tie_band` of their standard errors) are a tie, and every pick breaks a tie
towards the cheaper trial."""

from __future__ import annotations

import json
import math
import shlex
from typing import Sequence

import numpy as np
import pandas as pd

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.record import OBJECTIVES, Budgets, Objective
from workbench.results.frame import ACCURACY_SE, CONFIRMED_SE
from workbench.results.front import candidates, loss_matrix, pareto_front
from workbench.stats import tie_band

# Which accuracy a pick ranks on: the search's proxy score or `workbench confirm`'s longer runs.
BY_CHOICES: tuple[str, ...] = ("proxy", "confirmed")
CONFIRMED_OBJECTIVE = Objective("confirmed_accuracy", record.CONFIRMED_ACCURACY, "maximize")


# --- ties and picks ------------------------------------------------------------------------

def accuracy_axis(by: str = "proxy") -> tuple[Objective, str]:
    """The accuracy objective a pick ranks on and the column of its standard error.

    Example:
        >>> accuracy_axis("confirmed")[0].column, accuracy_axis("confirmed")[1]
        ('confirmed_accuracy', 'confirmed_se')
    """
    if by == "proxy":
        return OBJECTIVES["accuracy"], ACCURACY_SE
    if by == "confirmed":
        return CONFIRMED_OBJECTIVE, CONFIRMED_SE
    raise WorkbenchError(f"unknown accuracy '{by}' to pick by (allowed: {', '.join(BY_CHOICES)})")


def objectives_by(objectives: Sequence[Objective], by: str = "proxy") -> list[Objective]:
    """The objectives with the accuracy replaced by the one `by` names."""
    accuracy, _ = accuracy_axis(by)
    if by == "proxy":
        return list(objectives)
    if not any(o.column == record.ACCURACY for o in objectives):
        raise WorkbenchError("a pick on confirmed accuracy needs a study whose objectives include accuracy "
                             f"(this one has: {', '.join(o.name for o in objectives)})")
    return [accuracy if o.column == record.ACCURACY else o for o in objectives]


def has_confirmed(frame: pd.DataFrame) -> bool:
    """Whether any trial of the frame carries a confirmed accuracy."""
    return record.CONFIRMED_ACCURACY in frame and bool(frame[record.CONFIRMED_ACCURACY].notna().any())


def confirmed_recipes(frame: pd.DataFrame) -> dict[float, list[int]]:
    """The confirmation recipes (epochs; NaN when not stored) of the confirmed trials, each
    with its trial numbers.

    Example:
        >>> confirmed_recipes(pd.DataFrame({"number": [0, 1, 2], "confirmed_accuracy": [0.3, 0.4, None],
        ...                                 "confirmed_epochs": [1.0, 2.0, None]}))
        {1.0: [0], 2.0: [1]}
    """
    if not has_confirmed(frame):
        return {}
    confirmed = frame[frame[record.CONFIRMED_ACCURACY].notna()]
    epochs = confirmed[record.CONFIRMED_EPOCHS] if record.CONFIRMED_EPOCHS in confirmed else np.nan
    found: dict[float, list[int]] = {}
    for number, value in zip(confirmed["number"], pd.Series(epochs, index=confirmed.index).astype(float)):
        found.setdefault(float(value), []).append(int(number))
    return found


def _require(frame: pd.DataFrame, by: str) -> tuple[Objective, str]:
    accuracy, se_column = accuracy_axis(by)
    name = frame.attrs.get("study") or "NAME"
    if by == "confirmed" and not has_confirmed(frame):
        raise WorkbenchError(f"study '{name}' has no confirmed trials to pick by; "
                             f"run `workbench confirm --study {shlex.quote(name)}` first")
    recipes = confirmed_recipes(frame) if by == "confirmed" else {}
    if len(recipes) > 1:  # a longer run scores higher: figures of two recipes do not rank each other
        listing = "; ".join(f"{_epochs_text(epochs)}: trial{'s' if len(numbers) > 1 else ''} "
                            f"{', '.join(map(str, numbers))}" for epochs, numbers in sorted(recipes.items()))
        longest = max((e for e in recipes if math.isfinite(e)), default=None)
        again = f" --epochs {longest:g}" if longest is not None else ""
        raise WorkbenchError(f"study '{name}' holds confirmed accuracies of {len(recipes)} recipes ({listing}), "
                             "which do not rank each other; bring them to one with "
                             f"`workbench confirm --study {shlex.quote(name)}{again}` (it re-confirms every "
                             "confirmed trial at that recipe), or pick --by proxy")
    return accuracy, se_column


def _epochs_text(epochs: float) -> str:
    return f"{epochs:g} epochs" if math.isfinite(epochs) else "unknown epochs"


def _se(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype(float) if column in frame else pd.Series(np.nan, index=frame.index)


def _band(se_a: float, se_b: float) -> float:
    """The tie band of two standard errors; an unknown (NaN) se adds nothing."""
    return tie_band(*(float(s) if s is not None and math.isfinite(float(s)) else 0.0 for s in (se_a, se_b)))


def _top(pool: pd.DataFrame, accuracy: str, cost: str = record.MACS) -> pd.Series:
    """The most accurate row (exact ties: the cheaper, then the earlier)."""
    return pool.sort_values([accuracy, cost, "number"], ascending=[False, True, True], na_position="last").iloc[0]


def _cheapest(pool: pd.DataFrame, cost: str, accuracy: str) -> pd.Series:
    return pool.sort_values([cost, accuracy, "number"], ascending=[True, False, True], na_position="last").iloc[0]


def _tied_with(pool: pd.DataFrame, row: pd.Series, accuracy: str, se_column: str, slack: float = 0.0) -> pd.Series:
    """True for the rows of `pool` whose accuracy is within `slack` plus the noise band of `row`'s."""
    se = _se(pool, se_column)
    reference_se = float(row[se_column]) if se_column in row else math.nan
    band = se.map(lambda value: _band(reference_se, value))
    return pool[accuracy] >= float(row[accuracy]) - slack - band


def indistinguishable_from_best(frame: pd.DataFrame, budgets: Budgets | None = None, *,
                                by: str = "proxy") -> pd.DataFrame:
    """The scored feasible trials within the budgets (one per architecture) whose accuracy
    cannot be told from the best one's: within `stats.tie_band` of the two standard errors
    (`accuracy_se`, or `confirmed_se` with `by="confirmed"`). Most accurate first; empty when
    nothing is feasible.

    Raises:
        WorkbenchError: `by="confirmed"` on a study with no confirmed trial.

    Example:
        >>> # 0 (0.95, 12M MACs) and 1 (0.945, 7M) tie: 0.005 apart, within 1.96 * sqrt(2) * 0.007 = 0.019;
        >>> # 2 (0.90, 25M) is 0.05 below.
        >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "status": "complete", "scored": True,
        ...                       "feasible": True, "accuracy": [0.95, 0.945, 0.90], "macs": [12e6, 7e6, 25e6],
        ...                       "accuracy_se": 0.007})
        >>> indistinguishable_from_best(frame)["number"].tolist()
        [0, 1]
    """
    accuracy, se_column = _require(frame, by)
    pool = candidates(frame, [accuracy], budgets)
    if pool.empty:
        return pool
    tied = pool[_tied_with(pool, _top(pool, accuracy.column), accuracy.column, se_column)]
    return tied.sort_values([accuracy.column, record.MACS, "number"], ascending=[False, True, True])


def pick_best_accuracy(frame: pd.DataFrame, budgets: Budgets | None = None, *, by: str = "proxy",
                       cost: str = record.MACS) -> pd.Series:
    """The best-accuracy trial within the budgets, ties (`indistinguishable_from_best`) going
    to the cheapest by `cost`.

    Raises:
        WorkbenchError: nothing is feasible within the budgets (the message names the closest
            trials), or `by="confirmed"` on a study with no confirmed trial.

    Example:
        >>> # 0 (0.95, 12M MACs) and 1 (0.945, 7M) tie: 0.005 apart, within 1.96 * sqrt(2) * 0.007 = 0.019;
        >>> # 2 (0.90, 25M) is 0.05 below.
        >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "status": "complete", "scored": True,
        ...                       "feasible": True, "accuracy": [0.95, 0.945, 0.90], "macs": [12e6, 7e6, 25e6],
        ...                       "accuracy_se": 0.007})
        >>> int(pick_best_accuracy(frame)["number"])   # the cheaper of the tie
        1
    """
    accuracy, _ = _require(frame, by)
    tied = indistinguishable_from_best(frame, budgets, by=by)
    if tied.empty:
        raise WorkbenchError(_nothing_feasible(frame, budgets, by))
    return _cheapest(tied, cost, accuracy.column)


def pick_cheapest_within(frame: pd.DataFrame, points: float, cost: str = record.MACS, budgets: Budgets | None = None,
                         *, by: str = "proxy") -> pd.Series:
    """The cheapest trial (by `cost`) whose accuracy is within `points` percentage points of
    the best accuracy under the budgets, widened by the noise band of the two.

    Raises:
        WorkbenchError: negative `points`, nothing feasible, or no confirmed trial with
            `by="confirmed"`.

    Example:
        >>> # 0 (0.95, 12M MACs) and 1 (0.945, 7M) tie: 0.005 apart, within 1.96 * sqrt(2) * 0.007 = 0.019;
        >>> # 2 (0.90, 25M) is 0.05 below.
        >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "status": "complete", "scored": True,
        ...                       "feasible": True, "accuracy": [0.95, 0.945, 0.90], "macs": [12e6, 7e6, 25e6],
        ...                       "accuracy_se": 0.007})
        >>> # Within 6 points (plus the band) of 0.95 all three qualify; the cheapest is trial 1.
        >>> int(pick_cheapest_within(frame, 6.0, budgets=Budgets(max_macs=1e7))["number"])
        1
    """
    if not math.isfinite(points) or points < 0:
        raise WorkbenchError(f"cheapest-within needs a number of points >= 0, got {points:g}")
    accuracy, se_column = _require(frame, by)
    pool = candidates(frame, [accuracy], budgets)
    if pool.empty:
        raise WorkbenchError(_nothing_feasible(frame, budgets, by))
    within = pool[_tied_with(pool, _top(pool, accuracy.column), accuracy.column, se_column, slack=points / 100.0)]
    return _cheapest(within, cost, accuracy.column)


def _normalised_losses(front: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    losses = loss_matrix(front, objectives)
    low, high = losses.min(axis=0), losses.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (losses - low) / span


def pick_knee(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None, *,
              by: str = "proxy") -> pd.Series:
    """The knee of the front: the Pareto trial closest to the ideal point once every
    objective is scaled to [0, 1] over the front (exact ties go to the lower trial number);
    then, if a cheaper front trial (by the first cost objective) is tied with it within the
    noise band, the cheapest such trial.

    Raises:
        WorkbenchError: nothing is feasible within the budgets, or no confirmed trial with
            `by="confirmed"`.

    Example:
        >>> # 0 (0.95, 12M MACs) and 1 (0.945, 7M) tie: 0.005 apart, within 1.96 * sqrt(2) * 0.007 = 0.019;
        >>> # 2 (0.90, 25M) is 0.05 below.
        >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "status": "complete", "scored": True,
        ...                       "feasible": True, "accuracy": [0.95, 0.945, 0.90], "macs": [12e6, 7e6, 25e6],
        ...                       "accuracy_se": 0.007})
        >>> # The front is 1 and 0 (2 is dominated by 0), both at distance 1 of the ideal: the lower
        >>> # number, 0, is the knee, and the cheaper 1 is tied with it.
        >>> int(pick_knee(frame, [OBJECTIVES["accuracy"], OBJECTIVES["macs"]])["number"])
        1
    """
    _, se_column = _require(frame, by)
    axes = objectives_by(objectives, by)
    front = pareto_front(frame, axes, budgets)
    if front.empty:
        raise WorkbenchError(_nothing_feasible(frame, budgets, by))
    distance = np.linalg.norm(_normalised_losses(front, axes), axis=1)
    knee = front.iloc[np.lexsort((front["number"].to_numpy(), distance))[0]]
    accuracy = next((o.column for o in axes if o.column in (record.ACCURACY, record.CONFIRMED_ACCURACY)), None)
    cost = next((o.column for o in axes if o.direction == "minimize"), None)
    if accuracy is None or cost is None:
        return knee
    tied = front[_tied_with(front, knee, accuracy, se_column) & (front[cost] <= knee[cost])]
    return _cheapest(tied, cost, accuracy)


def pick_trial(frame: pd.DataFrame, number: int) -> pd.Series:
    """The row of trial `number`; a missing or unfinished trial is an error."""
    match = frame[frame["number"] == number]
    if match.empty:
        raise WorkbenchError(f"no trial {number} in this study (trials 0..{len(frame) - 1})")
    row = match.iloc[0]
    if not isinstance(row.get(record.ARCH_JSON), str):
        raise WorkbenchError(f"trial {number} has no stored architecture "
                             f"(state {row['state']}, status {row['status']})")
    return row


def pick(frame: pd.DataFrame, spec: str, objectives: Sequence[Objective], budgets: Budgets | None = None, *,
         by: str = "proxy") -> pd.Series:
    """Pick by a spec string: `knee`, `best-accuracy`, `cheapest-within:POINTS` or `trial:N`,
    ranking on the proxy accuracy or (`by="confirmed"`) the confirmed one; `trial:N` names
    one trial whatever `by` says.

    Example:
        >>> # 0 (0.95, 12M MACs) and 1 (0.945, 7M) tie: 0.005 apart, within 1.96 * sqrt(2) * 0.007 = 0.019;
        >>> # 2 (0.90, 25M) is 0.05 below.
        >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "status": "complete", "scored": True,
        ...                       "feasible": True, "accuracy": [0.95, 0.945, 0.90], "macs": [12e6, 7e6, 25e6],
        ...                       "accuracy_se": 0.007})
        >>> int(pick(frame, "best-accuracy", [OBJECTIVES["accuracy"], OBJECTIVES["macs"]])["number"])
        1
        >>> pick(frame, "fastest", [])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        workbench.errors.WorkbenchError: unknown pick 'fastest' (allowed: knee, best-accuracy, ...)
    """
    name, _, argument = spec.partition(":")
    try:
        if name == "knee":
            return pick_knee(frame, objectives, budgets, by=by)
        if name == "best-accuracy":
            return pick_best_accuracy(frame, budgets, by=by)
        if name == "cheapest-within":
            return pick_cheapest_within(frame, float(argument), budgets=budgets, by=by)
        if name == "trial":
            return pick_trial(frame, int(argument))
    except ValueError:
        pass
    raise WorkbenchError(f"unknown pick '{spec}' (allowed: knee, best-accuracy, cheapest-within:POINTS, trial:N)")


def _nothing_feasible(frame: pd.DataFrame, budgets: Budgets | None, by: str = "proxy") -> str:
    """An error message naming the closest trials when nothing meets the budgets."""
    done = frame[(frame.get("state") == "COMPLETE") & frame[record.MACS].notna()] if not frame.empty else frame
    what = "confirmed " if by == "confirmed" else ""
    message = f"no feasible completed {what}trial within the budgets ({(budgets or Budgets()).describe()})"
    if done.empty:
        return message + "; the study has no completed trials yet"
    closest = done.sort_values([record.MACS]).head(3)
    listing = "; ".join(
        f"trial {int(r['number'])}: accuracy={_accuracy_text(r[record.ACCURACY])} macs={r[record.MACS]:.3g} "
        f"params={r[record.PARAMS]:.3g} latency_p50_ms={r[record.LATENCY_P50]:.3g}"
        for _, r in closest.iterrows()
    )
    return f"{message}; closest: {listing}"


def _accuracy_text(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "never scored"


def arch_of(row: pd.Series) -> ArchConfig:
    """The ArchConfig stored with a trial row."""
    return ArchConfig.model_validate(json.loads(row[record.ARCH_JSON]))


