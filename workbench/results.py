"""The one reader of a study: trials as a DataFrame, Pareto fronts, hypervolume and picks.

The dashboard, `workbench report` and `workbench export` all go through this module.
Pareto fronts and hypervolumes use Optuna's own implementations (the same code behind
`Study.best_trials` and `plot_hypervolume_history`), so our fronts equal Optuna's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import optuna
import pandas as pd
from optuna._hypervolume import compute_hypervolume
from optuna.study._multi_objective import _is_pareto_front
from optuna.trial import FrozenTrial, TrialState

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.record import OBJECTIVES, Objective
from workbench.storage import load_study, open_storage

# Metric columns of the trials frame, in display order.
METRIC_COLUMNS: tuple[str, ...] = (
    record.ACCURACY, record.PARAMS, record.MACS, record.FLOPS_FVCORE, record.LATENCY_P50,
    record.LATENCY_P90, record.LATENCY_CV, record.PEAK_MEMORY, record.TRAIN_SECONDS,
    record.PROFILE_SECONDS, record.IMAGES_PER_SECOND,
)
KNOB_PREFIX = "knob_"
OBJECTIVE_PREFIX = "objective_"


@dataclass(frozen=True)
class Budgets:
    """Hard limits a pick or a view honours; None means unbounded."""

    max_params: float | None = None
    max_macs: float | None = None
    max_latency_ms: float | None = None

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """True for rows within every budget (rows missing a budgeted figure are out)."""
        keep = pd.Series(True, index=frame.index)
        for column, limit in ((record.PARAMS, self.max_params), (record.MACS, self.max_macs),
                              (record.LATENCY_P50, self.max_latency_ms)):
            if limit is not None:
                keep &= frame[column].notna() & (frame[column] <= limit)
        return keep

    def describe(self) -> str:
        """'max_macs=2e+07, max_latency_ms=5' or 'no budgets'."""
        parts = [f"{k}={v:g}" for k, v in vars(self).items() if v is not None]
        return ", ".join(parts) if parts else "no budgets"


@dataclass(frozen=True)
class StudyInfo:
    """What a study is: its name, objectives, space, dataset, device and trial counts."""

    name: str
    objectives: list[Objective]
    n_trials: int
    states: dict[str, int]
    dataset: str | None
    device: str | None
    space_file: str | None
    budgets: Budgets
    latency_protocol: dict[str, Any] | None
    attrs: dict[str, Any] = field(default_factory=dict)


def study_objectives(study: optuna.Study) -> list[Objective]:
    """The study's objectives, from its registered metric names (or its stored attribute)."""
    names = study.metric_names or study.user_attrs.get(record.STUDY_OBJECTIVES)
    if not names:
        raise WorkbenchError(f"study '{study.study_name}' has no registered objective names; was it made by workbench?")
    if len(names) != len(study.directions):
        raise WorkbenchError(f"study '{study.study_name}': {len(names)} objective names for {len(study.directions)} objectives")
    # A name outside OBJECTIVES is a single-objective study's scalarisation: its values live
    # in the trial values, exposed by `trials_frame` as an `objective_<name>` column.
    return [
        OBJECTIVES[name] if name in OBJECTIVES
        else Objective(name, f"{OBJECTIVE_PREFIX}{name}", "maximize" if direction.name == "MAXIMIZE" else "minimize")
        for name, direction in zip(names, study.directions)
    ]


