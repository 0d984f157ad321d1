"""A per-device, per-engine latency predictor learned from an architecture's fused kernels.

nn-Meter's idea: latency is a sum over fused kernels, each kernel's cost learned from its shape.
Here a kernel of kind K costs `a_K·MACs + b_K + c_K·elements + d_K·weights` (ms), so a model's
latency is linear in the per-kind sums of `kernel_features`; scikit-learn's
`LinearRegression(positive=True)` fits the non-negative per-kernel costs (plus one intercept, the
engine's per-call overhead) on max-abs-scaled features, each architecture weighted by 1/latency²
so the fit minimises relative, not absolute, error (MAPE is what the report judges).

Why this regressor: held-out figures (5-fold CV, seed 0; MAPE, share within ±10%) measured on
digits-space architectures at 12x12. Synthetic (40 archs, the known per-kernel formula of
tests/test_latency_predictor.py, 1% noise): this fit 0.8%, 100%; the same unweighted or
unconstrained also 0.8%, 100%; log-latency on log-features 8.9%, 65%; GradientBoosting on
log-features 15.7%, 38%; MACs baseline 19.8%, 30%. Real (60 archs, ORT fp32 1 thread, min of
150 runs, on a loaded 2-core host whose repeat passes agree within 12% for 90% of them): this fit
8.7%, 67%; unweighted 11.6%, 57%; unconstrained 12.2%, 50%; GradientBoosting 11.3%, 57%;
log-log 16.5%, 48%; MACs baseline 15.4%, 43%. A linear fit also keeps the predictor a handful of
JSON numbers.

The MACs law is `a·MACs + b` (same weighting). Error is only ever reported on held-out
architectures: `cross_validate` runs k-fold over architectures of both laws and keeps the better
(`law`: the kernel model only when its MAPE is lower, its ±10% share is not, and its errors are
smaller by a paired Wilcoxon signed-rank test at `SIGNIFICANCE`; else the MACs law, so a device
whose timings the kernels cannot explain still gets a predictor); the kept law's 90% prediction
interval comes from its cross-validated relative residuals. Measurements no law can fit (too
few, or all latencies equal) are refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.predictors.kernels import FEATURE_NAMES
from workbench.predictors.latency_model import BASELINE_FEATURES, FLOOR_MS, LatencyPredictor, arch_features

MIN_ARCHS = 10
KERNELS, MACS = "kernels", "macs"  # the two laws
LAW_NAMES = {KERNELS: "kernel model", MACS: "MACs law"}
# The kernel model's 28 coefficients include the MACs law, so on data that follows the MACs law
# they fit noise and can win on MAPE by chance (up to 13% lower in 60 seeded draws of 30 digits
# architectures, 1-5% noise); a paired test at this level chose it in none of 40 such draws.
SIGNIFICANCE = 0.05
INTERVAL = (0.05, 0.95)  # quantiles of the relative residual: a 90% prediction interval


@dataclass(frozen=True)
class ErrorFigures:
    """Held-out error: the share within ±10% and ±5%, MAPE (a fraction) and Kendall tau."""

    within_10: float
    within_5: float
    mape: float
    tau: float


@dataclass
class PredictorReport:
    """`cross_validate`'s answer: the kernel model's and the MACs law's held-out error, the law
    kept (`law`: "kernels" or "macs") and its predictor refit on all architectures. `offered` is
    True: some law always fits data that `cross_validate` accepts (kept for older readers)."""

    device: str
    engine: str
    n: int
    folds: int
    errors: ErrorFigures
    baseline_errors: ErrorFigures
    offered: bool
    predictor: LatencyPredictor = field(repr=False)
    law: str = KERNELS
    law_p_value: float = float("nan")  # one-sided, that the kernel model's held-out errors are the smaller

    @property
    def law_note(self) -> str:
        """Which law predicts and why, in words (for the record and the search summary)."""
        if self.law == MACS:
            return "predicted by the MACs law: the kernel model did not beat it"
        return "predicted by the kernel model: it beat the MACs law"

    @property
    def law_errors(self) -> ErrorFigures:
        """The held-out error of the law kept."""
        return self.baseline_errors if self.law == MACS else self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the predictor's too)."""
        return {**asdict(self), "predictor": self.predictor.to_dict(), "law_note": self.law_note}

    def entry(self, measurements: int) -> dict[str, Any]:
        """What a device file keeps for one precision: the law's predictor, this report, its
        one-line summary, the law and the number of measurements it was fitted on."""
        return {"predictor": self.predictor.to_dict(), "report": self.to_dict(), "summary": self.summary(),
                "offered": bool(self.offered), "law": self.law, "law_note": self.law_note,
                "measurements": measurements}

    def summary(self) -> str:
        """One line: the law kept, its figures, the other law's in brackets."""
        kept, other = (self.baseline_errors, self.errors) if self.law == MACS else (self.errors, self.baseline_errors)
        other_name = LAW_NAMES[KERNELS if self.law == MACS else MACS]
        return (f"{self.device} {self.engine}: {self.law_note}; {kept.within_10:.0%} within ±10% "
                f"({other_name} {other.within_10:.0%}), MAPE {kept.mape:.1%} ({other.mape:.1%}), "
                f"tau {kept.tau:.2f} ({other.tau:.2f}), {self.folds}-fold CV over {self.n} architectures")


