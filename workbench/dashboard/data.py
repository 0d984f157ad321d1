"""What the dashboard reads from storage, read-only: load, then release.

Every function opens the storage, reads, and disposes of the database connections before
returning, so the app never holds a connection (or a SQLite lock) beside a running study.
Nothing here imports Streamlit; `cached` wraps these functions in `st.cache_data` keyed on
the storage, the study and its trial counts.

Example:
    >>> catalog = study_catalog("sqlite:///workbench.db")  # doctest: +SKIP
    >>> data = load_study_data("sqlite:///workbench.db", "digits")  # doctest: +SKIP
    >>> data.frame[["number", "accuracy", "macs"]].head()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from workbench import record, results
from workbench.record import TrialRecord
from workbench.storage import DEFAULT_STORAGE, load_study, release_storage, study_storage

STORAGE_ENV = "WORKBENCH_STORAGE"
STUDY_ENV = "WORKBENCH_STUDY"
CATALOG_COLUMNS = ["study", "trials", "complete", "failed", "running", "queued", "objectives", "dataset", "device"]


def default_storage(argv: Sequence[str] | None = None) -> str:
    """The storage the app opens first: `streamlit run app.py -- --storage URL`, else the
    `WORKBENCH_STORAGE` environment variable, else the CLI's default SQLite file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv):
        if arg == "--storage" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--storage="):
            return arg.split("=", 1)[1]
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def default_study(argv: Sequence[str] | None = None) -> str | None:
    """`-- --study NAME` or the `WORKBENCH_STUDY` environment variable, if given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv):
        if arg == "--study" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--study="):
            return arg.split("=", 1)[1]
    return os.environ.get(STUDY_ENV) or None


# Close every database connection a storage holds (the storage package owns how).
release = release_storage


def mask_url(url: str) -> str:
    """The URL with its password hidden.

    Example:
        >>> mask_url("postgresql://me:secret@db/studies"), mask_url("runs/journal.log")
        ('postgresql://me:***@db/studies', 'runs/journal.log')
    """
    try:
        import sqlalchemy

        if "://" in url:
            return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: nothing to hide
        pass
    return url


def catalog_counts(catalog: pd.DataFrame, name: str) -> tuple[int, ...]:
    """A study's trial counts in the catalog (all, complete, failed, running, queued): what the
    cached study is keyed on."""
    row = catalog.set_index("study").loc[name]
    return int(row["trials"]), int(row["complete"]), int(row["failed"]), int(row["running"]), int(row["queued"])


def study_catalog(storage_url: str | None) -> pd.DataFrame:
    """One row per study in the storage (`results.list_studies`, the listing `workbench
    studies` prints). Raises `WorkbenchError` for a missing file or an unreachable database."""
    return results.list_studies(storage_url)[CATALOG_COLUMNS]


@dataclass
class StudyData:
    """One read of a study: its summary, its trials frame, and what the frame leaves out
    (per-trial curves and latency protocol; the trials themselves, for importances)."""

    info: results.StudyInfo
    frame: pd.DataFrame
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)
    trials: list[FrozenTrial] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)

    @property
    def objectives(self) -> list[record.Objective]:
        return self.info.objectives

    @property
    def light_trials(self) -> list[FrozenTrial]:
        """Light copies (no user attributes) of the scored trials: what importances rank."""
        # Importances rank knobs over scored trials only: a rejected trial's placeholder accuracy is no figure.
        scored = set(self.frame.loc[results.scored_mask(self.frame), "number"]) if not self.frame.empty else set()
        return [_light(t) for t in self.trials if t.number in scored and t.values is not None and len(t.params)]


_EXTRA_KEYS = (record.VAL_CURVE, record.LOSS_CURVE, record.LATENCY_PROTOCOL, record.ARCH_HASH, record.UNSUPPORTED_OPS,
               record.ACTIVATIONS, record.WORKBENCH_VERSION)


def _light(trial: FrozenTrial) -> FrozenTrial:
    """A completed trial without its user attributes (enough for parameter importances)."""
    return optuna.trial.create_trial(state=trial.state, values=trial.values, params=trial.params,
                                     distributions=trial.distributions, constraints=dict(trial.constraints))


def build_study_data(study: optuna.Study, trials: Sequence[FrozenTrial]) -> StudyData:
    """The trials frame and summary of `study` over `trials` (already read), through
    `workbench.results`; reads only the study's attributes."""
    info = results.study_info(study, trials)
    frame = results.trials_frame(study, trials)
    frame.attrs["latency_protocol"] = info.latency_protocol
    extras = {t.number: TrialRecord.of(t).figures(_EXTRA_KEYS) for t in trials}
    directions = [d.name.lower() for d in study.directions]
    return StudyData(info=info, frame=frame, extras=extras, trials=list(trials), directions=directions)


def load_study_data(storage_url: str | None, study_name: str) -> StudyData:
    """Read a study once (one `get_trials`), build its trials frame and summary through
    `workbench.results`, then release the storage."""
    study = load_study(study_name, storage_url)
    try:
        return build_study_data(study, study.get_trials(deepcopy=False))
    finally:
        release(study_storage(study))


def importances(data: StudyData) -> dict[str, dict[str, float]]:
    """Knob importance per objective (`results.param_importances`) over an in-memory copy of
    the scored trials, so storage is not read a second time."""
    light = data.light_trials
    if len(light) < 2:
        return {o.name: {} for o in data.objectives}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # set_metric_names is "experimental"; the evaluator's notes
            study = optuna.create_study(directions=data.directions)
            study.set_metric_names([o.name for o in data.objectives])
            study.add_trials(light)
            return {o.name: dict(results.param_importances(study, o)) for o in data.objectives}
    finally:
        optuna.logging.set_verbosity(verbosity)
