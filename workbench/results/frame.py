"""The trials frame: every trial as one row, which trials were scored, and the standard errors
ties are judged with (the proxy accuracy's and `workbench confirm`'s).

A trial whose status is not in `record.SCORED_STATUSES` (rejected, failed, ...) has no
accuracy here, whatever placeholder its objective value holds.

Example:
    >>> import optuna
    >>> study = optuna.create_study(directions=["maximize", "minimize"])
    >>> study.add_trial(optuna.trial.create_trial(values=[0.9, 1e6], user_attrs={record.STATUS: "complete"}))
    >>> study.add_trial(optuna.trial.create_trial(values=[0.0, 5e5], user_attrs={record.STATUS: "rejected"}))
    >>> frame = trials_frame(study)
    >>> frame[SCORED].tolist(), status_counts(frame)
    ([True, False], {'complete': 1, 'rejected (never scored)': 1})
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from workbench import record
from workbench.record import StudyRecord, TrialRecord, finite_number
from workbench.stats import binomial_se
from workbench.storage import named_constraints

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
        >>> from optuna.trial import create_trial
        >>> trials = [create_trial(value=0.9, user_attrs={record.STATUS: "complete"}),
        ...           create_trial(value=0.0, user_attrs={record.STATUS: "rejected"})]
        >>> for number, trial in enumerate(trials):
        ...     trial.number = number
        >>> scored_numbers(trials)
        {0}
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
        >>> frame = pd.DataFrame({"status": ["complete", "failed", "stopped", "running"],
        ...                       "scored": [True, False, False, False]})
        >>> status_counts(frame)
        {'complete': 1, 'failed (never scored)': 1, 'running': 1, 'stopped (lower rung only)': 1}
    """
    if frame.empty:
        return {}
    counts: dict[str, int] = {}
    for status, scored in zip(frame["status"].astype(str), scored_mask(frame)):
        unscored = _UNSCORED_NAMES.get(status, f"{status} (never scored)")
        name = status if scored or status in ("running", "waiting") else unscored
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
        value = finite_number(attrs.get(column))
        row[column] = np.nan if value is None else value
    # A never-scored trial's stored accuracy is a placeholder (0.0 in old studies): not a figure.
    if not scored:
        row[record.ACCURACY] = np.nan
    for column in (record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD):
        value = finite_number(attrs.get(column)) if scored else None
        row[column] = np.nan if value is None else value
    row[ACCURACY_SE] = np.nan  # filled in by `trials_frame`, which knows the study's noise
    val_size = finite_number(attrs.get(record.VAL_SIZE))
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
    row.update(_target_columns(attrs))
    row.update(_int8_columns(attrs, scored))
    row[record.ACCURACY_BY_RUNG] = attrs.accuracy_by_rung
    rung = finite_number(attrs.get(record.RUNG))
    row[record.RUNG] = np.nan if rung is None else rung
    score = finite_number(attrs.get(record.PRESCREEN_SCORE))
    row[record.PRESCREEN_SCORE] = np.nan if score is None else score
    return row


# Per-target columns besides the figures (record.TARGET_FIGURES): whether it ran, and why not.
TARGET_AVAILABLE, TARGET_REASON = "latency_available", "latency_reason"
# Predicted targets only: the flag and the prediction interval's ends.
TARGET_PREDICTED, TARGET_LOW, TARGET_HIGH = "latency_predicted", "latency_low_ms", "latency_high_ms"
INT8_REASON = "int8_reason"


def is_objective(name: str) -> bool:
    """True for a registered objective name (`accuracy`, `latency_ms:ort-cpu`, ...), False for a scalarisation's."""
    try:
        record.objective(name)
    except KeyError:
        return False
    return True


def _target_columns(attrs: TrialRecord) -> dict[str, Any]:
    """`latency_p50_ms:<target>`, p90, cv, noisy, available and reason for every measured target."""
    row: dict[str, Any] = {}
    for name, entry in attrs.latency_targets.items():
        available = bool(entry.get("available", True))
        for column, key in record.TARGET_FIGURES.items():
            value = entry.get(key) if available else None
            if column == record.LATENCY_NOISY:
                row[record.target_column(column, name)] = bool(value) if value is not None else None
            else:
                number = finite_number(value)
                row[record.target_column(column, name)] = np.nan if number is None else number
        row[record.target_column(TARGET_AVAILABLE, name)] = available
        row[record.target_column(TARGET_REASON, name)] = entry.get("reason")
        if entry.get("predicted"):  # a prediction for an imported device, with its 90% interval
            row[record.target_column(TARGET_PREDICTED, name)] = True
            for column, key in ((TARGET_LOW, "low_ms"), (TARGET_HIGH, "high_ms")):
                number = finite_number(entry.get(key)) if available else None
                row[record.target_column(column, name)] = np.nan if number is None else number
    return row


