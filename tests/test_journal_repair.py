"""A journal that a torn write never makes unreadable (issue 34, item 2): readers read every
trial of a journal whose last line was cut short, without touching it; the next search cuts
the torn line off (one line on stderr) before it appends, keeps every byte before it, and
goes on; a search whose journal fills up mid-write leaves a journal the next run continues."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.search import TINY, write_space
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from workbench.cli.main import main
from workbench.dashboard.cache import StudyCache
from workbench.results import open_results
from workbench.storage.journal import RepairingJournalBackend

QUICK = {**TINY, "recipe": {"epochs": 0.05, "batch_size": 128}}
# What a write cut short leaves: the first part of a trial's completion record.
TORN = b'{"op_code":6,"worker_id":"w-1","trial_id":1,"state":1,"values":[0.25,'


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plain_optuna_trials(journal: Path) -> list:
    """The trials as Optuna's own journal reader sees them."""
    storage = JournalStorage(JournalFileBackend(str(journal)))
    (study,) = storage.get_all_studies()
    return storage.get_all_trials(study._study_id)


def search(space: Path, journal: Path, trials: int) -> list[str]:
    return ["search", "--space", str(space), "--storage", str(journal), "--trials", str(trials), "--workers", "1",
            "--no-progress"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(space, journal) of a real two-trial journal search."""
    folder = tmp_path_factory.mktemp("journal")
    space = write_space(folder, QUICK)
    assert main(search(space, folder / "good.log", 2)) == 0
    return space, folder / "good.log"


@pytest.mark.parametrize("torn", [TORN, TORN + b"\n"], ids=["cut-short", "not-json"])
def test_readers_read_every_trial_of_a_journal_with_a_torn_tail(finished, tmp_path, capsys, torn) -> None:
    journal = tmp_path / "j.log"
    journal.write_bytes(finished[1].read_bytes() + torn)
    before = digest(journal.read_bytes())
    assert main(["studies", "--storage", str(journal)]) == 0
    assert "tiny   2" in capsys.readouterr().out
    _, frame = open_results("tiny", str(journal))
    assert len(frame) == 2
    assert len(StudyCache(str(journal), "tiny").refresh().study.trials) == 2     # the dashboard's reader
    assert digest(journal.read_bytes()) == before                               # readers never write


@pytest.mark.parametrize("torn", [TORN, TORN + b"\n"], ids=["cut-short", "not-json"])
def test_a_search_after_a_torn_write_repairs_it_and_keeps_every_trial(finished, tmp_path, capsys, torn) -> None:
    space, good = finished
    journal = tmp_path / "j.log"
    kept = good.read_bytes()
    journal.write_bytes(kept + torn)
    capsys.readouterr()
    assert main(search(space, journal, 4)) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "torn last line" in line]
    assert notes == [f"journal {journal}: removed a torn last line ({len(torn)} bytes left by an interrupted write) "
                     "before appending"]
    data = journal.read_bytes()
    assert digest(data[:len(kept)]) == digest(kept) and data.endswith(b"\n")
    trials = plain_optuna_trials(journal)
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)


def test_a_journal_search_that_fills_the_disk_is_continued_by_the_next_run(finished, tmp_path) -> None:
    space, good = finished
    journal = tmp_path / "j.log"
    journal.write_bytes(good.read_bytes())
    limit = journal.stat().st_size + 3000     # room for part of the next trial's records: a write is cut short

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    command = [sys.executable, "-m", "workbench", *search(space, journal, 6)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, preexec_fn=cap)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
    assert len(plain_optuna_trials(journal)) >= 2                      # still readable: nothing lost
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    trials = plain_optuna_trials(journal)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6 and journal.read_bytes().endswith(b"\n")


def test_appends_are_optunas_journal_lines(tmp_path) -> None:
    """Contract: what the repairing backend appends, Optuna's own backend reads, and the other way round."""
    path = tmp_path / "c.log"
    JournalStorage(JournalFileBackend(str(path))).create_new_study([], "a")
    ours = JournalStorage(RepairingJournalBackend(str(path)))
    ours.create_new_study([], "b")
    assert [s.study_name for s in JournalStorage(JournalFileBackend(str(path))).get_all_studies()] == ["a", "b"]
    assert [s.study_name for s in ours.get_all_studies()] == ["a", "b"]
