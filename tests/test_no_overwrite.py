"""Writers never replace what is not theirs (issue 34, items 1 and 4): every command that writes
a file refuses, in one line with exit 2, a study storage always and a file the workbench did not
write unless `--force`, and the refused file stays byte-identical. What the workbench wrote
itself it writes again without `--force`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from fake_timm import fake_state, reference
from helpers.search import TINY, write_space
from helpers.train import exported, tiny_arch

from workbench.cli.main import main
from workbench.config import dump_model
from workbench.config.io import to_plain
from workbench.models import build_model
from workbench.outputs import MANIFEST


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI, expect exit 2 and one error line, return it."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real one-trial study `tiny` in `good.db`."""
    folder = tmp_path_factory.mktemp("good")
    space = write_space(folder, {**TINY, "recipe": {"epochs": 0.05, "batch_size": 128}})
    assert main(["search", "--space", str(space), "--storage", str(folder / "good.db"), "--trials", "1",
                 "--no-progress"]) == 0
    return folder


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("timm") / "w.safetensors"
    save_file(fake_state(reference()["variants"]["ghostnet_050"]["keys"]), str(path))
    return path


def test_weights_import_never_replaces_a_study_or_a_users_file(good, timm_file, tmp_path, capsys) -> None:
    study = good / "good.db"
    important = tmp_path / "important.txt"
    important.write_text("my notes\n")
    before = {study: digest(study), important: digest(important)}
    base = ["weights", "import", "--from", "timm", str(timm_file), "--preset", "ghostnet_050", "--out"]
    assert "never overwritten" in refused(capsys, base + [str(study), "--force"])
    line = refused(capsys, base + [str(important)])
    assert str(important) in line and "--force overwrites" in line
    assert {path: digest(path) for path in before} == before
    assert main(base + [str(important), "--force"]) == 0
    assert main(base + [str(important)]) == 0                 # now the workbench's own: no --force needed


def test_train_keeps_the_users_model_and_metrics(tmp_path, capsys) -> None:
    dump_model(exported(tiny_arch()), tmp_path / "best.yaml")
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    mine = {run / "model.pt": b"my model", run / "metrics.json": b'{"mine": true}\n'}
    for path, data in mine.items():
        path.write_bytes(data)
    before = {path: digest(path) for path in mine}
    argv = ["train", str(tmp_path / "best.yaml"), "--epochs", "0.05", "--out", str(run), "--no-progress",
            "--device", "cpu"]
    line = refused(capsys, argv)
    assert "model.pt" in line and "--force overwrites" in line
    assert {path: digest(path) for path in mine} == before and not (run / "checkpoint.pt").exists()


def test_a_finished_train_run_is_the_workbenchs_and_forced_runs_claim_files(tmp_path, capsys) -> None:
    dump_model(exported(tiny_arch()), tmp_path / "best.yaml")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("mine\n")
    argv = ["train", str(tmp_path / "best.yaml"), "--epochs", "0.05", "--out", str(run), "--no-progress",
            "--device", "cpu"]
    assert main(argv + ["--force"]) == 0
    assert (run / "metrics.json").read_text() != "mine\n" and (run / MANIFEST).is_file()
    (run / "checkpoint.pt").unlink()           # a second run over the first: its files are the workbench's
    assert main(argv) == 0


def test_report_keeps_the_users_files_and_rewrites_its_own(good, tmp_path, capsys) -> None:
    folder = tmp_path / "myrep"
    base = ["report", "--study", "tiny", "--storage", str(good / "good.db"), "--out", str(folder)]
    assert main(base) == 0
    assert main(base) == 0                                          # its own report: rewritten
    (folder / "index.html").write_text("<p>my page</p>")           # edited by the user: no longer ours
    (folder / "trials.csv").write_text("a,b\n1,2\n")
    before = {name: digest(folder / name) for name in ("index.html", "trials.csv")}
    line = refused(capsys, base)
    assert str(folder) in line and "--force overwrites" in line
    assert {name: digest(folder / name) for name in before} == before
    assert main(base + ["--force"]) == 0 and "my page" not in (folder / "index.html").read_text()


def test_weights_refresh_keeps_a_model_onnx_it_did_not_write(tmp_path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    arch = tiny_arch()
    folder = tmp_path / "rf"
    folder.mkdir()
    model = folder / "model.pt"
    torch.save({"state_dict": build_model(arch).state_dict(), "config": {"arch": to_plain(arch)}}, model)
    onnx = folder / "model.onnx"
    onnx.write_bytes(b"my own graph")
    before = {model: digest(model), onnx: digest(onnx)}
    line = refused(capsys, ["weights", "refresh", str(model), "--onnx"])
    assert str(onnx) in line and "--force overwrites" in line
    assert {path: digest(path) for path in before} == before
    assert main(["weights", "refresh", str(model), "--onnx", "--force"]) == 0
    assert main(["weights", "refresh", str(model), "--onnx"]) == 0     # its own model.onnx now


def test_device_bundle_keeps_a_zip_it_did_not_write(tmp_path, capsys) -> None:
    space = write_space(tmp_path, TINY)
    zipped = tmp_path / "b.zip"
    zipped.write_bytes(b"my archive")
    before = digest(zipped)
    line = refused(capsys, ["device", "bundle", "--space", str(space), "--devices", str(tmp_path / "d"),
                            "--out", str(tmp_path / "b")])
    assert str(zipped) in line and "not written by the workbench" in line
    assert digest(zipped) == before and not (tmp_path / "b").exists()


@pytest.mark.parametrize("target", ["good.db", "good.db.workbench.lock"])
def test_no_writer_replaces_a_study_storage(good, timm_file, tmp_path, capsys, target) -> None:
    path = good / target
    if not path.exists():
        pytest.skip(f"{target} is not kept by this search")
    before = digest(path)
    dump_model(exported(tiny_arch()), tmp_path / "best.yaml")
    commands = [
        ["export", "--study", "tiny", "--storage", str(good / "good.db"), "--out", str(path), "--force"],
        ["weights", "import", "--from", "timm", str(timm_file), "--preset", "ghostnet_050", "--out", str(path),
         "--force"],
        ["train", str(tmp_path / "best.yaml"), "--out", str(path), "--force", "--no-progress"],
        ["report", "--study", "tiny", "--storage", str(good / "good.db"), "--out", str(path), "--force"],
        ["device", "bundle", "--space", str(write_space(tmp_path, TINY)), "--out", str(path),
         "--devices", str(tmp_path / "d")],
    ]
    for argv in commands:
        assert "study storage" in refused(capsys, argv), argv[0]
    assert digest(path) == before
