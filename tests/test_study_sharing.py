"""Several commands on one storage: a second search on one SQLite file is refused and writes
nothing, two commands on a journal never train one architecture twice, a read-only storage is
one line. Concurrent commands are real processes.
"""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from helpers.search import TINY, write_space

from workbench import record
from workbench.cli.main import main
from workbench.storage import (
    exclusive_run,
    open_storage,
)


def test_a_second_search_on_one_sqlite_file_is_refused_and_writes_nothing(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, TINY)
    db = tmp_path / "s.db"
    assert main(["search", "--space", str(space), "--storage", str(db), "--trials", "1", "--no-progress"]) == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    capsys.readouterr()
    with exclusive_run(f"sqlite:///{db}"):                              # what a running search holds
        code = main(["search", "--space", str(space), "--storage", str(db), "--trials", "3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "another workbench search" in err and "journal" in err and err.count("\n") == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


TWO_ARCHS = {**copy.deepcopy(TINY), "knobs": {"dw_size": {"choices": [1, 3]}}}


def test_two_commands_on_a_journal_never_train_one_architecture_twice(tmp_path: Path) -> None:
    space = write_space(tmp_path, TWO_ARCHS)
    journal = tmp_path / "s.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "workbench", "search", "--space", str(space), "--storage", str(journal),
               "--trials", "6", "--sampler", "random", "--no-progress"]
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
                 for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = optuna.load_study(study_name="tiny", storage=open_storage(str(journal))).trials
    trained = [t.user_attrs[record.ARCH_HASH] for t in trials if t.user_attrs.get(record.STATUS) == "complete"]
    assert len(trained) == len(set(trained)) <= 2                        # each architecture trained once
    assert all(t.user_attrs[record.STATUS] in ("complete", "reused") for t in trials)
    runs = {t.user_attrs[record.RUN_ID] for t in trials}
    assert len(runs) == 2                                                # both commands ran trials


def test_read_only_storage_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, TINY)
    db = tmp_path / "s.db"
    assert main(["search", "--space", str(space), "--storage", str(db), "--trials", "1", "--no-progress"]) == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    capsys.readouterr()
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"                  # root ignores file modes; SQLite does not
    code = main(["search", "--space", str(space), "--storage", read_only, "--trials", "3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "read-only" in err and err.count("\n") == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
