"""The device predictor's law (issue 31): a device gets the better of the kernel model and the
MACs law `a·MACs + b`, the law is named in the device file and in the predicted target's
protocol, and only measurements that fit no law (too few, all equal) are refused, in one line.

Latencies are made by hand from the architectures of the digits space; every expectation is
computed here, independently of the predictor (fvcore's MACs and numpy.polyfit for the MACs law,
the generating formula for the kernel law)."""

from __future__ import annotations

import copy
import json

import numpy as np
import optuna
import pytest
import yaml
from helpers.search import TINY

from workbench.cli.main import main
from workbench.devices.fitting import fit_device_predictors
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.predictors.kernels import kernels_of
from workbench.predictors.predictor import cross_validate
from workbench.profiling.counting import count_model
from workbench.profiling.targets import parse_targets
from workbench.search import load_space
from workbench.search.arch_sampling import arch_from_params, sample_params
from workbench.search.predicted import load_predictors, predicted_result
from workbench.search.space_resolve import resolve_space

A, B = 2e-7, 0.05  # ms per MAC, ms per call: a device whose latency is proportional to MACs
NOISE = 0.02


@pytest.fixture(scope="module")
def archs():
    space = load_space("digits")
    base = resolve_space(space, device="cpu").base
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    return [arch_from_params(space, sample_params(study.ask(), space, base), base) for _ in range(30)]


@pytest.fixture(scope="module")
def macs(archs):
    return np.array([count_model(build_model(a), a).macs for a in archs], dtype=float)


def _noisy(values: np.ndarray, seed: int = 0) -> np.ndarray:
    return values * (1.0 + np.random.default_rng(seed).normal(0.0, NOISE, len(values)))


@pytest.fixture(scope="module")
def macs_ms(macs):
    return _noisy(B + A * macs)


@pytest.fixture(scope="module")
def kernel_truth(archs):
    # a fixed launch cost per kernel and memory-bound kernels: MACs explain little of it
    return np.array([sum(0.02 + 1e-6 * k.elements for k in kernels_of(a)) for a in archs])


def _rows(archs, latencies, precision="fp32"):
    return [{"precision": precision, "arch_json": a.model_dump_json(), "p50_ms": float(ms)}
            for a, ms in zip(archs, latencies)]


def _device_file(folder, name, rows, **override):
    predictors, skipped = fit_device_predictors(rows, device=name)
    data = {"name": name, "measurements": rows, "predictors": predictors, "predictors_skipped": skipped, **override}
    path = folder / name / "device.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return data


def _target(device="dev"):
    return parse_targets({"targets": {"dev": {"predictor": device}}})[0]


def test_a_device_that_follows_the_macs_law_gets_the_macs_law(archs, macs, macs_ms):
    report = cross_validate(archs, macs_ms, device="pi", engine="onnxruntime")
    assert report.law == "macs", report.summary()
    assert "predicted by the MACs law: the kernel model did not beat it" in report.summary()
    # the same weighted least squares (relative error, weights 1/y^2), by numpy
    slope, intercept = np.polyfit(macs, macs_ms, 1, w=1.0 / macs_ms)
    assert report.predictor.feature_names == ("macs",)
    assert report.predictor.coef[0] == pytest.approx(slope, rel=1e-4)
    assert report.predictor.intercept == pytest.approx(intercept, rel=1e-3, abs=1e-6)
    assert slope == pytest.approx(A, rel=0.05)
    low, high = report.predictor.residual_quantiles
    assert -4 * NOISE < low < 0 < high < 4 * NOISE


def test_a_device_the_kernels_explain_gets_the_kernel_law(archs, macs, kernel_truth):
    measured = _noisy(kernel_truth, seed=3)
    slope, intercept = np.polyfit(macs, measured, 1, w=1.0 / measured)
    macs_law_error = np.mean(np.abs((intercept + slope * macs) / measured - 1))
    assert macs_law_error > 0.05  # the MACs law, fit by numpy on all of them, misses by more than 5%
    report = cross_validate(archs, measured, device="pi", engine="onnxruntime")
    assert report.law == "kernels", report.summary()
    assert report.law_p_value < 0.05
    predicted = np.array([report.predictor.predict(a)[0] for a in archs])
    assert np.mean(np.abs(predicted / kernel_truth - 1)) < 0.03


