"""The study store: contract tests for every use of Optuna's private API, and the searches that
meet storage (wrong data, resume, concurrent commands, read-only storage, study names, report
files). Real SQLite and journal storages throughout; concurrent commands are real processes.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from helpers.search import TINY, tiny, write_space
from workbench import record
from workbench.cli.main import main
from workbench.search import run_search
from workbench.storage import (
    exclusive_run,
    fail_running,
    hypervolume,
    named_constraints,
    open_storage,
    pareto_mask,
    release_storage,
    set_constraint_list,
    storage_location,
    stored_metric_names,
    trial_by_number,
)


# --- contracts: one per private use ------------------------------------------------------------
def _study(url: str, name: str = "c") -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=open_storage(url, create=True), directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "macs"])
    return study


def test_contract_list_constraints_and_names(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path / 'c.db'}")

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        trial.set_constraint("max_macs", 3.0)
        trial.set_constraint("max_params", -1.0)
        set_constraint_list(trial, [3.0, -1.0])
        return 0.5, 1.0

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.system_attrs["constraints"] == [3.0, -1.0]             # what optuna-dashboard reads
    assert named_constraints(trial) == {"max_macs": 3.0, "max_params": -1.0}
    assert study.best_trials == []                                      # Optuna still sees it infeasible
    assert stored_metric_names(study._storage.get_all_studies()[0].system_attrs) == ["accuracy", "macs"]


def test_contract_trial_by_number_and_fail_running(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path / 'c.db'}")
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    running = study.ask()
    running.suggest_float("x", 0, 1)
    assert trial_by_number(study, 1).params == study.trials[1].params
    with pytest.raises(KeyError):
        trial_by_number(study, 99)
    assert fail_running(study, "reason", "gone", numbers=[0]) == 0       # trial 0 is not running
    assert fail_running(study, "reason", "gone") == 1
    trial = study.trials[2]
    assert trial.state == TrialState.FAIL and trial.user_attrs["reason"] == "gone"


def test_contract_storage_location_and_release(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    sqlite_study = _study(f"sqlite:///{db}")
    url, journal = storage_location(sqlite_study._storage)
    assert url == f"sqlite:///{db}" and journal is None
    release_storage(sqlite_study._storage)                               # the engine can be disposed
    log = tmp_path / "c.log"
    journal_study = _study(str(log))
    url, journal = storage_location(journal_study._storage)
    assert url is None and Path(journal) == log


def test_contract_pareto_and_hypervolume_by_hand() -> None:
    losses = np.array([[0.0, 3.0], [1.0, 1.0], [3.0, 0.0], [2.0, 2.0], [1.0, 1.0]])
    # Row 3 is dominated by row 1; rows 1 and 4 are equal (both on the front, as Optuna keeps them).
    assert pareto_mask(losses).tolist() == [True, True, True, False, True]
    # Union of boxes up to (4, 4): [0,4]x[3,4] + [1,4]x[1,3] + [3,4]x[0,1] = 4 + 6 + 1 = 11.
    assert hypervolume(losses, np.array([4.0, 4.0])) == pytest.approx(11.0)
    assert hypervolume(np.array([[5.0, 5.0]]), np.array([4.0, 4.0])) == 0.0


# --- searches that meet storage -----------------------------------------------------------------
def test_wrong_data_creates_no_study_and_the_right_data_then_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, TINY)
    db = tmp_path / "s.db"
    code = main(["search", "--space", str(space), "--data", "cifar10:/no/such/folder", "--storage", str(db),
                 "--trials", "1", "--no-progress"])
    assert code == 2 and "/no/such/folder" in capsys.readouterr().err
    assert not db.exists() or optuna.get_all_study_names(open_storage(str(db))) == []
    assert main(["search", "--space", str(space), "--storage", str(db), "--trials", "1", "--no-progress"]) == 0


def test_a_changed_space_says_what_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    space = write_space(tmp_path, TINY)
    assert main(["search", "--space", str(space), "--storage", str(db), "--trials", "1", "--no-progress"]) == 0
    capsys.readouterr()
    changed = write_space(tmp_path, {**TINY, "recipe": {"epochs": 0.3, "batch_size": 128}}, name="tiny2.yaml")
    assert main(["search", "--space", str(changed), "--study", "tiny", "--storage", str(db), "--trials", "2",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "recipe.epochs" in err and "tiny2.yaml" in err and err.count("\n") == 1


def test_a_resumed_search_does_not_replay_its_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    run_search(tiny(tmp_path), storage=url, trials=2, progress=False, sampler="random")
    run_search(tiny(tmp_path), storage=url, trials=4, progress=False, sampler="random")
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    # Without a run-specific seed, trials 2 and 3 drew trials 0 and 1's knobs again.
    assert trials[2].params != trials[0].params and trials[3].params != trials[1].params
    fresh = tmp_path / "again"
    fresh.mkdir()
    run_search(tiny(fresh), storage=f"sqlite:///{fresh / 's.db'}", trials=2, progress=False, sampler="random")
    again = optuna.load_study(study_name="tiny", storage=f"sqlite:///{fresh / 's.db'}").trials
    assert [t.params for t in again] == [t.params for t in trials[:2]]   # the same seed, the same first run


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
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def test_study_names_empty_refused_quoted_hints_distinct_report_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, TINY)
    assert main(["search", "--space", str(space), "--study", "", "--storage", "s.db", "--trials", "1", "--no-progress"]) == 2
    assert "empty" in capsys.readouterr().err
    for name in ("my study", "../../x", ".._.._x"):
        assert main(["search", "--space", str(space), "--study", name, "--storage", "s.db", "--trials", "1", "--no-progress"]) == 0
        out = capsys.readouterr().out
        hint = next(line for line in out.splitlines() if "workbench report" in line)
        assert shlex.split(hint)[3] == name                             # pasted into a shell, the name survives
        assert main(["report", "--study", name, "--storage", "s.db"]) == 0
    folders = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert len(folders) == 3 and not any(f.startswith(".") for f in folders)


def test_report_files_integers_notes_and_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, {**TINY, "budgets": {"max_macs": 3.0e6}})
    assert main(["search", "--space", str(space), "--storage", "s.db", "--trials", "4", "--no-progress"]) == 0
    done = subprocess.run([sys.executable, "-m", "workbench", "report", "--study", "tiny", "--storage", "s.db"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    frame = pd.read_csv(tmp_path / "reports" / "tiny" / "trials.csv", dtype=str)
    study = optuna.load_study(study_name="tiny", storage="sqlite:///s.db")
    assert list(frame["macs"]) == [str(t.user_attrs[record.MACS]) for t in study.trials]   # no '.0'
    summary = (tmp_path / "reports" / "tiny" / "summary.md").read_text()
    rejected = sum(t.user_attrs[record.STATUS] == "rejected" for t in study.trials)
    if rejected:
        assert f"COMPLETE includes {rejected} rejected over budget" in summary
    else:
        assert "Every COMPLETE trial was scored" in summary


def test_model_files_get_the_usual_mode(tmp_path: Path) -> None:
    from workbench.config.io import write_text_atomic
    from workbench.training.checkpoint import save_atomic

    umask = os.umask(0o022)
    try:
        save_atomic({"x": 1}, tmp_path / "model.pt")
        write_text_atomic(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(umask)
    for name in ("model.pt", "metrics.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
