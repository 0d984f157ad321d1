"""The one reader of a study: trials as a DataFrame, Pareto fronts, hypervolume and picks.

The dashboard, `workbench report` and `workbench export` all go through this module.
Pareto fronts and hypervolumes use Optuna's own implementations (the same code behind
`Study.best_trials` and `plot_hypervolume_history`, reached through `workbench.storage`),
so our fronts equal Optuna's.

Only what was measured is read. A trial whose status is not in `record.SCORED_STATUSES`
(rejected, failed, ...) has no accuracy here, whatever placeholder its objective value holds,
and it is never on a front, in a hypervolume, a pick or an importance. Each architecture
counts once (by `record.ARCH_HASH`: the original trial, not its `reused` copies). Two
accuracies within each other's noise (`workbench.stats.tie_band` of their standard errors)
are a tie, and every pick breaks a tie towards the cheaper trial.
"""

from __future__ import annotations

import json
import math
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.record import OBJECTIVES, Budgets, Objective, StudyRecord, TrialRecord, study_names
from workbench.stats import binomial_se, tie_band
from workbench.storage import (hypervolume as _hypervolume, load_study, named_constraints, normalise_url, open_storage, pareto_mask,
                               release_storage, stored_metric_names, study_id, trial_state_counts)

# Metric columns of the trials frame, in display order.
METRIC_COLUMNS: tuple[str, ...] = (
    record.ACCURACY, record.PARAMS, record.MACS, record.FLOPS_FVCORE, record.LATENCY_P50,
    record.LATENCY_P90, record.LATENCY_CV, record.PEAK_MEMORY, record.TRAIN_SECONDS,
    record.PROFILE_SECONDS, record.IMAGES_PER_SECOND,
)
KNOB_PREFIX = "knob_"
OBJECTIVE_PREFIX = "objective_"
SCORED = "scored"              # True for a trial with a measured accuracy (status in SCORED_STATUSES)
ACCURACY_SE = "accuracy_se"    # the standard error ties are judged with (NaN: unknown, no band)
CONFIRMED_SE = "confirmed_se"  # the same for the confirmed accuracy
# The accuracy's uncertainty, as stored with each scored trial, and the se derived from it.
UNCERTAINTY_COLUMNS: tuple[str, ...] = (record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD,
                                        ACCURACY_SE, record.VAL_SIZE, record.ACCURACY_SAMPLES)
# What `workbench confirm` measured (study attributes `confirm:<number>`), per trial.
CONFIRMED_COLUMNS: tuple[str, ...] = (record.CONFIRMED_ACCURACY, record.CONFIRMED_SD, CONFIRMED_SE,
                                      record.CONFIRMED_EPOCHS, record.CONFIRMED_SAMPLES)
# Which accuracy a pick ranks on: the search's proxy score or `workbench confirm`'s longer runs.
BY_CHOICES: tuple[str, ...] = ("proxy", "confirmed")
CONFIRMED_OBJECTIVE = Objective("confirmed_accuracy", record.CONFIRMED_ACCURACY, "maximize")


@dataclass(frozen=True)
class StudyInfo:
    """What a study is: its name, objectives, space, dataset, device and trial counts, and how
    noisy its accuracy is (seed noise sd, proxy-to-confirmed Kendall tau) where measured."""

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
    statuses: dict[str, int] = field(default_factory=dict)
    noise_sd: float | None = None
    noise: dict[str, Any] | None = None
    fidelity: dict[str, Any] | None = None


def study_objectives(study: optuna.Study) -> list[Objective]:
    """The study's objectives, from its registered metric names (or its stored attribute)."""
    names = study_names(study)
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


def _finite(value: Any) -> float | None:
    """A real number as float; None for None, NaN, booleans and anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def study_info(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> StudyInfo:
    """Summarise a study from its attributes and trials.

    Example:
        >>> info = study_info(load_study("digits"))  # doctest: +SKIP
        >>> info.statuses, info.noise_sd  # doctest: +SKIP
        ({'complete': 18, 'rejected': 2}, 0.0081)
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    stored = StudyRecord.of(study)
    states: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        status = _status(trial)
        statuses[status] = statuses.get(status, 0) + 1
    return StudyInfo(
        name=study.study_name, objectives=study_objectives(study), n_trials=len(trials), states=states,
        dataset=stored.dataset, device=stored.device, space_file=stored.space_file, budgets=stored.budgets,
        latency_protocol=stored.latency_protocol, attrs=dict(stored.attrs), statuses=statuses,
        noise_sd=stored.noise_sd, noise=stored.noise, fidelity=stored.fidelity,
    )