def test_the_device_file_and_the_predicted_protocol_name_the_law(tmp_path, archs, macs, macs_ms):
    _device_file(tmp_path, "dev", _rows(archs, macs_ms))
    loaded = load_predictors([_target()], devices=tmp_path)
    predictor, entry = loaded["dev"]
    assert entry["law"] == "macs" and entry["offered"] is True
    result = predicted_result(archs[0], _target(), loaded["dev"])
    assert result.protocol["law"] == "macs"
    assert result.protocol["law_note"] == "predicted by the MACs law: the kernel model did not beat it"
    slope, intercept = np.polyfit(macs, macs_ms, 1, w=1.0 / macs_ms)
    assert result.p50_ms == pytest.approx(intercept + slope * macs[0], rel=1e-4)
    assert result.protocol["low_ms"] < result.p50_ms < result.protocol["high_ms"]


def test_an_older_device_file_without_a_law_is_refit(tmp_path, archs, macs, macs_ms):
    rows = _rows(archs, macs_ms)
    fitted, _ = fit_device_predictors(rows, device="old")
    kernel = copy.deepcopy(fitted["fp32"])
    kernel["predictor"].update(feature_names=["conv_macs"], coef=[1.0])  # what an older import kept
    older = {key: value for key, value in kernel.items() if key not in ("law", "law_note")}
    _device_file(tmp_path, "old", rows, predictors={"fp32": {**older, "offered": False}})
    predictor, entry = load_predictors([_target("old")], devices=tmp_path)["dev"]
    assert entry["law"] == "macs" and predictor.feature_names == ("macs",)
    slope, _ = np.polyfit(macs, macs_ms, 1, w=1.0 / macs_ms)
    assert predictor.coef[0] == pytest.approx(slope, rel=1e-4)


@pytest.mark.parametrize("case", ["too-few", "all-equal"])
def test_measurements_that_fit_no_law_are_refused(tmp_path, archs, macs_ms, case):
    count, latencies = (9, macs_ms[:9]) if case == "too-few" else (30, np.full(30, 0.7))
    expected = "9 measured architectures; a predictor needs 10" if case == "too-few" else \
        "all 30 measured latencies are equal (0.7 ms)"
    rows = _rows(archs[:count], latencies)
    predictors, skipped = fit_device_predictors(rows, device="dev")
    assert predictors == {} and expected in skipped["fp32"]
    if case == "all-equal":
        with pytest.raises(WorkbenchError, match="fit no law"):
            cross_validate(archs, latencies, device="dev", engine="onnxruntime")
    _device_file(tmp_path, "dev", rows)
    with pytest.raises(WorkbenchError, match="offers no fp32 predictor: its measurements fit no law"):
        load_predictors([_target()], devices=tmp_path)


def test_a_search_for_a_device_that_fits_no_law_is_one_line_and_exit_2(tmp_path, archs, capsys, monkeypatch):
    devices = tmp_path / "devices"
    _device_file(devices, "dev", _rows(archs, np.full(30, 0.7)))
    monkeypatch.setenv("WORKBENCH_DEVICES", str(devices))
    space = tmp_path / "tiny.yaml"
    latency = {**TINY["latency"], "targets": {"dev": {"predictor": "dev"}}}
    space.write_text(yaml.safe_dump({**copy.deepcopy(TINY), "latency": latency}), encoding="utf-8")
    capsys.readouterr()
    assert main(["search", "--space", str(space), "--storage", str(tmp_path / "s.db"), "--trials", "1",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device 'dev' offers no fp32 predictor" in err[0] and "equal" in err[0], err