def study_info(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> StudyInfo:
    """Summarise a study from its attributes and trials."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    attrs = dict(study.user_attrs)
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    budgets = Budgets(**{k: v for k, v in (attrs.get(record.STUDY_BUDGETS) or {}).items()
                         if k in ("max_params", "max_macs", "max_latency_ms")})
    return StudyInfo(
        name=study.study_name, objectives=study_objectives(study), n_trials=len(trials), states=states,
        dataset=attrs.get(record.STUDY_DATASET), device=attrs.get(record.STUDY_DEVICE),
        space_file=attrs.get(record.STUDY_SPACE_FILE), budgets=budgets,
        latency_protocol=attrs.get(record.STUDY_LATENCY_PROTOCOL), attrs=attrs,
    )


def list_studies(storage: str | None = None) -> pd.DataFrame:
    """One row per study: name, trial counts by state, objectives, dataset and device.

    Example:
        >>> list_studies("sqlite:///workbench.db")  # doctest: +SKIP
    """
    backend = open_storage(storage)
    rows = []
    for summary in optuna.get_all_study_summaries(backend, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=backend)
        trials = study.get_trials(deepcopy=False)
        complete = sum(t.state == TrialState.COMPLETE for t in trials)
        rows.append({
            "study": summary.study_name, "trials": len(trials), "complete": complete,
            "feasible": sum(_is_feasible(t) for t in trials),
            "objectives": ", ".join(study.metric_names or []),
            "dataset": study.user_attrs.get(record.STUDY_DATASET),
            "device": study.user_attrs.get(record.STUDY_DEVICE),
            "started": summary.datetime_start,
        })
    return pd.DataFrame(rows, columns=["study", "trials", "complete", "feasible", "objectives", "dataset", "device", "started"])


def _is_feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0.0 for v in trial.constraints.values())


def _trial_row(trial: FrozenTrial, scalarised: Sequence[tuple[int, str]] = ()) -> dict[str, Any]:
    attrs = trial.user_attrs
    row: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "status": attrs.get(record.STATUS, trial.state.name.lower()),
        "feasible": _is_feasible(trial),
        "reason": attrs.get(record.REASON),
    }
    for column in METRIC_COLUMNS:
        value = attrs.get(column)
        row[column] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
    row[record.ACCURACY_SOURCE] = attrs.get(record.ACCURACY_SOURCE)
    row[record.LATENCY_NOISY] = attrs.get(record.LATENCY_NOISY)
    row[record.DEVICE] = attrs.get(record.DEVICE)
    row[record.REUSED_FROM] = attrs.get(record.REUSED_FROM)
    for name, value in (attrs.get(record.KNOBS) or trial.params).items():
        row[f"{KNOB_PREFIX}{name}"] = value
    for name, value in trial.constraints.items():
        row[f"violation_{name}"] = value
    for index, name in scalarised:
        row[f"{OBJECTIVE_PREFIX}{name}"] = trial.values[index] if trial.values else np.nan
    row["datetime_start"] = trial.datetime_start
    row["datetime_complete"] = trial.datetime_complete
    row["duration_s"] = trial.duration.total_seconds() if trial.duration else np.nan
    row[record.ARCH_JSON] = attrs.get(record.ARCH_JSON)
    return row


def trials_frame(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> pd.DataFrame:
    """Every trial as one row: number, state, status, feasibility, reason, metrics,
    `knob_*` columns for the sampled knobs, `violation_*` constraint values, timings and
    the ArchConfig JSON. Sorted by trial number.

    Example:
        >>> frame = trials_frame(load_study("digits"))  # doctest: +SKIP
        >>> frame[["number", "accuracy", "macs"]].head()  # doctest: +SKIP
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    names = study.metric_names or []
    scalarised = [(i, name) for i, name in enumerate(names) if name not in OBJECTIVES]
    rows = [_trial_row(t, scalarised) for t in trials]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["number", "state", "status", "feasible", "reason", *METRIC_COLUMNS])
    return frame.sort_values("number").reset_index(drop=True)