def _int8_columns(attrs: TrialRecord, scored: bool) -> dict[str, Any]:
    """The int8 accuracy figures (NaN for a trial never scored or without them) and their reason."""
    row: dict[str, Any] = {}
    entry = attrs.int8
    for column in record.INT8_COLUMNS:
        value = attrs.number_of(column) if scored else None
        row[column] = np.nan if value is None else value
    if entry is not None:
        row[INT8_REASON] = entry.get("reason")
    return row


def target_names(frame: pd.DataFrame) -> list[str]:
    """The latency targets with figures in `frame`, in the study's order (`frame.attrs`), else column order.

    Example:
        >>> target_names(pd.DataFrame(columns=["macs", "latency_p50_ms:ort-cpu", "latency_p50_ms:torch"]))
        ['ort-cpu', 'torch']
    """
    prefix = record.target_column(record.LATENCY_P50, "")
    found = [column[len(prefix):] for column in frame.columns if str(column).startswith(prefix)]
    ordered = [name for name in frame.attrs.get("latency_targets", []) if name in found]
    return ordered + [name for name in found if name not in ordered]


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
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> study.add_trial(optuna.trial.create_trial(values=[0.9, 1e6], user_attrs={
        ...     record.STATUS: "complete", record.ACCURACY: 0.9, record.MACS: 1e6, record.VAL_SIZE: 100}))
        >>> frame = trials_frame(study)
        >>> row = frame.iloc[0]
        >>> float(row["accuracy"]), float(row["macs"]), round(float(row["accuracy_se"]), 4)   # sqrt(.9 * .1 / 100)
        (0.9, 1000000.0, 0.03)
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    names = study.metric_names or []
    scalarised = [(i, name) for i, name in enumerate(names) if not is_objective(name)]
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
    targets = StudyRecord.of(study).latency_targets
    frame.attrs["latency_targets"] = list(targets)
    frame.attrs["predicted_targets"] = {name: settings.get("predictor") for name, settings in targets.items()
                                        if settings.get("engine") == "predictor"}
    frame.attrs["headline_target"] = headline_target(targets)
    return frame


def headline_target(settings: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The target a headline latency names: the deployment engine's (the first fp32 onnxruntime
    target, else the first onnxruntime one), else the first target; None without targets.

    Example:
        >>> headline_target({"torch-cpu": {"engine": "torch"}, "ort-int8": {"engine": "onnxruntime",
        ...                  "precision": "int8"}, "ort-cpu": {"engine": "onnxruntime", "precision": "fp32"}})
        'ort-cpu'
        >>> headline_target({"torch-cpu": {"engine": "torch"}}), headline_target({})
        ('torch-cpu', None)
    """
    ort = [name for name, s in settings.items() if s.get("engine") == "onnxruntime"]
    fp32 = [name for name in ort if settings[name].get("precision", "fp32") == "fp32"]
    return next(iter(fp32 or ort or list(settings)), None)




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
    columns = (frame[record.ACCURACY], frame[record.VAL_SIZE], frame[record.ACCURACY_SAMPLES])
    for accuracy, val_size, samples in zip(*columns):
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
    rows = zip(frame.index, frame["number"], frame[record.ARCH_HASH], frame[record.VAL_SIZE])
    for index, number, digest, val_size in rows:
        confirmation = found.get(int(number)) or (by_hash.get(digest) if isinstance(digest, str) else None)
        if confirmation is None:
            continue
        accuracy = float(confirmation["accuracy"])
        sd = finite_number(confirmation.get("sd"))
        samples = [float(s) for s in confirmation.get("samples") or [] if finite_number(s) is not None]
        seeds = len(samples) or len(confirmation.get("seeds") or []) or 1
        epochs = finite_number(confirmation.get("epochs"))
        frame.at[index, record.CONFIRMED_ACCURACY] = accuracy
        frame.at[index, record.CONFIRMED_SD] = np.nan if sd is None else sd
        se = sd / math.sqrt(seeds) if sd is not None and seeds > 1 else _binomial_se(accuracy, val_size)
        frame.at[index, CONFIRMED_SE] = se
        frame.at[index, record.CONFIRMED_EPOCHS] = np.nan if epochs is None else epochs
        frame.at[index, record.CONFIRMED_SAMPLES] = samples or None


