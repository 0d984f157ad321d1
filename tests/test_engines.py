"""Latency targets on the deployment engine (issue 19): ONNX Runtime fp32 and int8 beside PyTorch.

Every figure is checked against a value the test obtains itself: PyTorch's own logits, an
onnxruntime session the test opens on the written files, the quantized graph's nodes read with
onnx, and accuracies counted here with numpy."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime as ort
import optuna
import pytest
import torch
import yaml
from helpers.search import TINY, write_space

from workbench import record, results
from workbench.cli.main import main
from workbench.data import load_dataset
from workbench.data.calibration import calibration_images
from workbench.models import build_model, get_preset
from workbench.profiling.engine_latency import Graphs, measure_targets
from workbench.profiling.targets import parse_targets
from workbench.search import load_space
from workbench.search.scoring import train_candidate
from workbench.search.space_resolve import resolve_space
from workbench.search.workers import load_search_data

QUICK = {"warmup": 1, "repeats": 3, "max_seconds": 0.05}
TARGETS = {
    **QUICK,
    "targets": {
        "torch-cpu": {"engine": "torch", "device": "cpu", "threads": 1},
        "ort-cpu": {"engine": "onnxruntime", "threads": 1},
        "ort-int8": {"engine": "onnxruntime", "precision": "int8", "threads": 1, "calibration": 32},
    },
}


def _space(**changes):
    data = copy.deepcopy(TINY)
    data.update(latency=copy.deepcopy(TARGETS), recipe={"epochs": 0.1, "batch_size": 128})
    data.update(changes)
    return data


def _write(folder, data) -> object:
    """The space as YAML in the order written here (targets keep their order: the first is `latency_ms`)."""
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _accuracy(session: ort.InferenceSession, x: torch.Tensor, y: torch.Tensor) -> float:
    logits = session.run(None, {session.get_inputs()[0].name: x.float().contiguous().numpy()})[0]
    return float((logits.argmax(axis=1) == y.numpy()).mean())


def test_ort_fp32_graph_matches_pytorch_logits() -> None:
    arch = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 16})
    model = build_model(arch).eval()
    with torch.no_grad():  # BatchNorm statistics that are not the identity, so the fold matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    graph, diff = Graphs(model, arch).fp32(17)
    images = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        want = model(images).numpy()
    got = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {"images": images.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    assert diff < 1e-4


def test_a_target_the_engine_cannot_run_is_unavailable_with_its_reason() -> None:
    arch = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 16})
    targets = parse_targets({**QUICK, "targets": {"t": {"engine": "torch", "device": "cpu"},
                                                  "old": {"engine": "onnxruntime", "opset": 6}}})
    measured = measure_targets(build_model(arch), arch, targets)
    assert measured["t"].available and measured["t"].p50_ms > 0
    assert not measured["old"].available and "NOT_IMPLEMENTED" in measured["old"].reason
    assert measured["old"].to_dict()["p50_ms"] is None


def test_search_records_every_target_and_int8_accuracy_of_the_trained_model(tmp_path) -> None:
    space_file = _write(tmp_path, _space())
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["search", "--space", str(space_file), "--storage", storage, "--trials", "2", "--workers", "1",
                 "--no-progress"]) == 0
    study = optuna.load_study(study_name="tiny", storage=storage)
    scored = [t for t in study.trials if t.user_attrs["status"] == "complete"]
    assert scored
    trial = scored[0]
    entries = trial.user_attrs[record.LATENCY_TARGETS]
    assert set(entries) == {"torch-cpu", "ort-cpu", "ort-int8"}
    assert entries["torch-cpu"]["p50_ms"] == trial.user_attrs[record.LATENCY_P50]  # plain latency = first target
    ort_protocol = entries["ort-int8"]["protocol"]
    assert ort_protocol["engine_version"] == ort.__version__ and ort_protocol["threads"] == 1
    assert ort_protocol["quantization"]["format"] == "QDQ" and ort_protocol["calibration_images"] == 32
    assert entries["ort-cpu"]["protocol"]["max_abs_diff"] < 1e-4

    # Rebuild the trial's model (CPU training is deterministic at a seed), quantize it the way the
    # trial did, write both files and score them in the test's own sessions.
    resolved = resolve_space(load_space(str(space_file)), device="cpu")
    data = load_search_data(resolved)
    resolved = resolved.fitted_to(data)
    arch = resolved.base.model_validate_json(trial.user_attrs[record.ARCH_JSON])
    kept = []
    train_candidate(resolved.recipe, arch, data, trial.user_attrs[record.INT8]["seed"], keep=kept.append)
    graphs = Graphs(kept[0], arch, calibration_images(data, 32, resolved.space.seed))
    (tmp_path / "fp32.onnx").write_bytes(graphs.fp32(17)[0])
    (tmp_path / "int8.onnx").write_bytes(graphs.int8(resolved.int8_target))
    int8 = trial.user_attrs[record.INT8]
    assert int8["val_size"] == len(data.val_y)
    assert int8["accuracy"] == _accuracy(_session(tmp_path / "int8.onnx"), data.val_x, data.val_y)
    assert int8["fp32_accuracy"] == _accuracy(_session(tmp_path / "fp32.onnx"), data.val_x, data.val_y)
    assert int8["fp32_accuracy"] == pytest.approx(trial.user_attrs[record.ACCURACY], abs=1.5 / len(data.val_y))
    assert int8["drop"] == pytest.approx(int8["fp32_accuracy"] - int8["accuracy"])
    assert int8["drop_ci_low"] <= int8["drop"] <= int8["drop_ci_high"]

    frame = results.trials_frame(study)
    row = frame[frame["number"] == trial.number].iloc[0]
    assert row["latency_p50_ms:ort-int8"] == entries["ort-int8"]["p50_ms"]
    assert row["int8_accuracy"] == int8["accuracy"]
    assert results.target_names(frame) == ["torch-cpu", "ort-cpu", "ort-int8"]


def test_objective_on_a_target_reaches_optuna_and_an_unavailable_target_is_never_zero(tmp_path) -> None:
    latency = copy.deepcopy(TARGETS)
    latency["targets"]["old"] = {"engine": "onnxruntime", "opset": 6}
    data = _space(latency=latency, objectives=["accuracy", "latency_ms:ort-cpu"],
                  budgets={"max_latency_ms": {"old": 5}})
    space_file = _write(tmp_path, data)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["search", "--space", str(space_file), "--storage", storage, "--trials", "1", "--workers", "1",
                 "--no-progress"]) == 0
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert study.metric_names == ["accuracy", "latency_ms:ort-cpu"]
    trial = study.trials[0]
    entries = trial.user_attrs[record.LATENCY_TARGETS]
    assert not entries["old"]["available"] and entries["old"]["p50_ms"] is None
    # A budget on a target that could not run cannot hold: rejected, never trained, never 0 ms.
    assert trial.user_attrs["status"] == "rejected" and "old unavailable" in trial.user_attrs["reason"]
    assert trial.values[1] == entries["ort-cpu"]["p50_ms"]
    frame = results.trials_frame(study)
    assert np.isnan(frame.loc[0, "latency_p50_ms:old"]) and not bool(frame.loc[0, "latency_available:old"])


def test_train_int8_writes_the_quantized_model_and_its_accuracy(tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--preset", "ghostnet_cifar_050", "--set", "input_size=12", "--data", "digits",
                 "--epochs", "0.2", "--int8", "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    data = load_dataset("digits", input_size=12, in_channels=3, seed=metrics["config"]["train"]["seed"],
                        val_fraction=metrics["config"]["train"]["val_fraction"],
                        test_fraction=metrics["config"]["train"]["test_fraction"])
    assert metrics["int8"]["accuracy"] == _accuracy(_session(out / "model.int8.onnx"), data.test_x, data.test_y)
    quantized = onnx.load(str(out / "model.int8.onnx"))
    ops = {node.op_type for node in quantized.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    initializers = {init.name: init for init in quantized.graph.initializer}
    conv_weights = {node.input[1] for node in quantized.graph.node if node.op_type == "Conv"}
    per_channel = [node for node in quantized.graph.node if node.op_type == "DequantizeLinear"
                   and node.output[0] in conv_weights and len(initializers[node.input[1]].dims) == 1
                   and initializers[node.input[1]].dims[0] > 1]
    assert len(per_channel) == len(conv_weights)  # every conv weight has one scale per output channel
    assert quantized.metadata_props  # the preprocessing and classes travel with the int8 file too


@pytest.mark.parametrize("latency, extra, needle", [
    ({"targets": {"a": {"engine": "tvm"}}}, {}, "latency.targets.a.engine: 'tvm' is not one of: torch, onnxruntime"),
    ({"targets": {"a": {"engine": "onnxruntime", "precision": "fp16"}}}, {},
     "latency.targets.a.precision: 'fp16' is not one of: fp32, int8"),
    ({"targets": {"a": {"engine": "torch", "precision": "int8"}}}, {}, "latency.targets.a.precision: int8 needs"),
    ({"targets": {"a": {"engine": "torch"}}}, {"objectives": ["accuracy", "latency_ms:b"]},
     "unknown latency target 'b'"),
    ({"targets": {"a": {"engine": "torch"}}}, {"budgets": {"max_latency_ms": {"zz": 1.0}}},
     "budgets.max_latency_ms: unknown latency target 'zz'"),
])
def test_bad_targets_are_refused_at_load_in_one_line(tmp_path, capsys, latency, extra, needle) -> None:
    space_file = write_space(tmp_path, {**copy.deepcopy(TINY), "latency": latency, **extra})
    assert main(["search", "--space", str(space_file), "--storage", str(tmp_path / "s.db"), "--trials", "1",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "s.db").exists()


def test_two_targets_with_one_name_are_refused(tmp_path, capsys) -> None:
    text = write_space(tmp_path, copy.deepcopy(TINY)).read_text().replace(
        "latency:\n", "latency:\n  targets:\n    a: {engine: torch}\n    a: {engine: onnxruntime}\n")
    (tmp_path / "dup.yaml").write_text(text)
    assert main(["search", "--space", str(tmp_path / "dup.yaml"), "--trials", "1", "--no-progress",
                 "--storage", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "key 'a' appears twice" in err[0], err


def test_profile_engine_refusals(capsys) -> None:
    assert main(["profile", "--preset", "ghostnet_cifar_050", "--int8"]) == 2
    assert "--int8 needs --engine onnxruntime" in capsys.readouterr().err
    assert main(["profile", "--preset", "ghostnet_cifar_050", "--engine", "onnxruntime", "--mode", "eager"]) == 2
    assert "--mode eager" in capsys.readouterr().err
