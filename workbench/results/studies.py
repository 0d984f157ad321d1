"""The catalogue of studies: what a storage holds (`list_studies`), what one study is
(`study_info`, `StudyInfo`) and its objectives (`study_objectives`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from workbench.errors import WorkbenchError
from workbench.record import Budgets, Objective, StudyRecord, TrialRecord, objective, study_names
from workbench.results.frame import OBJECTIVE_PREFIX, trials_frame
from workbench.storage import (
    load_study,
    normalise_url,
    open_storage,
    release_storage,
    stored_metric_names,
    study_id,
    trial_state_counts,
)


@dataclass(frozen=True)
class StudyInfo:
    """What a study is: its name, objectives, space, dataset, device and trial counts, how
    noisy its accuracy is (seed noise sd, proxy-to-confirmed Kendall tau) where measured, and
    its latency targets' settings (empty for a study older than targets)."""

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
    latency_targets: dict[str, dict[str, Any]] = field(default_factory=dict)  # settings by name, in order


def study_objectives(study: optuna.Study) -> list[Objective]:
    """The study's objectives, from its registered metric names (or its stored attribute)."""
    names = study_names(study)
    if not names:
        raise WorkbenchError(f"study '{study.study_name}' has no registered objective names; was it made by workbench?")
    if len(names) != len(study.directions):
        raise WorkbenchError(f"study '{study.study_name}': {len(names)} objective names "
                             f"for {len(study.directions)} objectives")
    # A name outside OBJECTIVES is a single-objective study's scalarisation: its values live
    # in the trial values, exposed by `trials_frame` as an `objective_<name>` column.
    return [_objective(name, direction.name) for name, direction in zip(names, study.directions)]


def _objective(name: str, direction: str) -> Objective:
    try:
        return objective(name)
    except KeyError:
        return Objective(name, f"{OBJECTIVE_PREFIX}{name}", "maximize" if direction == "MAXIMIZE" else "minimize")




def study_info(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> StudyInfo:
    """Summarise a study from its attributes and trials.

    Example:
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> study.set_metric_names(["accuracy", "macs"])
        >>> study.add_trial(optuna.trial.create_trial(values=[0.9, 1e6]))
        >>> info = study_info(study)
        >>> [o.name for o in info.objectives], info.states, info.statuses, info.noise_sd
        (['accuracy', 'macs'], {'COMPLETE': 1}, {'complete': 1}, None)
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    stored = StudyRecord.of(study)
    states: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        status = TrialRecord.of(trial).status
        statuses[status] = statuses.get(status, 0) + 1
    return StudyInfo(
        name=study.study_name, objectives=study_objectives(study), n_trials=len(trials), states=states,
        dataset=stored.dataset, device=stored.device, space_file=stored.space_file, budgets=stored.budgets,
        latency_protocol=stored.latency_protocol, attrs=dict(stored.attrs), statuses=statuses,
        noise_sd=stored.noise_sd, noise=stored.noise, fidelity=stored.fidelity,
        latency_targets=stored.latency_targets,
    )


STUDY_COLUMNS = ["study", "trials", "complete", "failed", "running", "queued", "objectives", "dataset", "device",
                 "started"]


def list_studies(storage: str | None = None) -> pd.DataFrame:
    """One row per study: name, trial counts by state (all, complete, failed, running,
    queued: WAITING retries and enqueued trials no worker has started), objectives, dataset,
    device and start time. Read without loading any trial on a database (one counting query),
    and the connections are released before returning: the listing of `workbench studies` and
    of the dashboard.

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
        names = stored_metric_names(study) or stored.objectives or []
        rows.append({
            "study": study.study_name, "trials": sum(by_state.values()), "complete": by_state.get("COMPLETE", 0),
            "failed": by_state.get("FAIL", 0), "running": by_state.get("RUNNING", 0),
            "queued": by_state.get("WAITING", 0),
            "objectives": ", ".join(names), "dataset": stored.dataset,
            "device": stored.device, "started": started,
        })
    return pd.DataFrame(rows, columns=STUDY_COLUMNS)




def open_results(study_name: str, storage: str | None = None) -> tuple[optuna.Study, pd.DataFrame]:
    """Load a study and its trials frame in one call."""
    study = load_study(study_name, storage)
    return study, trials_frame(study)
