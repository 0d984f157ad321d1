"""The dashboard's incremental study reads (`workbench.dashboard.cache`) against a real SQLite
storage that a second process-like writer keeps adding to: after the first read, a refresh reads
only the trials that are new or were unfinished, and its frame equals a fresh full read.

What was read is observed independently, in the database traffic (SQLAlchemy's statement
events), not taken from the cache's own account."""

from __future__ import annotations

import tempfile
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers.dashboard import Traffic
from study_factory import make_study

from workbench import record, results
from workbench.dashboard import cache

NAME = "cache-study"


@pytest.fixture
def storage():
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base, prefix="wb-cache-") as folder:
        url = f"sqlite:///{folder}/studies.db"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = make_study(None, name=NAME)
        optuna.copy_study(from_study_name=NAME, from_storage=study._storage, to_storage=url)
        yield url


def trial_id(url: str, number: int) -> int:
    """The storage's id of trial `number`, asked through a separate storage object."""
    backend = optuna.storages.RDBStorage(url)
    try:
        return backend.get_trial_id_from_study_id_trial_number(backend.get_study_id_from_name(NAME), number)
    finally:
        backend.engine.dispose()


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["duration_s"]).reset_index(drop=True)


def one_more_trial(url: str, accuracy: float = 0.96) -> int:
    """A writer finishes one more trial; its number."""
    writer = optuna.load_study(study_name=NAME, storage=url)
    trial = writer.ask()
    trial.set_user_attr(record.STATUS, "complete")
    trial.set_user_attr(record.ACCURACY, accuracy)
    trial.set_user_attr(record.MACS, 5.0e6)
    trial.set_user_attr(record.ARCH_HASH, f"new-{trial.number}")
    writer.tell(trial, [accuracy, 5.0e6])
    return trial.number


def test_first_read_is_full_and_equals_the_results_reader(storage):
    snapshot = cache.StudyCache(storage, NAME).refresh()
    _, expected = results.open_results(NAME, storage)
    assert snapshot.read.full and len(snapshot.read.numbers) == 9  # 8 complete + 1 failed, as written
    pd.testing.assert_frame_equal(comparable(snapshot.study.frame), comparable(expected))


def test_one_new_trial_is_the_only_trial_read(storage):
    study_cache = cache.StudyCache(storage, NAME)
    first = study_cache.refresh()
    number = one_more_trial(storage)
    with Traffic() as traffic:
        snapshot = study_cache.refresh()
    new_id = trial_id(storage, number)
    assert traffic.trial_ids_read("trial_user_attributes") == {new_id}
    assert traffic.trial_ids_read("trial_params") == {new_id}
    assert not snapshot.read.full and snapshot.version != first.version
    _, expected = results.open_results(NAME, storage)
    pd.testing.assert_frame_equal(comparable(snapshot.study.frame), comparable(expected))
    assert snapshot.study.frame["number"].max() == number == 9


def test_nothing_new_reads_no_trial(storage):
    study_cache = cache.StudyCache(storage, NAME)
    first = study_cache.refresh()
    with Traffic() as traffic:
        again = study_cache.refresh()
    assert traffic.trial_ids_read("trial_user_attributes") == set()
    assert again.version == first.version and again.study is first.study


def test_a_running_trial_is_read_again_when_it_finishes(storage):
    study_cache = cache.StudyCache(storage, NAME)
    study_cache.refresh()
    writer = optuna.load_study(study_name=NAME, storage=storage)
    running = writer.ask()
    frame = study_cache.refresh().study.frame
    assert frame.loc[frame["number"] == running.number, "state"].tolist() == ["RUNNING"]
    running.set_user_attr(record.STATUS, "complete")
    running.set_user_attr(record.ACCURACY, 0.91)
    running.set_user_attr(record.MACS, 4.0e6)
    writer.tell(running, [0.91, 4.0e6])
    later = one_more_trial(storage)
    with Traffic() as traffic:
        frame = study_cache.refresh().study.frame
    assert traffic.trial_ids_read() == {trial_id(storage, running.number), trial_id(storage, later)}
    row = frame.set_index("number").loc[running.number]
    assert row["state"] == "COMPLETE" and row[record.ACCURACY] == 0.91


def test_the_cache_holds_no_lock_between_reads(storage):
    study_cache = cache.StudyCache(storage, NAME)
    study_cache.refresh()
    writer = optuna.load_study(study_name=NAME, storage=optuna.storages.RDBStorage(
        storage, engine_kwargs={"connect_args": {"timeout": 1}}))
    writer.enqueue_trial({"ratio": 2})  # "database is locked" if the cache held a lock
    assert "WAITING" in set(study_cache.refresh().study.frame["state"])


def test_a_journal_file_is_read_incrementally_too(storage, tmp_path):
    from workbench.storage import open_storage

    journal = tmp_path / "studies.log"
    optuna.copy_study(from_study_name=NAME, from_storage=storage, to_storage=open_storage(str(journal), create=True))
    study_cache = cache.StudyCache(str(journal), NAME)
    assert study_cache.refresh().read.full
    writer = optuna.load_study(study_name=NAME, storage=open_storage(str(journal)))
    attrs = {record.STATUS: "complete", record.ACCURACY: 0.97, record.MACS: 1.0e6}
    writer.add_trial(optuna.trial.create_trial(values=[0.97, 1.0e6], user_attrs=attrs))
    snapshot = study_cache.refresh()
    assert snapshot.read.numbers == (9,) and not snapshot.read.full
    assert snapshot.study.frame.set_index("number").loc[9, record.ACCURACY] == 0.97
