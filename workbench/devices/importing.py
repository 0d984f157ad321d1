"""`workbench device import`: store a device's measured latencies from a bundle runner's
results.json under a device name, fit the device's predictors and keep them beside.

Everything is checked (`workbench.devices.checks`) and fitted before anything is written; the
device file is then replaced atomically, so a refusal leaves it byte for byte as it was.
`add=True` is a second bundle for the same device (one round of active learning): its
measurements join the earlier ones (a re-measured architecture keeps the newer figure), and
the earlier predictor's error on the newly measured architectures is reported.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.devices.checks import checked_manifest, checked_models
from workbench.devices.fitting import by_precision, fit_device_predictors, held_out_error
from workbench.errors import WorkbenchError
from workbench.predictors.folder import device_path, devices_folder, read_json, sha256_bytes, write_json

DEVICE_FORMAT, DEVICE_VERSION = "workbench-device", 1
# Facts that make two results the same device (a new CPU or engine version is a new device).
SAME_DEVICE = ("machine", "cpu", "onnxruntime", "threads")
# Protocol settings two bundles of one device must share (they change what is timed).
SAME_SETTINGS = ("threads", "batch_size", "graph_optimization")
# What a version-1 runner reported: the median of the steadiest (lowest cv) of up to three runs.
OLD_ESTIMATOR = "steadiest-run-median"


@dataclass
class Imported:
    """What an import stored, for the command to print."""

    path: Path
    device: dict[str, Any]
    added: dict[str, int]                     # precision -> measurements from this results file
    before: dict[str, dict[str, Any]] = field(default_factory=dict)   # earlier predictors (add)
    held_out: dict[str, dict[str, Any]] = field(default_factory=dict)  # their error on the new archs


def import_results(results_path: str | Path, name: str, *, devices: str | Path | None = None,
                   partial: bool = False, replace: bool = False, add: bool = False) -> Imported:
    """Check `results_path` against its bundle and store it as device `name`.

    Raises:
        WorkbenchError: one line naming what is wrong (see `workbench.devices.checks`), a name
        already taken without `replace` or `add`, or an `add` from another device or protocol.
    """
    if replace and add:
        raise WorkbenchError("--replace and --add exclude each other: replace the device, or add to it")
    folder = devices_folder(devices)
    path, source = device_path(folder, name), Path(results_path)
    results = read_json(source, "results")
    manifest = checked_manifest(results, source, folder)
    models = checked_models(results, manifest, source, partial)
    earlier = read_json(path, "device file") if path.exists() else None
    if earlier is not None and not (replace or add):
        raise WorkbenchError(f"device '{name}' exists ({path}); pass --replace to replace it, or --add to add this "
                             "bundle's measurements to it")
    if earlier is not None and add:
        _check_same_device(earlier, results, manifest, name)
    new_rows = [_measurement(model, manifest) for model in models]
    kept = earlier["measurements"] if earlier is not None and add else []
    fresh = {(row["arch_hash"], row["precision"]) for row in new_rows}
    measurements = [row for row in kept if (row["arch_hash"], row["precision"]) not in fresh] + new_rows
    device = _device_record(name, results, manifest, measurements, earlier if add else None, source)
    before = dict(earlier.get("predictors") or {}) if earlier is not None and add else {}
    held_out = _held_out(before, new_rows, {(r["arch_hash"], r["precision"]) for r in kept})
    write_json(path, device)
    added = {precision: len(rows) for precision, rows in by_precision(new_rows).items()}
    return Imported(path, device, added, before, held_out)


def _check_same_device(earlier: dict[str, Any], results: dict[str, Any], manifest: dict[str, Any], name: str) -> None:
    facts, stored = results.get("device") or {}, earlier.get("device") or {}
    for key in SAME_DEVICE:
        if facts.get(key) != stored.get(key):
            raise WorkbenchError(f"--add: these results come from another device than '{name}' ({key}: "
                                 f"{facts.get(key)!r}, stored {stored.get(key)!r}); import them under a new name")
    for key in SAME_SETTINGS:
        if manifest["protocol"].get(key) != earlier["protocol"].get(key):
            raise WorkbenchError(f"--add: bundle {manifest['bundle_id']} times with {key} "
                                 f"{manifest['protocol'].get(key)!r}, device '{name}' with "
                                 f"{earlier['protocol'].get(key)!r}; import it under a new name")


def _measurement(model: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    figures = model["figures"]
    keep = ("p50_ms", "p90_ms", "mean_ms", "std_ms", "cv", "samples", "noisy", "attempts", "timed_at",
            "round_medians_ms", "round_spread", "rounds_done", "precise")
    return {"model": model["id"], "bundle_id": manifest["bundle_id"], "engine": manifest["engine"],
            "precision": model["precision"], "arch_hash": model["arch_hash"], "arch_json": model["arch_json"],
            "knobs": model["knobs"], "macs": model["macs"], "params": model.get("params"),
            "source": model.get("source"), "trial": model.get("trial"), "sha256": model["sha256"],
            "estimator": figures.get("estimator") or OLD_ESTIMATOR, **{key: figures.get(key) for key in keep}}


def _device_record(name: str, results: dict[str, Any], manifest: dict[str, Any], measurements: list[dict[str, Any]],
                   earlier: dict[str, Any] | None, source: Path) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    bundles = [b for b in (earlier or {}).get("bundles", []) if b["bundle_id"] != manifest["bundle_id"]]
    bundles.append({"bundle_id": manifest["bundle_id"], "space": manifest["space"], "study": manifest.get("study"),
                    "imported": now, "results_sha256": sha256_bytes(source.read_bytes()),
                    "models": len(manifest["models"]),
                    "measured": sum(m["bundle_id"] == manifest["bundle_id"] for m in measurements),
                    "estimator": results.get("estimator") or OLD_ESTIMATOR, "runs": results.get("runs") or []})
    predictors, skipped = fit_device_predictors(measurements, device=name)
    return {"format": DEVICE_FORMAT, "version": DEVICE_VERSION, "name": name,
            "created": (earlier or {}).get("created", now), "updated": now, "device": results["device"],
            "engine": manifest["engine"], "protocol": manifest["protocol"], "bundles": bundles,
            "measurements": measurements, "predictors": predictors, "predictors_skipped": skipped}


def _held_out(before: dict[str, Any], rows: list[dict[str, Any]], known: set[tuple[str, str]]) -> dict[str, Any]:
    """Each earlier predictor's error on the architectures it had never seen."""
    unseen = by_precision([r for r in rows if (r["arch_hash"], r["precision"]) not in known])
    found = {}
    for precision, entry in before.items():
        try:
            error = held_out_error(entry, unseen.get(precision, []))
        except ModuleNotFoundError:
            return {}
        if error is not None:
            found[precision] = error
    return found
