"""`workbench device list`: the devices of a devices folder, one row each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.devices.fitting import by_precision
from workbench.predictors.folder import device_names, device_path, read_json


def device_rows(folder: Path) -> list[dict[str, Any]]:
    """One row per device: its CPU, engine, measurements per precision and predictors' errors.

    Example:
        >>> device_rows(Path("/nonexistent-devices-folder"))
        []
    """
    rows = []
    for name in device_names(folder):
        data = read_json(device_path(folder, name), "device file")
        facts = data.get("device") or {}
        counts = {p: len(r) for p, r in sorted(by_precision(data.get("measurements") or []).items())}
        predictors = data.get("predictors") or {}
        skipped = data.get("predictors_skipped") or {}
        rows.append({
            "name": name, "cpu": facts.get("cpu") or facts.get("processor") or facts.get("machine") or "?",
            "machine": facts.get("machine", "?"), "onnxruntime": facts.get("onnxruntime", "?"),
            "threads": facts.get("threads", "?"), "bundles": len(data.get("bundles") or []),
            "measured": ", ".join(f"{p} {n}" for p, n in counts.items()),
            "predictors": "; ".join(
                f"{p}: {predictors[p]['summary']}" if p in predictors else f"{p}: none ({skipped.get(p, 'not fitted')})"
                for p in counts),
        })
    return rows
