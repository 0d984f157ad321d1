"""Predicted latency targets (`{predictor: pi5}`): a device the search never runs on, its latency
predicted from the measurements imported with `workbench device import`.

The predictors are loaded once per run from the devices folder (`workbench.predictors.folder`). A
trial records the prediction with its 90% prediction interval (from the cross-validated
residuals) and `predicted: true`; every reader shows it as predicted, never as measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.profiling.latency import LatencyResult
from workbench.profiling.targets import LatencyTarget


def load_predictors(targets: Sequence[LatencyTarget], devices: str | Path | None = None) -> dict[str, Any]:
    """{target name: (LatencyPredictor, its stored entry)} for every predicted target.

    The entry names its law (`law`: "kernels" or "macs"). A device imported before the law was
    chosen, whose kernel model did not beat the MACs law, is refit here from its stored
    measurements (the file is left as it is).

    Raises:
        WorkbenchError: an unknown device, or one whose measurements fit no law for the precision
        (too few, or all latencies equal), in one line.
    """
    predicted = [t for t in targets if t.is_predicted]
    if not predicted:
        return {}
    from workbench.predictors.folder import device_path, devices_folder, read_json
    from workbench.predictors.predictor import LatencyPredictor

    folder = devices_folder(devices)
    loaded: dict[str, Any] = {}
    for target in predicted:
        path = device_path(folder, str(target.predictor))
        if not path.is_file():
            raise WorkbenchError(f"latency.targets.{target.name}.predictor: no device '{target.predictor}' in "
                                 f"{folder} (import one with `workbench device import results.json --name "
                                 f"{target.predictor}`; `workbench device list` shows what is there)")
        device = read_json(path, "device file")
        try:
            entry = _with_law(device, target.precision)
            why = (device.get("predictors_skipped") or {}).get(target.precision) or "no measurements"
        except WorkbenchError as error:
            entry, why = None, str(error)
        if entry is None:
            raise WorkbenchError(f"latency.targets.{target.name}: device '{target.predictor}' offers no "
                                 f"{target.precision} predictor: its measurements fit no law ({why})")
        loaded[target.name] = (LatencyPredictor.from_dict(entry["predictor"]), entry)
    return loaded


def _with_law(device: dict[str, Any], precision: str) -> dict[str, Any] | None:
    """The device's entry for `precision`, its law named; None when no law was fitted."""
    entry = (device.get("predictors") or {}).get(precision)
    if not entry or entry.get("law"):
        return entry
    if entry.get("offered"):  # an older file: its offered predictor was the kernel model
        return {**entry, "law": "kernels", "law_note": "predicted by the kernel model: it beat the MACs law"}
    from workbench.predictors.predictor import fit_measurements

    rows = [row for row in device.get("measurements") or [] if row.get("precision") == precision]
    stored = entry["predictor"]
    return fit_measurements(rows, device=stored["device"], engine=stored["engine"]).entry(len(rows))


def predicted_result(arch: ArchConfig, target: LatencyTarget, loaded: tuple[Any, dict[str, Any]]) -> LatencyResult:
    """The predicted latency of `arch` on `target`'s device, as a result marked predicted: p50 is
    the prediction, p90 the interval's upper end; the protocol holds the interval, the law that
    predicts (`law`, `law_note`) and its cross-validated error."""
    predictor, entry = loaded
    protocol = {"target": target.name, "engine": "predictor", "predicted": True, "device": target.predictor,
                "precision": target.precision, "law": entry.get("law"), "law_note": entry.get("law_note"),
                "cv_summary": entry.get("summary"), "measurements": entry.get("measurements")}
    try:
        ms, low, high = predictor.predict(arch)
    except Exception as error:  # noqa: BLE001 - a kernel the predictor never saw is this target's reason
        return LatencyResult.unavailable(protocol, f"cannot predict: {type(error).__name__}: {error}"[:300])
    protocol.update(low_ms=float(low), high_ms=float(high), interval=0.90)
    return LatencyResult(p50_ms=float(ms), p90_ms=float(high), mean_ms=float(ms), std_ms=float("nan"), cv=float("nan"),
                         samples=0, noisy=False, protocol=protocol)
