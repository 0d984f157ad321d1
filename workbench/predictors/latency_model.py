"""A fitted latency predictor as plain numbers: `ms = intercept + Σ coef·feature`, with the
interval from its cross-validated residuals. `workbench.predictors.predictor` fits it; this module
only evaluates it (numpy and the kernel list, no scikit-learn).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from workbench.config.arch import ArchConfig
from workbench.predictors.kernels import kernel_features

BASELINE_FEATURES = ("macs",)
FLOOR_MS = 1e-6  # a prediction is never below this (an extrapolation can undershoot the intercept)


def arch_features(arch: ArchConfig) -> dict[str, float]:
    """`kernel_features(arch)` plus `macs`, the total conv/linear MACs (the baseline's feature).

    Example:
        >>> from workbench.models import get_preset
        >>> features = arch_features(get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 32}))
        >>> int(features["macs"])
        12153312
    """
    features = kernel_features(arch)
    return {**features, "macs": sum(v for k, v in features.items() if k.endswith("_macs"))}


@dataclass
class LatencyPredictor:
    """`ms = intercept + Σ coef·feature` for one device and engine, with a 90% interval.

    `residual_quantiles` are the 5% and 95% quantiles of `measured / predicted - 1` on held-out
    architectures; the interval is `ms·(1 + q)`.

    Example:
        >>> p = LatencyPredictor("pi5", "onnxruntime-fp32", ("macs",), (1e-6,), 0.1, (-0.05, 0.08))
        >>> [round(v, 3) for v in p.predict_features({"macs": 1e6})]
        [1.1, 1.045, 1.188]
        >>> LatencyPredictor.from_dict(p.to_dict()) == p
        True
    """

    device: str
    engine: str
    feature_names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    residual_quantiles: tuple[float, float] = (0.0, 0.0)
    n_archs: int = 0

    def predict_features(self, features: Mapping[str, float]) -> tuple[float, float, float]:
        """(ms, low, high) from a feature dict (`arch_features(arch)`)."""
        ms = max(self.intercept + float(np.dot(self.coef, [features[n] for n in self.feature_names])), FLOOR_MS)
        low, high = self.residual_quantiles
        return ms, ms * (1.0 + low), ms * (1.0 + high)

    def predict(self, arch: ArchConfig) -> tuple[float, float, float]:
        """(ms, low, high): the predicted latency of `arch` and its 90% prediction interval."""
        return self.predict_features(arch_features(arch))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; `from_dict` rebuilds the same predictor."""
        return {**asdict(self), "feature_names": list(self.feature_names), "coef": list(self.coef),
                "residual_quantiles": list(self.residual_quantiles)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LatencyPredictor":
        """The predictor `to_dict` wrote."""
        return cls(**{**data, "feature_names": tuple(data["feature_names"]), "coef": tuple(data["coef"]),
                      "residual_quantiles": tuple(data["residual_quantiles"])})
