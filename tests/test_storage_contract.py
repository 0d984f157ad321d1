"""Contract tests: one per use of Optuna's private API in `workbench.storage`, each against a
real SQLite or journal storage or a dominance grid worked by hand, so an Optuna upgrade that
changes what we rely on fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from workbench.storage import (
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


def _study(url: str, name: str = "c") -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=open_storage(url, create=True),
                                directions=["maximize", "minimize"])
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
    assert stored_metric_names(study._storage.get_all_studies()[0]) == ["accuracy", "macs"]


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
