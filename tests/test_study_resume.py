"""A search meets its stored study: wrong data creates none, a changed space says what differs,
a resumed search continues its sequence instead of replaying it.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from helpers.search import TINY, tiny, write_space

from workbench.cli.main import main
from workbench.search import run_search
from workbench.storage import (
    open_storage,
)


def test_wrong_data_creates_no_study_and_the_right_data_then_runs(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
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
