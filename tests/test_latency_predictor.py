"""The fused-kernel list and the latency predictor: MACs agree with the counter, a known per-kernel
formula is recovered under cross-validation, the MACs baseline is beaten, refusals, round trip."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from workbench.errors import WorkbenchError
from workbench.models import build_model, get_preset
from workbench.predictors.kernels import FEATURE_NAMES, kernel_features, kernels_of
from workbench.predictors.predictor import (
    MIN_ARCHS,
    LatencyPredictor,
    cross_validate,
    fit_predictor,
    macs_baseline,
)
from workbench.profiling.counting import count_model
from workbench.search import load_space
from workbench.search.arch_sampling import arch_from_params, sample_params
from workbench.search.space_resolve import resolve_space

# ms per MAC, ms per kernel, ms per element moved: a made-up device where small kernels pay a
# fixed launch cost and the Ghost concat, pooling and adds are memory-bound.
COST = {
    "conv": (2e-6, 0.003, 0.0),
    "dwconv": (8e-6, 0.002, 0.0),
    "concat": (0.0, 0.001, 1e-6),
    "se": (4e-6, 0.004, 5e-7),
    "pool": (0.0, 0.001, 1e-6),
    "linear": (2e-6, 0.002, 0.0),
    "add": (0.0, 0.001, 5e-7),
}
NOISE = 0.01  # 1% multiplicative measurement noise


def synthetic_ms(arch) -> float:
    return sum(COST[k.kind][0] * k.macs + COST[k.kind][1] + COST[k.kind][2] * k.elements for k in kernels_of(arch))


@pytest.fixture(scope="module")
def digits_archs():
    space = load_space("digits")
    base = resolve_space(space, device="cpu").base
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [arch_from_params(space, sample_params(study.ask(), space, base), base) for _ in range(40)]


@pytest.fixture(scope="module")
def synthetic(digits_archs):
    rng = np.random.default_rng(0)
    latencies = [synthetic_ms(a) * float(np.exp(rng.normal(0.0, NOISE))) for a in digits_archs]
    return digits_archs, latencies


@pytest.fixture(scope="module")
def report(synthetic):
    archs, latencies = synthetic
    return cross_validate(archs, latencies, device="synthetic", engine="onnxruntime-fp32", folds=5, seed=0)


@pytest.mark.parametrize("preset,size", [("ghostnet_cifar_050", 32), ("ghostnet_cifar_050", 12), ("ghostnet_100", 224)])
def test_kernel_macs_equal_the_counter(preset, size):
    arch = get_preset(preset).model_copy(update={"input_size": size})
    assert sum(k.macs for k in kernels_of(arch)) == count_model(build_model(arch), arch).macs


def test_kernels_cover_the_ghost_structure():
    arch = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 32})
    kernels = kernels_of(arch)
    kinds = [k.kind for k in kernels]
    assert kinds[0] == "conv" and kinds[-1] == "linear"
    concat = next(k for k in kernels if k.kind == "concat")
    assert concat.in_elements >= concat.out_elements and concat.macs == 0 and concat.weights == 0
    se = next(k for k in kernels if k.kind == "se")
    assert se.cin == se.cout and se.macs > 0 and se.weights > 0
    assert all(k.groups == k.cin for k in kernels if k.kind == "dwconv")
    features = kernel_features(arch)
    assert tuple(features) == FEATURE_NAMES
    assert features["concat_count"] == kinds.count("concat")
    assert features["add_count"] == sum(len(stage.blocks) for stage in arch.stages)


def test_cross_validation_recovers_a_known_kernel_formula(report):
    errors = report.errors
    assert report.n == 40 and report.folds == 5
    assert errors.mape <= 0.02, report.summary()
    assert errors.within_5 >= 0.95, report.summary()
    assert errors.tau > 0.9, report.summary()


def test_predictor_beats_the_macs_baseline(report):
    assert report.offered and report.law == "kernels" and report.law_p_value < 0.05
    assert report.errors.mape < report.baseline_errors.mape
    assert report.errors.within_10 > report.baseline_errors.within_10


def test_report_is_json_and_one_line(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["predictor"]["device"] == "synthetic" and data["offered"] is True and data["law"] == "kernels"
    line = report.summary()
    assert "\n" not in line and line.startswith("synthetic onnxruntime-fp32: ") and "5-fold CV over 40" in line


def test_interval_comes_from_held_out_residuals(report, synthetic):
    archs, latencies = synthetic
    low_q, high_q = report.predictor.residual_quantiles
    assert low_q < 0 < high_q and high_q - low_q < 0.1
    inside = [low <= y <= high for (_, low, high), y in
              ((report.predictor.predict(a), y) for a, y in zip(archs[:20], latencies[:20]))]
    assert np.mean(inside) >= 0.8


def test_round_trip_predicts_the_same(synthetic, report):
    archs, latencies = synthetic
    predictor = fit_predictor(archs, latencies, device="synthetic", engine="onnxruntime-fp32", seed=0)
    assert predictor.to_dict() == report.predictor.to_dict()
    again = LatencyPredictor.from_dict(json.loads(json.dumps(predictor.to_dict())))
    assert again == predictor
    for arch in archs[:3]:
        assert again.predict(arch) == predictor.predict(arch)
    ms, low, high = again.predict(archs[0])
    assert low < ms < high and abs(ms / latencies[0] - 1) < 0.05


def test_macs_baseline_is_linear_in_macs(synthetic):
    archs, latencies = synthetic
    baseline = macs_baseline(archs, latencies, device="synthetic", engine="onnxruntime-fp32")
    assert baseline.feature_names == ("macs",) and baseline.coef[0] > 0


def test_refuses_too_few_architectures(synthetic):
    archs, latencies = synthetic
    few = MIN_ARCHS - 1
    with pytest.raises(WorkbenchError, match=f"at least {MIN_ARCHS} measured architectures, got {few}"):
        fit_predictor(archs[:few], latencies[:few], device="d", engine="torch-cpu")
    with pytest.raises(WorkbenchError, match=f"got {few}"):
        cross_validate(archs[:few], latencies[:few], device="d", engine="torch-cpu")
    with pytest.raises(WorkbenchError, match=f"got {few}"):
        macs_baseline(archs[:few], latencies[:few], device="d", engine="torch-cpu")


def test_refuses_mismatched_or_bad_latencies(synthetic):
    archs, latencies = synthetic
    with pytest.raises(WorkbenchError, match="40 architectures but 39 latencies"):
        cross_validate(archs, latencies[:-1], device="d", engine="torch-cpu")
    with pytest.raises(WorkbenchError, match="positive"):
        cross_validate(archs, [0.0, *latencies[1:]], device="d", engine="torch-cpu")
    with pytest.raises(WorkbenchError, match="folds"):
        cross_validate(archs, latencies, device="d", engine="torch-cpu", folds=1)
