"""`workbench train-proxy`: JSON output on digits, exit 2 on a missing dataset or a mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli.main import main
from workbench.config.io import dump_model
from workbench.models import get_preset


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train-proxy", "--preset", "ghostnet_cifar_050", "--input-size", "8", "--set", "width=0.25",
                 "--epochs", "0.3", "--batch-size", "128", "--format", "json", "--zero-cost"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["result"]) >= {"val_accuracy", "best_val_accuracy", "val_curve", "loss_curve",
                                     "train_seconds", "eval_seconds", "images_per_second"}
    assert set(report["zero_cost"]) == {"synflow", "naswot", "grad_norm", "params", "macs"}
    assert report["data"]["input_size"] == 8 and report["recipe"]["flip"] is False


def test_missing_dataset_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train-proxy", "--preset", "ghostnet_cifar_050", "--data", f"cifar10:{tmp_path / 'missing'}"])
    assert code == 2
    assert "missing: no such file" in capsys.readouterr().err


def test_config_class_mismatch_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "arch.yaml"
    dump_model(get_preset("ghostnet_cifar_050", num_classes=100, input_size=8), config)
    assert main(["train-proxy", "--config", str(config), "--epochs", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "arch.yaml: num_classes is 100" in err and "has 10" in err
