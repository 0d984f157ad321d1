"""`workbench profile`: JSON keys, latency options, per-layer table and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.cli.main import main
from workbench.config.io import dump_model
from workbench.models import get_preset

torch.set_num_threads(1)
FAST = ["--preset", "ghostnet_cifar_050", "--warmup", "1", "--repeats", "5", "--max-seconds", "0.5", "--threads", "1"]
KEYS = {"name", "input_size", "params", "macs", "flops_fvcore", "activations", "unsupported_ops",
        "latency_ms", "latency", "device", "protocol", "peak_memory_bytes"}


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["profile", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_every_key_and_a_latency_per_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, *FAST, "--batch-size", "1,2", "--device", "cpu")
    assert KEYS <= set(data)
    assert data["name"] == "ghostnet_cifar_050" and data["input_size"] == 32
    assert {"p50", "p90", "cv"} <= set(data["latency_ms"]) and data["latency_ms"]["batch_size"] == 1
    assert [lat["protocol"]["batch_size"] for lat in data["latency"]] == [1, 2]
    assert data["device"] == "cpu" and data["protocol"]["threads"] == 1 and data["protocol"]["mode"] == "deploy"
    assert data["crosscheck_ok"] is True and data["unsupported_ops"] == {}


def test_no_latency_gives_null(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, *FAST, "--no-latency", "--no-crosscheck")
    assert data["latency_ms"] is None and data["latency"] == []
    assert data["peak_memory_bytes"] > 0 and data["crosscheck_ok"] is None


def test_repeated_batch_size_options_and_mode(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, *FAST, "--batch-size", "2", "--batch-size", "1", "--mode", "eager")
    assert [lat["protocol"]["batch_size"] for lat in data["latency"]] == [2, 1]
    assert data["latency_ms"]["batch_size"] == 2 and data["protocol"]["mode"] == "eager"


def test_table_with_per_layer_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", *FAST, "--batch-size", "1", "--per-layer", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "flops_fvcore" in out and "p50_ms" in out and "stages.0" in out
    assert "AMD" in out or "threads" in out  # the protocol line accompanies the figures


def test_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "arch.yaml"
    dump_model(get_preset("ghostnet_cifar_050"), path)
    data = _json(capsys, "--config", str(path), "--no-latency", "--no-crosscheck")
    assert data["params"] == 1318838


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--preset", "ghostnet_cifar_050", "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "CUDA" in captured.err


@pytest.mark.parametrize(
    "args",
    [["--dtype", "fp16", "--device", "cpu"], ["--batch-size", "0"], ["--batch-size", "x"], ["--input-size", "4"]],
    ids=["fp16-on-cpu", "zero-batch", "bad-batch", "too-small"],
)
def test_user_mistakes_exit_2_with_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--preset", "ghostnet_cifar_050", *args]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_default_device_is_cuda_when_present_else_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, *FAST)
    assert data["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