def error_figures(measured: Sequence[float], predicted: Sequence[float]) -> ErrorFigures:
    """Error of `predicted` against `measured`.

    Example:
        >>> error_figures([1.0, 2.0, 4.0], [1.04, 2.2, 3.9]).within_5
        0.6666666666666666
    """
    from scipy.stats import kendalltau

    y, p = np.asarray(measured, float), np.asarray(predicted, float)
    rel = np.abs(p - y) / y
    tau = float(kendalltau(y, p)[0]) if len(y) > 1 else float("nan")
    return ErrorFigures(float(np.mean(rel <= 0.10)), float(np.mean(rel <= 0.05)), float(np.mean(rel)), tau)


def fit_predictor(archs: Sequence[ArchConfig], latencies_ms: Sequence[float], *, device: str, engine: str,
                  seed: int = 0) -> LatencyPredictor:
    """The kernel-sum predictor fit on all `archs`, its interval from a 5-fold CV (seeded by `seed`).

    Args:
        archs: the measured architectures (at least `MIN_ARCHS`).
        latencies_ms: their measured latencies, same order.
        device: the device's name (`pi5`).
        engine: the engine and precision (`onnxruntime-fp32`, `onnxruntime-int8`, `torch-cpu`).
        seed: shuffles the folds.

    Returns:
        The fitted kernel `LatencyPredictor`, whichever law `cross_validate` would keep.

    Raises:
        WorkbenchError: measurements no law can fit (see `cross_validate`).
    """
    return _law_fit(archs, latencies_ms, FEATURE_NAMES, device, engine, seed)


def macs_baseline(archs: Sequence[ArchConfig], latencies_ms: Sequence[float], *, device: str,
                  engine: str) -> LatencyPredictor:
    """The MACs law `latency = a·MACs + b`, fit on all `archs` (no interval).

    Raises:
        WorkbenchError: measurements no law can fit (see `cross_validate`).
    """
    X, y = _matrix(archs, BASELINE_FEATURES), _targets(archs, latencies_ms)
    return _fit(X, y, BASELINE_FEATURES, device, engine)


def fit_measurements(rows: Sequence[Mapping[str, Any]], *, device: str, engine: str, folds: int = 5,
                     seed: int = 0) -> PredictorReport:
    """`cross_validate` over a device's stored measurements (dicts with `arch_json` and `p50_ms`).

    Raises:
        WorkbenchError: as `cross_validate`.
    """
    archs = [ArchConfig.model_validate(json.loads(row["arch_json"])) for row in rows]
    return cross_validate(archs, [float(row["p50_ms"]) for row in rows], device=device, engine=engine,
                          folds=min(folds, max(len(rows), 2)), seed=seed)


