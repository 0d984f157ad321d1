"""Creating a search's study, or resuming it after checking it was made from the same space."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import optuna

from workbench import __version__, record
from workbench.config.io import to_plain
from workbench.errors import WorkbenchError
from workbench.record import StudyRecord, study_names, write_study_record
from workbench.search.retry import retry
from workbench.search.space import SearchSpace
from workbench.storage import normalise_url, open_storage


def study_attrs(space: SearchSpace, space_hash: str, device_name: str, protocol: Any,
                targets: Sequence[Any] = ()) -> dict[str, Any]:
    """The study-level record (record.STUDY_*); `targets` are the run's `LatencyTarget`s."""
    latency = dict(protocol.to_dict(), device_name=device_name) if protocol is not None else None
    return {
        record.STUDY_SPACE_FILE: space.source,
        record.STUDY_SPACE_HASH: space_hash,
        record.STUDY_SPACE: to_plain(space),
        record.STUDY_DATASET: space.dataset,
        record.STUDY_DEVICE: device_name,
        record.STUDY_OBJECTIVES: space.metric_names,
        record.STUDY_BUDGETS: space.budgets.model_dump(),
        record.STUDY_LATENCY_PROTOCOL: latency,
        record.STUDY_LATENCY_TARGETS: {target.name: target.settings() for target in targets},
        record.STUDY_WORKBENCH_VERSION: __version__,
    }


def open_search_study(
    space: SearchSpace,
    study_name: str,
    storage: str | None,
    *,
    device_name: str = "cpu",
    protocol: Any = None,
    targets: Sequence[Any] = (),
    allow_space_change: bool = False,
    heartbeat: int | None = None,
) -> optuna.Study:
    """Create the study, or load it and check it was made from the same space.

    Raises:
        WorkbenchError: an empty study name; objectives or the space differ from the stored ones.
    """
    check_study_name(study_name)
    space_hash = space.space_hash()
    url = normalise_url(storage)
    backend = open_for_search(url, heartbeat)
    existing = _existing_names(backend)
    if study_name in existing:
        study = optuna.load_study(study_name=study_name, storage=backend)
        _check_resume(study, space, space_hash, allow_space_change)
        if allow_space_change:
            write_study_record(study, study_attrs(space, space_hash, device_name, protocol, targets))
        return study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name, storage=backend, directions=space.directions, load_if_exists=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(space.metric_names)
    write_study_record(study, study_attrs(space, space_hash, device_name, protocol, targets))
    return study


# The longest study name a search takes: report folders and shell hints are named after it.
MAX_STUDY_NAME = 200


def check_study_name(name: str) -> None:
    """Refuse a name that is empty or only blanks (it would silently become another name), or
    longer than `MAX_STUDY_NAME` characters.

    Example:
        >>> check_study_name("digits")
    """
    if not name or not name.strip():
        raise WorkbenchError(f"--study: a study name cannot be empty (got {name!r})")
    if len(name) > MAX_STUDY_NAME:
        raise WorkbenchError(f"--study: a study name has at most {MAX_STUDY_NAME} characters (got {len(name):,})")


def _existing_names(backend: optuna.storages.BaseStorage) -> set[str]:
    return {s.study_name for s in backend.get_all_studies()}


def _check_resume(study: optuna.Study, space: SearchSpace, space_hash: str, allow_space_change: bool) -> None:
    stored_names = study_names(study)
    if stored_names and list(stored_names) != space.metric_names:
        raise WorkbenchError(
            f"study '{study.study_name}' optimises {list(stored_names)} but {space.source} asks for "
            f"{space.metric_names}; "
            "objectives cannot change within a study (use another --study name)"
        )
    stored = StudyRecord.of(study).space_hash
    if stored and stored != space_hash and not allow_space_change:
        raise WorkbenchError(
            f"study '{study.study_name}' was made from a different space: "
            f"{mismatch_text(StudyRecord.of(study), space)}; use another --study name, or "
            "--allow-space-change to continue anyway"
        )


def mismatch_text(stored_record: StudyRecord, space: SearchSpace) -> str:
    """What differs between the space a study was made from and `space`: its data, its text
    (the differing fields), or both; the files are named.

    Example:
        >>> from workbench.search.space import parse_space
        >>> mismatch_text(StudyRecord({"space": {"dataset": "digits", "seed": 0}, "space_file": "a.yaml"}),
        ...               parse_space({"base": "ghostnet_cifar_050", "dataset": "cifar10:/d"}, "b.yaml"))[:64]
        "the data: the study was made on 'digits', this run reads 'cifar1"
    """
    stored = dict(stored_record.space or {})
    current = to_plain(space)
    parts = []
    if stored.get("dataset") != current.get("dataset"):
        parts.append(
            f"the data: the study was made on '{stored.get('dataset')}', this run reads '{current.get('dataset')}'"
            " (--data or the space's dataset:)"
        )
    fields = [path for path in _differences(stored, current) if path not in _NOT_HASHED and path != "dataset"]
    if fields:
        shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
        parts.append(f"the space's text: {shown} differ")
    where = stored_record.space_file
    files = (
        f"stored from {where}, this run reads {space.source}" if where != space.source else f"both from {space.source}"
    )
    if not parts:
        parts.append("the space's hash (an older workbench version hashed it differently)")
    return "; ".join(parts) + f" ({files})"


# Fields left out of the space hash: they may change within a study.
_NOT_HASHED = ("seed", "noise")


def _differences(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two plain values differ (a missing key counts as None)."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current)):
            path = f"{prefix}{key}"
            if path in _NOT_HASHED:
                continue
            out += _differences(stored.get(key), current.get(key), f"{path}.")
        return out
    return [] if stored == current else [prefix.rstrip(".")]


def open_for_search(url: str, heartbeat: int | None) -> optuna.storages.BaseStorage:
    """Open for a search; heartbeats only on a database server (SQLite has one writer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return open_storage(url, create=True, heartbeat_interval=heartbeat if is_database_server(url) else None,
                            stale_trial_callback=retry)


def is_database_server(url: str) -> bool:
    """True for a database server URL (PostgreSQL, MySQL): several machines, heartbeats."""
    return "://" in url and not url.startswith("sqlite")
