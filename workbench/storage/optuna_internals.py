"""Every use of Optuna's private API, in one place, each with a contract test
(tests/test_storage_contract.py), so an Optuna upgrade breaks here and nowhere else.

What is private and why we use it:

* the list-form constraints system attribute (`constraints`): optuna-dashboard 0.21 greys
  infeasible trials only from it, while Optuna 5 writes one `constraints:<name>` per value;
* `Study._storage` / `Study._study_id` / `Trial._trial_id`: to fail a dead worker's RUNNING
  trial, to read one trial by number without loading the study, to name a study's storage;
* the RDB storage's `url` and the journal backend's `_file_path`: to say where a study lives;
* the `study:metric_names` system attribute: a study's objective names without loading it;
* `optuna._hypervolume.compute_hypervolume` and `optuna.study._multi_objective._is_pareto_front`:
  the exact hypervolume and Pareto test behind `Study.best_trials` and Optuna's TPE, so our
  fronts and hypervolumes equal Optuna's.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume as _compute_hypervolume
from optuna.storages import BaseStorage
from optuna.study._multi_objective import _is_pareto_front
from optuna.trial import FrozenTrial, TrialState

# Optuna's list-form constraints key. Optuna 5 stores one `constraints:<name>` system attribute
# per `trial.set_constraint`; optuna-dashboard 0.21 reads only this older list.
_LIST_CONSTRAINTS_KEY = "constraints"
# Where `Study.set_metric_names` keeps the names (a system attribute of the study).
_METRIC_NAMES_KEY = "study:metric_names"


def set_constraint_list(trial: optuna.Trial, values: Sequence[float]) -> None:
    """Also store a running trial's constraint values in Optuna's list form (the system
    attribute `constraints`), so that optuna-dashboard 0.21 greys infeasible trials.

    Optuna then reads both forms: `trial.constraints` holds the named values and the same
    values under the keys "0", "1", ...; feasibility (every value <= 0) is unchanged.

    Example:
        >>> def objective(trial):
        ...     trial.set_constraint("max_macs", 5.0)
        ...     set_constraint_list(trial, [5.0])
        ...     return 0.0
        >>> study = optuna.create_study()
        >>> study.optimize(objective, n_trials=1)
        >>> study.trials[0].system_attrs["constraints"]
        [5.0]
    """
    trial.storage.set_trial_system_attr(trial._trial_id, _LIST_CONSTRAINTS_KEY, [float(v) for v in values])


def named_constraints(trial: FrozenTrial) -> dict[str, float]:
    """A trial's constraint values by name, without the list-form copies ("0", "1", ...)
    that `set_constraint_list` adds (old list-only trials keep their numbered values).

    Example:
        >>> trial = optuna.trial.create_trial(value=0.0, constraints={"max_macs": 2.0},
        ...                                   system_attrs={"constraints": [2.0]})
        >>> named_constraints(trial)
        {'max_macs': 2.0}
    """
    values = dict(trial.constraints)
    listed = trial.system_attrs.get(_LIST_CONSTRAINTS_KEY)
    if listed is not None and len(values) > len(listed):
        for index in range(len(listed)):
            values.pop(str(index), None)
    return values


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage object a study reads and writes."""
    return study._storage


def trial_by_number(study: optuna.Study, number: int) -> FrozenTrial:
    """One trial of a study by its number, read alone (no full study load).

    Raises:
        KeyError: no such trial.
    """
    storage = study._storage
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study._study_id, number))


def fail_running(study: optuna.Study, reason_key: str, reason: str, numbers: Sequence[int] | None = None) -> int:
    """Mark the RUNNING trials of the study (all, or those `numbers`) FAIL with `reason` in user
    attribute `reason_key` (only safe for trials no live process works on). Returns how many.

    A trial with no parameters yet (its worker was killed between Optuna creating the trial and
    the first `suggest_*`) holds nothing worth keeping: it goes back to WAITING instead, and the
    next worker that asks runs it as a fresh trial, so a kill never leaves an empty FAIL trial."""
    storage = study._storage
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if numbers is not None and trial.number not in numbers:
            continue
        try:
            if not trial.params:
                storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
                continue
            storage.set_trial_user_attr(trial._trial_id, reason_key, reason)
            if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                count += 1
        except Exception:  # noqa: BLE001 - another process finished it first
            continue
    return count


