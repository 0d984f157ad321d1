"""A study read once in full, then only what changed: what keeps auto-refresh cheap at 10,000 trials.

`StudyCache` keeps the trials of one study by number. Each `refresh()` asks the storage, through
Optuna's public storage API only, for the trials numbered past the last read (counted by
`workbench.storage.count_trials`, which probes trial numbers) and for the trials
that were still running or waiting at the last read, and reads just those (`get_trial`). A finished
trial cannot change through Optuna's API, so it is never read twice. A large backlog (the first
read, a study that jumped by thousands of trials) is one `get_all_trials` instead.

The storage is opened once per cache and its connections released after every refresh
(`data.release`), so the app holds neither a connection nor a SQLite lock between reads.

Example:
    >>> cache = StudyCache("sqlite:///workbench.db", "digits")  # doctest: +SKIP
    >>> cache.refresh().read.full  # the first read is a full one  # doctest: +SKIP
    True
    >>> cache.refresh().read.numbers  # nothing new: nothing read  # doctest: +SKIP
    ()
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from workbench.dashboard import data
from workbench.errors import WorkbenchError
from workbench.record import StudyRecord
from workbench.storage import count_trials, normalise_url, open_storage

UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)
_VERSIONS = itertools.count()  # process-wide: a version never names two different reads
# Above this many trials to read, one bulk `get_all_trials` beats reading them one by one.
BULK_READ_MIN = 200
BULK_READ_FRACTION = 0.1


@dataclass(frozen=True)
class Read:
    """What one refresh read from storage: the trial numbers (all of them for a full read)."""

    full: bool
    numbers: tuple[int, ...]
    seconds: float


@dataclass(frozen=True)
class Snapshot:
    """The study as of one refresh: its data for the views, a version that changes whenever
    a trial or a study attribute changed, and what that refresh read."""

    study: data.StudyData
    version: int
    read: Read


class StudyCache:
    """The trials of one study, kept in memory and refreshed incrementally (thread-safe:
    Streamlit runs each browser session in its own thread)."""

    def __init__(self, storage_url: str, study_name: str) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self._lock = threading.Lock()
        self._storage: BaseStorage | None = None
        self._study_id: int | None = None
        self._trials: dict[int, FrozenTrial] = {}
        self._unfinished: set[int] = set()
        self._attrs: Any = None
        self._snapshot: Snapshot | None = None

    def refresh(self, *, full: bool = False) -> Snapshot:
        """Read what changed since the last refresh (everything with `full=True`) and return
        the study as it is now. The study data is rebuilt (in memory) only when something changed."""
        with self._lock:
            started = time.perf_counter()
            storage = self._open()
            try:
                numbers, was_full = self._read(storage, self._study_id_of(storage), full)
                study = optuna.load_study(study_name=self.study_name, storage=storage)
                attrs = (StudyRecord.of(study), study.metric_names)
                if numbers or attrs != self._attrs or self._snapshot is None:
                    self._attrs = attrs
                    trials = [self._trials[n] for n in sorted(self._trials)]
                    study_data, version = data.build_study_data(study, trials), next(_VERSIONS)
                else:
                    study_data, version = self._snapshot.study, self._snapshot.version
            finally:
                data.release(storage)
            read = Read(was_full, tuple(numbers), time.perf_counter() - started)
            self._snapshot = Snapshot(study_data, version, read)
            return self._snapshot

    def _open(self) -> BaseStorage:
        if self._storage is None:
            self._storage = open_storage(self.storage_url)
        return self._storage

    def _study_id_of(self, storage: BaseStorage) -> int:
        try:
            return storage.get_study_id_from_name(self.study_name)
        except KeyError:
            names = [s.study_name for s in storage.get_all_studies()]
            raise WorkbenchError(f"no study '{self.study_name}' in {normalise_url(self.storage_url)} "
                                 f"(studies there: {', '.join(names) or 'none'})") from None

    def _read(self, storage: BaseStorage, study_id: int, full: bool) -> tuple[list[int], bool]:
        """Update the kept trials; return the numbers read and whether it was a full read."""
        if study_id != self._study_id:  # a new cache, or the study was deleted and made again
            self._study_id, self._trials, self._unfinished = study_id, {}, set()
        known = len(self._trials)
        total = count_trials(storage, study_id, known)
        if total < known:  # trials vanished: the storage was replaced under us
            self._trials, self._unfinished, known = {}, set(), 0
            total = count_trials(storage, study_id, 0)
        wanted = sorted(self._unfinished | set(range(known, total)))
        if full or not self._trials or len(wanted) > max(BULK_READ_MIN, BULK_READ_FRACTION * known):
            trials = storage.get_all_trials(study_id, deepcopy=False)
            self._trials = {}
            self._store(trials)
            return [t.number for t in trials], True
        self._store([storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, n)) for n in wanted])
        return wanted, False

    def _store(self, trials: list[FrozenTrial]) -> None:
        for trial in trials:
            self._trials[trial.number] = trial
            if trial.state in UNFINISHED:
                self._unfinished.add(trial.number)
            else:
                self._unfinished.discard(trial.number)


_CACHES: dict[tuple[str, str], StudyCache] = {}
_CACHES_LOCK = threading.Lock()


def study_cache(storage_url: str, study_name: str) -> StudyCache:
    """The process-wide cache of one study (one per storage and study name), shared by every
    browser session of the app."""
    key = (storage_url, study_name)
    with _CACHES_LOCK:
        if key not in _CACHES:
            _CACHES[key] = StudyCache(storage_url, study_name)
        return _CACHES[key]


def forget(storage_url: str | None = None) -> None:
    """Drop the kept studies (of one storage, or all): the next refresh reads in full."""
    with _CACHES_LOCK:
        for key in [k for k in _CACHES if storage_url is None or k[0] == storage_url]:
            del _CACHES[key]