STUDY_COLUMNS = ["study", "trials", "complete", "failed", "running", "objectives", "dataset", "device", "started"]


def list_studies(storage: str | None = None) -> pd.DataFrame:
    """One row per study: name, trial counts by state (all, complete, failed, running or
    waiting), objectives, dataset, device and start time. Read without loading any trial on a
    database (one counting query), and the connections are released before returning: the
    listing of `workbench studies` and of the dashboard.

    Raises:
        WorkbenchError: a missing file or a database that opens but cannot be read.

    Example:
        >>> list_studies("sqlite:///workbench.db")  # doctest: +SKIP
    """
    backend = open_storage(storage)
    try:
        studies = backend.get_all_studies()
        counts = trial_state_counts(backend, studies)
    except Exception as error:  # noqa: BLE001 - a database that opens but cannot be read
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WorkbenchError(f"storage '{normalise_url(storage)}': cannot read ({detail})") from error
    finally:
        release_storage(backend)
    rows = []
    for study in studies:
        by_state = dict(counts.get(study_id(study), {}))
        started = by_state.pop("started", None)
        stored = StudyRecord.of(study)
        names = stored_metric_names(study.system_attrs) or stored.objectives or []
        rows.append({
            "study": study.study_name, "trials": sum(by_state.values()), "complete": by_state.get("COMPLETE", 0),
            "failed": by_state.get("FAIL", 0), "running": by_state.get("RUNNING", 0) + by_state.get("WAITING", 0),
            "objectives": ", ".join(names), "dataset": stored.dataset,
            "device": stored.device, "started": started,
        })
    return pd.DataFrame(rows, columns=STUDY_COLUMNS)


# --- which trials were scored ------------------------------------------------------------

def _is_feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and record.within_budgets(trial.constraints)


def _status(trial: FrozenTrial) -> str:
    return TrialRecord.of(trial).status


def scored_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """The numbers of the trials that carry a measured accuracy: completed, with a status in
    `record.SCORED_STATUSES`, and (for a `reused` copy) copied from a trial that was scored.

    Old studies stored rejected trials as COMPLETE with accuracy 0.0; their status says
    they were never scored, and that is what counts.

    Example:
        >>> sorted(scored_numbers(load_study("digits").trials))[:3]  # doctest: +SKIP
        [0, 1, 3]
    """
    statuses = {t.number: _status(t) for t in trials}
    scored: set[int] = set()
    for trial in trials:
        status = statuses[trial.number]
        if trial.state != TrialState.COMPLETE or status not in record.SCORED_STATUSES:
            continue
        if status == "reused":
            # A copy of a rejected trial is as unscored as its original (it also copies the
            # broken constraints, which is all an old study's copy may tell).
            origin = TrialRecord.of(trial).reused_from
            if not _is_feasible(trial) or statuses.get(origin, "complete") not in record.SCORED_STATUSES:
                continue
        scored.add(trial.number)
    return scored


def scored_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials of `trials` that were scored (see `scored_numbers`), in their order."""
    numbers = scored_numbers(trials)
    return [t for t in trials if t.number in numbers]


def scored_mask(frame: pd.DataFrame) -> pd.Series:
    """True for the rows with a measured accuracy (the `scored` column, else the status)."""
    if SCORED in frame:
        return frame[SCORED].fillna(False).astype(bool)
    return frame["status"].isin(record.SCORED_STATUSES)


# Statuses without a full-fidelity accuracy that still carry a lower-fidelity figure.
_UNSCORED_NAMES = {"stopped": "stopped (lower rung only)", "screened": "screened (zero-cost score only)"}


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Trials by workbench status, those never scored counted apart: 'rejected (never
    scored)', 'failed (never scored)', and so on (running trials are just running).

    Example:
        >>> status_counts(trials_frame(load_study("digits")))  # doctest: +SKIP
        {'complete': 17, 'failed (never scored)': 1, 'rejected (never scored)': 2}
    """
    if frame.empty:
        return {}
    counts: dict[str, int] = {}
    for status, scored in zip(frame["status"].astype(str), scored_mask(frame)):
        name = status if scored or status in ("running", "waiting") else _UNSCORED_NAMES.get(status, f"{status} (never scored)")
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


