"""Messages that say what a thing is (issue 34, item 12): a checkpoint that asks to run code,
a --storage that is a folder or a text file, imported weights with nothing to refresh from, a
devices folder that is a file, and a dashboard asked for a study its storage lacks."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import optuna
import pytest
import torch
from study_factory import make_study
from test_hostile_inputs import one_error_line

from workbench.cli.main import main


class _RunsACommand:
    """Unpickling it would run `touch <marker>`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def hostile_checkpoints(tmp_path) -> tuple[Path, list[Path]]:
    """(the marker file running code would make, checkpoints in torch.save's zip and in a protocol-4 pickle)."""
    marker = tmp_path / "code-ran"
    zipped = tmp_path / "zipped.pt"
    torch.save({"state_dict": {"w": _RunsACommand(marker)}}, zipped)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"w": _RunsACommand(marker)}, protocol=4))
    return marker, [zipped, raw]


def test_a_checkpoint_that_calls_os_system_is_called_so_and_never_run(hostile_checkpoints, tmp_path, capsys) -> None:
    from helpers.train import exported, tiny_arch

    from workbench.config import dump_model

    marker, files = hostile_checkpoints
    dump_model(exported(tiny_arch()), tmp_path / "c.yaml")
    for path in files:
        for argv in (["predict", str(path), str(tmp_path / "img.png")],
                     ["weights", "import", "--from", "timm", str(path), "--preset", "ghostnet_050",
                      "--out", str(tmp_path / "w.pt")],
                     ["train", str(tmp_path / "c.yaml"), "--init", str(path), "--epochs", "0.05",
                      "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu"]):
            line = one_error_line(capsys, argv)
            assert "a file that asks to run code" in line and ".system" in line and "truncated" not in line, line
    assert not marker.exists()


@pytest.fixture()
def storage_lookalikes(tmp_path) -> list[Path]:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    return [folder, notes]


def test_a_folder_or_a_text_file_as_storage_is_called_not_an_optuna_storage(storage_lookalikes, monkeypatch,
                                                                            capsys) -> None:
    folder, notes = storage_lookalikes
    before = notes.read_bytes()
    monkeypatch.chdir(folder.parent)
    for storage in ("./a-folder", "notes.txt", str(folder)):
        for argv in (["studies", "--storage", storage], ["report", "--study", "s", "--storage", storage],
                     ["search", "--space", "digits", "--storage", storage, "--trials", "1"]):
            line = one_error_line(capsys, argv)
            assert f"storage '{storage}' is not an Optuna storage" in line and "SQLAlchemy" not in line, line
    assert notes.read_bytes() == before and list(folder.iterdir()) == []


def test_the_dashboard_calls_a_text_file_storage_not_an_optuna_storage(storage_lookalikes, monkeypatch) -> None:
    from test_dashboard import run_app

    at = run_app(monkeypatch, str(storage_lookalikes[1]), study=None)
    shown = " ".join(w.value for w in at.warning)
    assert "is not an Optuna storage" in shown and "SQLAlchemy" not in shown and not at.exception


def test_the_dashboard_says_when_the_study_asked_for_is_not_there(tmp_path, monkeypatch) -> None:
    from test_dashboard import run_app

    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("first", "second"):
        make_study(url, name=name, trials=((2, 3, 0.5, 0.9, 1.0),), failed=0)
    at = run_app(monkeypatch, url, study="nosuchstudy")
    shown = " ".join(w.value for w in at.warning)
    assert "No study 'nosuchstudy'" in shown and "showing 'first'" in shown and "second" in shown
    assert not at.exception


def test_refreshing_imported_weights_never_names_a_dataset_the_user_never_typed(tmp_path, capsys) -> None:
    from fake_timm import fake_state, reference
    from safetensors.torch import save_file

    save_file(fake_state(reference()["variants"]["ghostnet_050"]["keys"]), str(tmp_path / "w.safetensors"))
    model = tmp_path / "w.pt"
    assert main(["weights", "import", "--from", "timm", str(tmp_path / "w.safetensors"), "--preset", "ghostnet_050",
                 "--out", str(model)]) == 0
    before = model.read_bytes()
    line = one_error_line(capsys, ["weights", "refresh", str(model)])
    assert "imported from w.safetensors" in line and "--data" in line and "digits" not in line, line
    assert model.read_bytes() == before


def test_a_devices_folder_that_is_a_file_is_called_a_file(tmp_path, capsys) -> None:
    important = tmp_path / "important.txt"
    important.write_text("keep me\n")
    for argv in (["device", "list", "--devices", str(important)],
                 ["device", "import", str(important), "--name", "pi", "--devices", str(important)]):
        line = one_error_line(capsys, argv)
        assert f"devices folder {important} is a file, not a folder" in line, line
    assert important.read_text() == "keep me\n"