def _loss_matrix(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Objective values as losses (maximised objectives negated), as Optuna compares them."""
    columns = []
    for objective in objectives:
        values = frame[objective.column].to_numpy(dtype=float)
        columns.append(-values if objective.direction == "maximize" else values)
    return np.stack(columns, axis=1) if columns else np.empty((len(frame), 0))


def candidates(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.DataFrame:
    """Feasible completed trials with every objective present, within the budgets."""
    if frame.empty:
        return frame
    keep = (frame["state"] == "COMPLETE") & frame["feasible"].astype(bool)
    for objective in objectives:
        keep &= frame[objective.column].notna()
    if budgets is not None:
        keep &= budgets.mask(frame)
    return frame[keep]


def pareto_front(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.DataFrame:
    """The non-dominated feasible trials for the given objectives (any pair or triple),
    sorted by the first cost objective. With the study's own objectives and no budgets
    this equals Optuna's `study.best_trials`.
    """
    pool = candidates(frame, objectives, budgets)
    if pool.empty:
        return pool
    on_front = _is_pareto_front(_loss_matrix(pool, objectives), assume_unique_lexsorted=False)
    front = pool[on_front]
    sort_column = next((o.column for o in objectives if o.direction == "minimize"), objectives[0].column)
    return front.sort_values([sort_column, "number"])


def reference_point(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """A stated reference point for hypervolume, in loss space: 0 for a maximised accuracy
    (no accuracy), and 1.1 x the worst feasible value for each cost."""
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
    """Hypervolume of the feasible trials (Optuna's WFG implementation) w.r.t. `reference`,
    given in loss space (see `reference_point`)."""
    reference = reference_point(frame, objectives) if reference is None else np.asarray(reference, dtype=float)
    pool = candidates(frame, objectives)
    if pool.empty:
        return 0.0
    losses = _loss_matrix(pool, objectives)
    inside = np.all(losses < reference, axis=1)
    if not inside.any():
        return 0.0
    return float(compute_hypervolume(losses[inside], reference))


def hypervolume_history(frame: pd.DataFrame, objectives: Sequence[Objective], reference: np.ndarray | None = None) -> pd.DataFrame:
    """Hypervolume after each trial number (columns `number`, `hypervolume`), with the
    reference point of the whole study so the curve is comparable from start to end."""
    reference = reference_point(frame, objectives) if reference is None else np.asarray(reference, dtype=float)
    if frame.empty:
        return pd.DataFrame(columns=["number", "hypervolume"])
    ordered = frame.sort_values("number")
    pool = candidates(ordered, objectives)
    losses = _loss_matrix(pool, objectives) if not pool.empty else np.empty((0, len(objectives)))
    pool_numbers = pool["number"].to_numpy() if not pool.empty else np.empty(0)
    values, current = [], 0.0
    for number in ordered["number"]:
        seen = pool_numbers <= number
        if np.any(pool_numbers == number):
            subset = losses[seen]
            subset = subset[np.all(subset < reference, axis=1)]
            current = float(compute_hypervolume(subset, reference)) if len(subset) else 0.0
        values.append(current)
    return pd.DataFrame({"number": ordered["number"].to_numpy(), "hypervolume": values})


def _normalised_losses(front: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    losses = _loss_matrix(front, objectives)
    low, high = losses.min(axis=0), losses.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (losses - low) / span


def pick_knee(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.Series:
    """The knee of the front: the Pareto trial closest to the ideal point once every
    objective is scaled to [0, 1] over the front (ties go to the lower trial number)."""
    front = pareto_front(frame, objectives, budgets)
    if front.empty:
        raise WorkbenchError(_nothing_feasible(frame, budgets))
    distance = np.linalg.norm(_normalised_losses(front, objectives), axis=1)
    order = np.lexsort((front["number"].to_numpy(), distance))
    return front.iloc[order[0]]


def pick_best_accuracy(frame: pd.DataFrame, budgets: Budgets | None = None) -> pd.Series:
    """The feasible trial with the highest accuracy within the budgets; ties go to fewer MACs."""
    pool = candidates(frame, [OBJECTIVES["accuracy"]], budgets)
    if pool.empty:
        raise WorkbenchError(_nothing_feasible(frame, budgets))
    return pool.sort_values([record.ACCURACY, record.MACS, "number"], ascending=[False, True, True]).iloc[0]


def pick_cheapest_within(frame: pd.DataFrame, points: float, cost: str = record.MACS, budgets: Budgets | None = None) -> pd.Series:
    """The cheapest feasible trial (by `cost`) whose accuracy is within `points` percentage
    points of the best feasible accuracy under the budgets."""
    best = pick_best_accuracy(frame, budgets)
    pool = candidates(frame, [OBJECTIVES["accuracy"]], budgets)
    pool = pool[pool[record.ACCURACY] >= best[record.ACCURACY] - points / 100.0]
    return pool.sort_values([cost, "number"]).iloc[0]


def pick_trial(frame: pd.DataFrame, number: int) -> pd.Series:
    """The row of trial `number`; a missing or unfinished trial is an error."""
    match = frame[frame["number"] == number]
    if match.empty:
        raise WorkbenchError(f"no trial {number} in this study (trials 0..{len(frame) - 1})")
    row = match.iloc[0]
    if not isinstance(row.get(record.ARCH_JSON), str):
        raise WorkbenchError(f"trial {number} has no stored architecture (state {row['state']}, status {row['status']})")
    return row


def pick(frame: pd.DataFrame, spec: str, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.Series:
    """Pick by a spec string: `knee`, `best-accuracy`, `cheapest-within:POINTS` or `trial:N`."""
    name, _, argument = spec.partition(":")
    try:
        if name == "knee":
            return pick_knee(frame, objectives, budgets)
        if name == "best-accuracy":
            return pick_best_accuracy(frame, budgets)
        if name == "cheapest-within":
            return pick_cheapest_within(frame, float(argument), budgets=budgets)
        if name == "trial":
            return pick_trial(frame, int(argument))
    except ValueError:
        pass
    raise WorkbenchError(f"unknown pick '{spec}' (allowed: knee, best-accuracy, cheapest-within:POINTS, trial:N)")


def _nothing_feasible(frame: pd.DataFrame, budgets: Budgets | None) -> str:
    """An error message naming the closest trials when nothing meets the budgets."""
    done = frame[(frame.get("state") == "COMPLETE") & frame[record.MACS].notna()] if not frame.empty else frame
    message = f"no feasible completed trial within the budgets ({(budgets or Budgets()).describe()})"
    if done.empty:
        return message + "; the study has no completed trials yet"
    closest = done.sort_values([record.MACS]).head(3)
    listing = "; ".join(
        f"trial {int(r['number'])}: accuracy={r[record.ACCURACY]:.4f} macs={r[record.MACS]:.3g} "
        f"params={r[record.PARAMS]:.3g} latency_p50_ms={r[record.LATENCY_P50]:.3g}"
        for _, r in closest.iterrows()
    )
    return f"{message}; closest: {listing}"


def arch_of(row: pd.Series) -> ArchConfig:
    """The ArchConfig stored with a trial row."""
    return ArchConfig.model_validate(json.loads(row[record.ARCH_JSON]))


def param_importances(study: optuna.Study, objective: Objective) -> dict[str, float]:
    """Knob importances for one objective over completed trials (Optuna's default evaluator);
    empty when there are too few completed trials to tell."""
    objectives = study_objectives(study)
    index = [o.name for o in objectives].index(objective.name)
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 2 or len({json.dumps(t.params, sort_keys=True) for t in complete}) < 2:
        return {}
    # Optuna's default evaluator ranks knobs for *low* target values, so maximised
    # objectives are negated.
    sign = -1.0 if objective.direction == "maximize" else 1.0
    try:
        return optuna.importance.get_param_importances(study, target=lambda t: sign * t.values[index])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def macs_latency_correlation(frame: pd.DataFrame) -> dict[str, float]:
    """Pearson and Spearman correlation between MACs and measured latency (p50) over
    trials with both: how well FLOPs predict latency on the measuring device."""
    both = frame[[record.MACS, record.LATENCY_P50]].dropna() if not frame.empty else frame
    if len(both) < 3:
        return {"pearson": math.nan, "spearman": math.nan, "n": float(len(both))}
    return {
        "pearson": float(both[record.MACS].corr(both[record.LATENCY_P50], method="pearson")),
        "spearman": float(both[record.MACS].corr(both[record.LATENCY_P50], method="spearman")),
        "n": float(len(both)),
    }


def open_results(study_name: str, storage: str | None = None) -> tuple[optuna.Study, pd.DataFrame]:
    """Load a study and its trials frame in one call."""
    study = load_study(study_name, storage)
    return study, trials_frame(study)