# --- the trials frame ----------------------------------------------------------------------

def _trial_row(trial: FrozenTrial, scored: bool, scalarised: Sequence[tuple[int, str]] = ()) -> dict[str, Any]:
    attrs = TrialRecord.of(trial)
    row: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name,
        "status": _status(trial),
        SCORED: scored,
        "feasible": _is_feasible(trial),
        "reason": attrs.reason,
    }
    for column in METRIC_COLUMNS:
        value = _finite(attrs.get(column))
        row[column] = np.nan if value is None else value
    # A never-scored trial's stored accuracy is a placeholder (0.0 in old studies): not a figure.
    if not scored:
        row[record.ACCURACY] = np.nan
    for column in (record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD):
        value = _finite(attrs.get(column)) if scored else None
        row[column] = np.nan if value is None else value
    row[ACCURACY_SE] = np.nan  # filled in by `trials_frame`, which knows the study's noise
    val_size = _finite(attrs.get(record.VAL_SIZE))
    row[record.VAL_SIZE] = np.nan if val_size is None else val_size
    row[record.ACCURACY_SAMPLES] = attrs.accuracy_samples if scored else None
    for column in CONFIRMED_COLUMNS:
        row[column] = None if column == record.CONFIRMED_SAMPLES else np.nan
    row[record.ACCURACY_SOURCE] = attrs.get(record.ACCURACY_SOURCE)
    row[record.LATENCY_NOISY] = attrs.get(record.LATENCY_NOISY)
    row[record.DEVICE] = attrs.get(record.DEVICE)
    row[record.REUSED_FROM] = attrs.get(record.REUSED_FROM)
    for name, value in attrs.knobs.items():
        row[f"{KNOB_PREFIX}{name}"] = value
    for name, value in named_constraints(trial).items():
        row[f"violation_{name}"] = value
    for index, name in scalarised:
        row[f"{OBJECTIVE_PREFIX}{name}"] = trial.values[index] if trial.values and scored else np.nan
    row["datetime_start"] = trial.datetime_start
    row["datetime_complete"] = trial.datetime_complete
    row["duration_s"] = trial.duration.total_seconds() if trial.duration else np.nan
    row[record.ARCH_HASH] = attrs.get(record.ARCH_HASH)
    row[record.ARCH_JSON] = attrs.get(record.ARCH_JSON)
    row[record.ACCURACY_BY_RUNG] = attrs.accuracy_by_rung
    rung = _finite(attrs.get(record.RUNG))
    row[record.RUNG] = np.nan if rung is None else rung
    score = _finite(attrs.get(record.PRESCREEN_SCORE))
    row[record.PRESCREEN_SCORE] = np.nan if score is None else score
    return row


_EMPTY_COLUMNS = ["number", "state", "status", SCORED, "feasible", "reason", *METRIC_COLUMNS, *UNCERTAINTY_COLUMNS,
                  *CONFIRMED_COLUMNS, record.ARCH_HASH, record.ARCH_JSON]