def cross_validate(archs: Sequence[ArchConfig], latencies_ms: Sequence[float], *, device: str, engine: str,
                   folds: int = 5, seed: int = 0) -> PredictorReport:
    """k-fold cross-validation over architectures of the kernel model and the MACs law; keeps the better.

    Every figure is computed on held-out architectures only. The kernel model is kept when its
    MAPE is lower than the MACs law's, its share within ±10% is not lower and its per-architecture
    errors are smaller by a paired one-sided Wilcoxon test (p < `SIGNIFICANCE`); otherwise the
    MACs law is. The kept law is refit on all architectures, with the quantiles of its own held-out
    relative residuals as the interval.

    Args:
        archs, latencies_ms, device, engine: as for `fit_predictor`.
        folds: the number of folds (2 to the number of architectures).
        seed: shuffles the folds (scikit-learn `KFold(shuffle=True, random_state=seed)`).

    Returns:
        A `PredictorReport`.

    Raises:
        WorkbenchError: fewer than `MIN_ARCHS` architectures, latencies that are not positive or
            all equal (no law to fit), or a fold count out of range.

    Example:
        >>> from workbench.models import get_preset
        >>> base = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 12})
        >>> archs = [base.model_copy(update={"width": w / 20}) for w in range(2, 14)]
        >>> features = [arch_features(a) for a in archs]
        >>> ms = [0.05 + 3e-7 * f["macs"] + 1e-6 * f["concat_elements"] for f in features]
        >>> report = cross_validate(archs, ms, device="pi5", engine="onnxruntime-fp32", folds=4)
        >>> report.n, report.law_errors.mape < 0.01, report.predictor.n_archs
        (12, True, 12)
    """
    from sklearn.model_selection import KFold

    y = _targets(archs, latencies_ms)
    if not 2 <= folds <= len(y):
        raise WorkbenchError(f"folds must be between 2 and the number of architectures ({len(y)}), got {folds}")
    names = (*FEATURE_NAMES, *BASELINE_FEATURES)
    table = _matrix(archs, names)
    X, X_base = table[:, :len(FEATURE_NAMES)], table[:, len(FEATURE_NAMES):]
    held, held_base = np.empty_like(y), np.empty_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(X):
        held[test] = _predict_rows(_fit(X[train], y[train], FEATURE_NAMES, device, engine), X[test])
        held_base[test] = _predict_rows(_fit(X_base[train], y[train], BASELINE_FEATURES, device, engine), X_base[test])
    errors, baseline = error_figures(y, held), error_figures(y, held_base)
    p_value = _kernels_better(np.abs(held / y - 1.0), np.abs(held_base / y - 1.0))
    beats = errors.mape < baseline.mape and errors.within_10 >= baseline.within_10 and p_value < SIGNIFICANCE
    law = KERNELS if beats else MACS
    features, table_kept, held_kept = (FEATURE_NAMES, X, held) if law == KERNELS else (BASELINE_FEATURES, X_base,
                                                                                       held_base)
    predictor = _fit(table_kept, y, features, device, engine)
    predictor.residual_quantiles = tuple(float(q) for q in np.quantile(y / held_kept - 1.0, INTERVAL))
    return PredictorReport(device, engine, len(y), folds, errors, baseline, True, predictor, law, p_value)


def _kernels_better(kernel_errors: np.ndarray, macs_errors: np.ndarray) -> float:
    """One-sided p-value that the kernel model's held-out relative errors are the smaller (paired
    Wilcoxon signed-rank test); 1.0 when the two never differ."""
    from scipy.stats import wilcoxon

    if np.allclose(kernel_errors, macs_errors):
        return 1.0
    return float(wilcoxon(kernel_errors, macs_errors, alternative="less").pvalue)


def _law_fit(archs: Sequence[ArchConfig], latencies_ms: Sequence[float], names: tuple[str, ...], device: str,
             engine: str, seed: int) -> LatencyPredictor:
    """One law fit on all architectures, its interval from its own 5-fold held-out residuals."""
    from sklearn.model_selection import KFold

    y, X = _targets(archs, latencies_ms), _matrix(archs, names)
    held = np.empty_like(y)
    for train, test in KFold(min(5, len(y)), shuffle=True, random_state=seed).split(X):
        held[test] = _predict_rows(_fit(X[train], y[train], names, device, engine), X[test])
    predictor = _fit(X, y, names, device, engine)
    predictor.residual_quantiles = tuple(float(q) for q in np.quantile(y / held - 1.0, INTERVAL))
    return predictor


def _targets(archs: Sequence[ArchConfig], latencies_ms: Sequence[float]) -> np.ndarray:
    y = np.asarray(latencies_ms, dtype=float)
    if len(archs) != len(y):
        raise WorkbenchError(f"{len(archs)} architectures but {len(y)} latencies")
    if len(y) < MIN_ARCHS:
        raise WorkbenchError(f"a latency predictor needs at least {MIN_ARCHS} measured architectures, got {len(y)}")
    if not np.all(np.isfinite(y) & (y > 0)):
        raise WorkbenchError("every latency must be a positive number of milliseconds")
    if np.ptp(y) <= 1e-9 * y.max():
        raise WorkbenchError(f"all {len(y)} measured latencies are equal ({y[0]:.6g} ms): they fit no law of cost "
                             "(time the bundle again)")
    return y


def _matrix(archs: Sequence[ArchConfig], names: Sequence[str]) -> np.ndarray:
    rows = [arch_features(arch) for arch in archs]
    return np.array([[row[n] for n in names] for row in rows], dtype=float)


def _fit(X: np.ndarray, y: np.ndarray, names: tuple[str, ...], device: str, engine: str) -> LatencyPredictor:
    from sklearn.linear_model import LinearRegression

    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    model = LinearRegression(positive=True).fit(X / scale, y, sample_weight=1.0 / y**2)
    coef = tuple(float(c) for c in model.coef_ / scale)
    return LatencyPredictor(device, engine, names, coef, float(model.intercept_), n_archs=len(y))


def _predict_rows(predictor: LatencyPredictor, X: np.ndarray) -> np.ndarray:
    return np.maximum(predictor.intercept + X @ np.asarray(predictor.coef), FLOOR_MS)
