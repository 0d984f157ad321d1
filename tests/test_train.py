"""`workbench train` / `train_full`: exact rebuild, checkpoint -> interrupt -> resume equals an
uninterrupted run, the files it writes, and every bad input (exit 2, one line, no output)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import yaml
from helpers.train import SIZE, exported, tiny_arch

from workbench.cli.main import main
from workbench.config import ExportConfig, dump_model, load_config
from workbench.config.io import to_plain
from workbench.data import load_dataset
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.profiling.counting import count_model
from workbench.training.checkpoint import load_weights
from workbench.training.full import default_out_dir, train_full


@pytest.fixture(scope="module")
def small_data():
    """Digits at 16 px with a 128-image training split: 4 steps per epoch at batch 32."""
    data = load_dataset("digits", input_size=SIZE, seed=3)
    return dataclasses.replace(data, train_x=data.train_x[:128], train_y=data.train_y[:128],
                               val_x=data.val_x[:96], val_y=data.val_y[:96])


def test_resume_equals_uninterrupted(tmp_path, small_data) -> None:
    config = exported(tiny_arch())
    whole = train_full(config, tmp_path / "whole", data=small_data, device="cpu", progress=False)
    cut = train_full(config, tmp_path / "cut", data=small_data, device="cpu", progress=False, stop_after_epochs=1)
    assert cut.epochs_done == 1 and cut.test_accuracy is None
    assert (tmp_path / "cut" / "checkpoint.pt").exists() and not (tmp_path / "cut" / "model.pt").exists()
    resumed = train_full(config, tmp_path / "cut", data=small_data, device="cpu", progress=False, resume=True)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_done == 2
    a, _ = load_weights(tmp_path / "whole" / "model.pt")
    b, _ = load_weights(tmp_path / "cut" / "model.pt")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert whole.val_curve == resumed.val_curve and whole.loss_curve == resumed.loss_curve
    assert whole.test_accuracy == resumed.test_accuracy
    ckpt_a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    ckpt_b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert ckpt_a["scheduler"] == ckpt_b["scheduler"]
    for sa, sb in zip(ckpt_a["optimizer"]["state"].values(), ckpt_b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])


def test_cli_train_writes_files_and_rebuilds_exactly(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = exported(tiny_arch())
    dump_model(config, tmp_path / "best.yaml")
    assert main(["train", "best.yaml", "--epochs", "0.2", "--no-progress", "--device", "cpu"]) == 0
    out = tmp_path / default_out_dir("best.yaml")
    assert out == tmp_path / "runs" / "best"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("best_val_accuracy", "test_accuracy", "val_curve", "loss_curve", "wall_seconds", "train_seconds"):
        assert key in metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and len(metrics["val_curve"]) == 1
    assert metrics["params"] == config.provenance.measured.params and metrics["macs"] == config.provenance.measured.macs
    payload = torch.load(out / "model.pt", weights_only=True)
    assert set(payload) == {"state_dict", "config", "preprocessing", "class_names"}
    assert payload["class_names"] == [str(d) for d in range(10)]
    rebuilt = ExportConfig.model_validate(payload["config"])
    model = build_model(rebuilt.arch)
    model.load_state_dict(payload["state_dict"])
    assert rebuilt.arch == config.arch and rebuilt.train.epochs == 0.2
    summary = capsys.readouterr().out.strip()
    assert len(summary.splitlines()) == 1 and summary.startswith("test accuracy")
    assert summary.endswith("-> runs/best/model.pt; try: workbench predict runs/best/model.pt IMAGE|FOLDER")


def _bad(argv: list[str], capsys, fragment: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_edited_architecture_is_refused(tmp_path, capsys) -> None:
    config = exported(tiny_arch())
    data = to_plain(config)
    data["arch"]["width"] = 0.5   # valid, but not the network that was measured
    (tmp_path / "edited.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "run"
    _bad(["train", str(tmp_path / "edited.yaml"), "--out", str(out), "--no-progress"], capsys,
         "refusing to train a different network")
    assert not out.exists()
    data["arch"]["width"] = 0.35
    data["arch"]["ghost"]["dw_size"] = 4   # invalid
    (tmp_path / "invalid.yaml").write_text(yaml.safe_dump(data))
    _bad(["train", str(tmp_path / "invalid.yaml"), "--out", str(out)], capsys, "arch.ghost.dw_size")
    assert not out.exists()


def test_dataset_mismatch_is_refused(tmp_path, capsys, small_data) -> None:
    arch = tiny_arch().model_copy(update={"num_classes": 5})
    dump_model(arch, tmp_path / "five.yaml")   # a plain ArchConfig: default recipe, digits
    out = tmp_path / "run"
    _bad(["train", str(tmp_path / "five.yaml"), "--out", str(out), "--no-progress"], capsys, "has 10 classes")
    assert not out.exists()
    gray = exported(tiny_arch().model_copy(update={"in_channels": 1}))
    with pytest.raises(WorkbenchError, match="has 3 channels"):
        train_full(gray, tmp_path / "gray", data=small_data, progress=False)
    assert not (tmp_path / "gray").exists()
    _bad(["train", str(tmp_path / "five.yaml"), "--data", "mnist", "--out", str(out)], capsys,
         "unknown dataset 'mnist'")
    assert not out.exists()


def test_resume_from_other_architecture_is_refused(tmp_path, capsys, small_data) -> None:
    out = tmp_path / "run"
    train_full(exported(tiny_arch(0.35)), out, data=small_data, progress=False, stop_after_epochs=1)
    other = exported(tiny_arch(0.5))
    dump_model(other, tmp_path / "other.yaml")
    _bad(["train", str(tmp_path / "other.yaml"), "--out", str(out), "--resume", "--no-progress"], capsys,
         "checkpoint is from a different architecture")
    _bad(["train", str(tmp_path / "other.yaml"), "--out", str(out), "--no-progress"], capsys, "pass --resume")
    assert sorted(p.name for p in out.iterdir()) == [".workbench-outputs.json", "checkpoint.pt"]
    _bad(["train", str(tmp_path / "other.yaml"), "--out", str(tmp_path / "empty"), "--resume"], capsys,
         "no checkpoint to resume from")
    assert not (tmp_path / "empty").exists()


def test_load_config_then_build_model(tmp_path) -> None:
    import workbench

    config = exported(tiny_arch())
    dump_model(config, tmp_path / "c.json")
    loaded = workbench.load_config(tmp_path / "c.json")
    assert loaded == config
    assert count_model(workbench.build_model(loaded.arch), loaded.arch).params == config.provenance.measured.params
    assert load_config(tmp_path / "c.json").train.resolved_flip() is False


def test_bad_recipe_override_and_missing_config(tmp_path, capsys) -> None:
    dump_model(exported(tiny_arch()), tmp_path / "c.yaml")
    out = tmp_path / "run"
    _bad(["train", str(tmp_path / "c.yaml"), "--epochs", "-1", "--out", str(out)], capsys, "training recipe: epochs")
    _bad(["train", str(tmp_path / "missing.yaml"), "--out", str(out)], capsys, "file not found")
    _bad(["train", "--out", str(out)], capsys, "give the config file")
    assert not out.exists()