def trials_frame(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> pd.DataFrame:
    """Every trial as one row: number, state, status, whether it was `scored`, feasibility,
    reason, metrics, the accuracy's uncertainty (`accuracy_ci_low/high`, `accuracy_sd`,
    `accuracy_samples`, `val_size` and the `accuracy_se` ties are judged with), the
    confirmation of `workbench confirm` (`confirmed_accuracy/sd/epochs/samples`,
    `confirmed_se`), `knob_*` columns for the sampled knobs, `violation_*` constraint values,
    timings and the ArchConfig JSON. Sorted by trial number.

    A trial that was never scored has NaN accuracy, whatever placeholder it stored.
    `accuracy_se` is the study's seed noise sd (`accuracy_noise_sd`) over the square root of
    the trial's seeds when the study measured it, else the binomial se from `val_size`
    (NaN when neither is known). `frame.attrs["study"]` names the study.

    Example:
        >>> frame = trials_frame(load_study("digits"))  # doctest: +SKIP
        >>> frame[["number", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "macs"]].head()  # doctest: +SKIP
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    names = study.metric_names or []
    scalarised = [(i, name) for i, name in enumerate(names) if name not in OBJECTIVES]
    scored = scored_numbers(trials)
    frame = pd.DataFrame([_trial_row(t, t.number in scored, scalarised) for t in trials])
    if frame.empty:
        frame = pd.DataFrame(columns=_EMPTY_COLUMNS)
    else:
        frame = frame.sort_values("number").reset_index(drop=True)
        stored = StudyRecord.of(study)
        frame[ACCURACY_SE] = _proxy_se(frame, stored.noise_sd)
        _add_confirmations(frame, stored.confirmations)
    frame.attrs["study"] = study.study_name
    return frame


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
        >>> frame = trials_frame(load_study("ladder"))  # doctest: +SKIP
        >>> at_rung(frame, 1)["accuracy"].notna().sum() >= frame["scored"].sum()  # doctest: +SKIP
        True
    """
    from workbench.stats import wilson_interval

    key = f"{rung:g}"
    out = frame.copy()
    values = [(v.get(key) if isinstance(v, dict) else None) for v in out.get(record.ACCURACY_BY_RUNG, [None] * len(out))]
    violations = [c for c in out.columns if c.startswith("violation_")]
    within = (out[violations].fillna(0.0) <= 0).all(axis=1) if violations else pd.Series(True, index=out.index)
    reached = pd.Series([_finite(v) is not None for v in values], index=out.index) & within
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
        >>> rung_table(trials_frame(load_study("ladder")), study_objectives(load_study("ladder")))  # doctest: +SKIP
        [{'rung': 1.0, 'scored': 12, 'promoted': 4, 'median_accuracy': 0.71, 'front': 3}, ...]
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


def _seeds(samples: Any) -> int:
    return len(samples) if isinstance(samples, list) and samples else 1


def _binomial_se(accuracy: float, val_size: float) -> float:
    if not (math.isfinite(accuracy) and math.isfinite(val_size)) or val_size <= 0:
        return math.nan
    return binomial_se(accuracy, int(val_size))


def _proxy_se(frame: pd.DataFrame, noise_sd: float | None) -> list[float]:
    """Each trial's accuracy se: seed noise over sqrt(seeds) where the study measured its noise,
    else the binomial se of its validation size."""
    out = []
    for accuracy, val_size, samples in zip(frame[record.ACCURACY], frame[record.VAL_SIZE], frame[record.ACCURACY_SAMPLES]):
        if not math.isfinite(accuracy):
            out.append(math.nan)
        elif noise_sd is not None:
            out.append(noise_sd / math.sqrt(_seeds(samples)))
        else:
            out.append(_binomial_se(accuracy, val_size))
    return out


def _add_confirmations(frame: pd.DataFrame, found: Mapping[int, dict[str, Any]]) -> None:
    """Fill the confirmed columns in place. A `reused` copy shares its architecture's
    confirmation (the confirmation is of the architecture, whichever trial number it was run under)."""
    if not found:
        return
    by_hash: dict[str, dict[str, Any]] = {}
    hashes = dict(zip(frame["number"], frame[record.ARCH_HASH]))
    for number in sorted(found):
        if isinstance(hashes.get(number), str):
            by_hash.setdefault(hashes[number], found[number])
    for index, number, digest, val_size in zip(frame.index, frame["number"], frame[record.ARCH_HASH], frame[record.VAL_SIZE]):
        confirmation = found.get(int(number)) or (by_hash.get(digest) if isinstance(digest, str) else None)
        if confirmation is None:
            continue
        accuracy = float(confirmation["accuracy"])
        sd = _finite(confirmation.get("sd"))
        samples = [float(s) for s in confirmation.get("samples") or [] if _finite(s) is not None]
        seeds = len(samples) or len(confirmation.get("seeds") or []) or 1
        epochs = _finite(confirmation.get("epochs"))
        frame.at[index, record.CONFIRMED_ACCURACY] = accuracy
        frame.at[index, record.CONFIRMED_SD] = np.nan if sd is None else sd
        frame.at[index, CONFIRMED_SE] = sd / math.sqrt(seeds) if sd is not None and seeds > 1 else _binomial_se(accuracy, val_size)
        frame.at[index, record.CONFIRMED_EPOCHS] = np.nan if epochs is None else epochs
        frame.at[index, record.CONFIRMED_SAMPLES] = samples or None


# --- fronts and hypervolume ----------------------------------------------------------------

def _loss_matrix(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Objective values as losses (maximised objectives negated), as Optuna compares them."""
    columns = []
    for objective in objectives:
        values = frame[objective.column].to_numpy(dtype=float)
        columns.append(-values if objective.direction == "maximize" else values)
    return np.stack(columns, axis=1) if columns else np.empty((len(frame), 0))


def dedupe_architectures(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture (`arch_hash`): the original trial rather than a `reused`
    copy, else the earliest; rows without a hash are kept. The row order is kept.

    Example:
        >>> dedupe_architectures(trials_frame(load_study("digits")))["number"].tolist()  # doctest: +SKIP
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    """
    if frame.empty or record.ARCH_HASH not in frame:
        return frame
    hashed = frame[frame[record.ARCH_HASH].notna()]
    order = hashed.assign(_copy=hashed["status"].eq("reused")).sort_values(["_copy", "number"])
    keep = set(order.drop_duplicates(record.ARCH_HASH).index) | set(frame.index[frame[record.ARCH_HASH].isna()])
    return frame[frame.index.isin(keep)]


def candidates(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.DataFrame:
    """Scored, feasible, completed trials with every objective present, within the budgets,
    one per architecture (`dedupe_architectures`)."""
    if frame.empty:
        return frame
    keep = (frame["state"] == "COMPLETE") & frame["feasible"].astype(bool) & scored_mask(frame)
    for objective in objectives:
        keep &= frame[objective.column].notna()
    if budgets is not None:
        keep &= budgets.mask(frame)
    return dedupe_architectures(frame[keep])


def pareto_front(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.DataFrame:
    """The non-dominated scored, feasible trials for the given objectives (any pair or
    triple), one per architecture, sorted by the first cost objective. With the study's own
    objectives and no budgets this equals Optuna's `study.best_trials` less its never-scored
    trials and `reused` copies.

    Example:
        >>> study, frame = open_results("digits")  # doctest: +SKIP
        >>> pareto_front(frame, study_objectives(study))["number"].tolist()  # doctest: +SKIP
    """
    pool = candidates(frame, objectives, budgets)
    if pool.empty:
        return pool
    on_front = pareto_mask(_loss_matrix(pool, objectives))
    front = pool[on_front]
    sort_column = next((o.column for o in objectives if o.direction == "minimize"), objectives[0].column)
    return front.sort_values([sort_column, "number"])


def reference_point(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """A stated reference point for hypervolume, in loss space: 0 for a maximised accuracy
    (no accuracy), and 1.1 x the worst scored feasible value for each cost."""
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
    """Hypervolume of the scored feasible trials (Optuna's WFG implementation) w.r.t.
    `reference`, given in loss space (see `reference_point`)."""
    reference = reference_point(frame, objectives) if reference is None else np.asarray(reference, dtype=float)
    pool = candidates(frame, objectives)
    if pool.empty:
        return 0.0
    return _hypervolume(_loss_matrix(pool, objectives), reference)


def hypervolume_history(frame: pd.DataFrame, objectives: Sequence[Objective], reference: np.ndarray | None = None) -> pd.DataFrame:
    """Hypervolume after each trial number (columns `number`, `hypervolume`), with the
    reference point of the whole study so the curve is comparable from start to end; only
    scored feasible trials add to it."""
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
            current = _hypervolume(losses[seen], reference)
        values.append(current)
    return pd.DataFrame({"number": ordered["number"].to_numpy(), "hypervolume": values})


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


def _require(frame: pd.DataFrame, by: str) -> tuple[Objective, str]:
    accuracy, se_column = accuracy_axis(by)
    if by == "confirmed" and not has_confirmed(frame):
        name = frame.attrs.get("study") or "NAME"
        raise WorkbenchError(f"study '{name}' has no confirmed trials to pick by; run `workbench confirm --study {shlex.quote(name)}` first")
    return accuracy, se_column


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


def indistinguishable_from_best(frame: pd.DataFrame, budgets: Budgets | None = None, *, by: str = "proxy") -> pd.DataFrame:
    """The scored feasible trials within the budgets (one per architecture) whose accuracy
    cannot be told from the best one's: within `stats.tie_band` of the two standard errors
    (`accuracy_se`, or `confirmed_se` with `by="confirmed"`). Most accurate first; empty when
    nothing is feasible.

    Raises:
        WorkbenchError: `by="confirmed"` on a study with no confirmed trial.

    Example:
        >>> tied = indistinguishable_from_best(trials_frame(load_study("digits")))  # doctest: +SKIP
        >>> tied["number"].tolist()  # doctest: +SKIP
        [15, 7, 12]
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
        >>> pick_best_accuracy(trials_frame(load_study("digits")), Budgets(max_macs=2e7))["number"]  # doctest: +SKIP
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
        >>> pick_cheapest_within(trials_frame(load_study("digits")), 1.0)["number"]  # doctest: +SKIP
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
    losses = _loss_matrix(front, objectives)
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
        >>> study, frame = open_results("digits")  # doctest: +SKIP
        >>> pick_knee(frame, study_objectives(study))["number"]  # doctest: +SKIP
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
        raise WorkbenchError(f"trial {number} has no stored architecture (state {row['state']}, status {row['status']})")
    return row


def pick(frame: pd.DataFrame, spec: str, objectives: Sequence[Objective], budgets: Budgets | None = None, *,
         by: str = "proxy") -> pd.Series:
    """Pick by a spec string: `knee`, `best-accuracy`, `cheapest-within:POINTS` or `trial:N`,
    ranking on the proxy accuracy or (`by="confirmed"`) the confirmed one; `trial:N` names
    one trial whatever `by` says.

    Example:
        >>> study, frame = open_results("digits")  # doctest: +SKIP
        >>> pick(frame, "knee", study_objectives(study), by="confirmed")["number"]  # doctest: +SKIP
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


def param_importances(study: optuna.Study, objective: Objective) -> dict[str, float]:
    """Knob importances for one objective over the scored trials only (Optuna's default
    evaluator, run on an in-memory copy of them); empty when there are too few to tell.

    Example:
        >>> study = load_study("digits")  # doctest: +SKIP
        >>> param_importances(study, OBJECTIVES["accuracy"])  # doctest: +SKIP
        {'width': 0.61, 'ratio': 0.22, 'dw_size': 0.17}
    """
    objectives = study_objectives(study)
    index = [o.name for o in objectives].index(objective.name)
    scored = [t for t in scored_trials(study.get_trials(deepcopy=False)) if t.values is not None]
    if len(scored) < 2 or len({json.dumps(t.params, sort_keys=True) for t in scored}) < 2:
        return {}
    # Optuna's default evaluator ranks knobs for *low* target values, so maximised
    # objectives are negated.
    sign = -1.0 if objective.direction == "maximize" else 1.0
    try:
        with warnings.catch_warnings():
            # The evaluator warns that it ranks for low targets: the sign above already says so.
            warnings.simplefilter("ignore", UserWarning)
            return optuna.importance.get_param_importances(_in_memory(study, scored), target=lambda t: sign * t.values[index])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def _in_memory(study: optuna.Study, trials: Sequence[FrozenTrial]) -> optuna.Study:
    """A quiet in-memory study holding light copies (no user attributes) of `trials`."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials([optuna.trial.create_trial(state=t.state, values=t.values, params=t.params,
                                               distributions=t.distributions) for t in trials])
    return copy


def macs_latency_correlation(frame: pd.DataFrame) -> dict[str, float]:
    """Pearson and Spearman correlation between MACs and measured latency (p50) over
    trials with both: how well FLOPs predict latency on the measuring device."""
    both = frame[[record.MACS, record.LATENCY_P50]].dropna() if not frame.empty else frame
    if len(both) < 3 or both[record.MACS].nunique() < 2 or both[record.LATENCY_P50].nunique() < 2:
        return {"pearson": math.nan, "spearman": math.nan, "n": float(len(both))}  # undefined for a constant
    return {
        "pearson": float(both[record.MACS].corr(both[record.LATENCY_P50], method="pearson")),
        "spearman": float(both[record.MACS].corr(both[record.LATENCY_P50], method="spearman")),
        "n": float(len(both)),
    }


def open_results(study_name: str, storage: str | None = None) -> tuple[optuna.Study, pd.DataFrame]:
    """Load a study and its trials frame in one call."""
    study = load_study(study_name, storage)
    return study, trials_frame(study)
