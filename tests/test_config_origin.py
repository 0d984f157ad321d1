"""`train-proxy --space S --config C --trial N` scores C as trial N of S only when C's provenance
says it is (issue 34, item 8): a config exported from a study of another space, or from
another trial, is refused in one line before any training."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from helpers.search import TINY, write_space

from workbench.cli.main import main
from workbench.search import load_space, run_search

OTHER = {**copy.deepcopy(TINY), "name": "other", "input_size": 12}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the study's space file, another space file, trial 0 of the study exported as a config)."""
    folder = tmp_path_factory.mktemp("origin")
    space_file = write_space(folder, TINY)
    run_search(load_space(str(space_file)), storage=f"sqlite:///{folder / 'study.db'}", trials=1, progress=False,
               device="cpu")
    config = folder / "trial0.yaml"
    assert main(["export", "--study", "tiny", "--storage", str(folder / "study.db"), "--pick", "trial:0",
                 "--out", str(config)]) == 0
    return space_file, write_space(folder, OTHER, "other.yaml"), config


def _refusal(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and captured.out == "", captured
    return lines[0]


def test_a_config_from_a_study_of_another_space_is_not_scored_as_its_trial(exported, capsys) -> None:
    space_file, other, config = exported
    provenance = yaml.safe_load(config.read_text())["provenance"]
    assert provenance["space_hash"] == load_space(str(space_file)).space_hash() != load_space(str(other)).space_hash()
    line = _refusal(capsys, ["train-proxy", "--space", str(other), "--config", str(config), "--trial", "0"])
    assert "trial0.yaml is trial 0 of study 'tiny'" in line and "another space" in line and "other.yaml" in line


def test_a_config_of_one_trial_is_not_scored_as_another(exported, capsys) -> None:
    space_file, _, config = exported
    line = _refusal(capsys, ["train-proxy", "--space", str(space_file), "--config", str(config), "--trial", "3"])
    assert "is trial 0 of study 'tiny', not trial 3" in line and "--trial 0" in line


def test_an_older_config_is_checked_against_its_study(exported, tmp_path, capsys) -> None:
    """Configs exported before the provenance held the space hash: the study's storage tells."""
    _, other, config = exported
    data = yaml.safe_load(config.read_text())
    del data["provenance"]["space_hash"], data["provenance"]["space"]
    older = tmp_path / "older.yaml"
    older.write_text(yaml.safe_dump(data), encoding="utf-8")
    line = _refusal(capsys, ["train-proxy", "--space", str(other), "--config", str(older), "--trial", "0"])
    assert "another space" in line