def storage_location(storage: BaseStorage) -> tuple[str | None, str | None]:
    """(SQLAlchemy URL, journal file path) of a storage; None for what it is not."""
    backend = getattr(storage, "_backend", storage)  # _CachedStorage wraps the RDB storage
    url = getattr(backend, "url", None)
    journal = getattr(backend, "_file_path", None)   # JournalStorage._backend is the file backend
    return (str(url) if url else None), (str(journal) if journal else None)


def release_storage(storage: BaseStorage) -> None:
    """Close an RDB storage's sessions and connection pool now (readers must not hold SQLite
    locks); a no-op for other storages."""
    backend = getattr(storage, "_backend", storage)
    remove = getattr(backend, "remove_session", None)  # RDBStorage's public session reset
    if remove is not None:
        remove()
    engine = getattr(backend, "engine", None)
    if engine is not None:
        engine.dispose()


def stored_metric_names(study: Any) -> list[str] | None:
    """A study's objective names from its system attributes (an `optuna.Study` or a `FrozenStudy`,
    which has no `metric_names`)."""
    names = study.system_attrs.get(_METRIC_NAMES_KEY)
    return list(names) if names else None


def study_id(study: Any) -> int:
    """The storage's id of a study (`Study` or `FrozenStudy`)."""
    return int(study._study_id)


def trial_state_counts(storage: BaseStorage, studies: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """Per study id: trial counts by state name, and the earliest trial start under the key
    `"started"` (None without trials). One GROUP BY on Optuna's `trials` table for an RDB
    storage (reading every trial only to count them takes seconds on a large study),
    otherwise by reading the trials."""
    ids = [study_id(s) for s in studies]
    counts: dict[int, dict[str, Any]] = {i: {"started": None} for i in ids}
    backend = getattr(storage, "_backend", storage)
    engine = getattr(backend, "engine", None)
    if engine is not None:
        import sqlalchemy

        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text(
                "SELECT study_id, state, COUNT(*), MIN(datetime_start) FROM trials GROUP BY study_id, state"))
            for sid, state, n, first in rows:
                name = state.name if hasattr(state, "name") else str(state)
                entry = counts.setdefault(int(sid), {"started": None})
                entry[name] = int(n)
                first = _as_datetime(first)
                if first is not None and (entry["started"] is None or first < entry["started"]):
                    entry["started"] = first
        return counts
    for sid in ids:
        for trial in storage.get_all_trials(sid, deepcopy=False):
            entry = counts[sid]
            entry[trial.state.name] = entry.get(trial.state.name, 0) + 1
            started = trial.datetime_start
            if started is not None and (entry["started"] is None or started < entry["started"]):
                entry["started"] = trial.datetime_start
    return counts


def _as_datetime(value: Any) -> Any:
    """SQLite hands back text where PostgreSQL hands back a datetime."""
    if isinstance(value, str):
        from datetime import datetime

        return datetime.fromisoformat(value)
    return value


def pareto_mask(losses: np.ndarray) -> np.ndarray:
    """Which rows are on the Pareto front (every column minimised), as Optuna decides it."""
    return _is_pareto_front(np.asarray(losses, dtype=float), assume_unique_lexsorted=False)


def hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Optuna's exact hypervolume of `losses` (minimised) against `reference`; rows not strictly
    better than the reference in every column contribute nothing.

    Example:
        >>> hypervolume(np.array([[1.0, 1.0]]), np.array([3.0, 2.0]))
        2.0
    """
    losses = np.asarray(losses, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if not len(losses):
        return 0.0
    inside = losses[np.all(losses < reference, axis=1)]
    return float(_compute_hypervolume(inside, reference)) if len(inside) else 0.0
