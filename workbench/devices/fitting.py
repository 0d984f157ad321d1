"""Fit a device's latency predictors from its measurements: one per precision with enough
measured architectures, each with its cross-validated report. The one place that calls the
predictor (`workbench.predictors.predictor`)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Sequence

from workbench.errors import WorkbenchError

MIN_MEASUREMENTS = 10  # the predictor refuses fewer architectures


def engine_label(engine: str, precision: str) -> str:
    """The engine name a predictor is fitted for: the engine, with `-int8` for int8 graphs.

    Example:
        >>> engine_label("onnxruntime", "fp32"), engine_label("onnxruntime", "int8")
        ('onnxruntime', 'onnxruntime-int8')
    """
    return engine if precision == "fp32" else f"{engine}-{precision}"


def by_precision(measurements: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Measurements grouped by precision, in their order."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in measurements:
        groups[row["precision"]].append(row)
    return dict(groups)


def fit_device_predictors(measurements: Sequence[dict[str, Any]], *, device: str, engine: str = "onnxruntime",
                          folds: int = 5, seed: int = 0) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """({precision: fitted entry}, {precision: why none was fitted}) for a device's measurements
    (dicts with `precision`, `arch_json` and `p50_ms`). An entry holds the predictor of the better
    law (`law`: "kernels" or "macs", judged on cross-validated error), its cross-validation
    report, the report's one-line summary and `law_note`. Measurements no law can fit (too few,
    all latencies equal) and a predictor that cannot be loaded give a reason instead of an entry.

    Example:
        >>> fit_device_predictors([{"precision": "fp32", "arch_json": "{}", "p50_ms": 1.0}], device="pi5")
        ({}, {'fp32': '1 measured architectures; a predictor needs 10'})
    """
    fitted: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for precision, rows in sorted(by_precision(measurements).items()):
        if len(rows) < MIN_MEASUREMENTS:
            skipped[precision] = f"{len(rows)} measured architectures; a predictor needs {MIN_MEASUREMENTS}"
            continue
        try:
            from workbench.predictors.predictor import fit_measurements  # only where there is something to fit
        except ModuleNotFoundError as error:
            skipped[precision] = f"the latency predictor cannot be loaded ({error.name} is missing)"
            continue
        try:
            report = fit_measurements(rows, device=device, engine=engine_label(engine, precision), folds=folds,
                                      seed=seed)
        except WorkbenchError as error:  # the predictor's refusal is this precision's reason, not the import's
            skipped[precision] = str(error)
            continue
        fitted[precision] = report.entry(len(rows))
    return fitted, skipped


def held_out_error(entry: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """How an earlier fitted predictor (`entry` from `fit_device_predictors`) did on `rows` it
    never saw (the newly measured architectures of an active-learning round): their MAPE and
    share within +-10%, or None without rows."""
    from workbench.config.arch import ArchConfig
    from workbench.predictors.predictor import LatencyPredictor

    if not rows:
        return None
    predictor = LatencyPredictor.from_dict(entry["predictor"])
    errors = []
    for row in rows:
        predicted, _, _ = predictor.predict(ArchConfig.model_validate(json.loads(row["arch_json"])))
        errors.append(abs(float(predicted) - float(row["p50_ms"])) / float(row["p50_ms"]))
    return {"architectures": len(errors), "mape": sum(errors) / len(errors),
            "within_10pct": sum(e <= 0.10 for e in errors) / len(errors)}
