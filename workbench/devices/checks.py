"""What `workbench device import` checks a results.json against before it stores anything: the
bundle it names was made here, with this manifest and protocol, and every file timed is the
file bundled. Each refusal is one line naming the file and what is wrong."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

from workbench.devices.run_bundle import RESULTS_FORMAT, RESULTS_VERSION
from workbench.errors import WorkbenchError
from workbench.predictors.folder import manifest_path, read_json, sha256_bytes

_FIGURES = ("p50_ms", "p90_ms", "cv", "samples")
# A minute per batch: far beyond any bundled model on any device the workbench targets, so a
# larger figure is a slip (a unit, a typo, an edited file), not a measurement.
MAX_LATENCY_MS = 60_000.0


def checked_manifest(results: dict[str, Any], source: Path, folder: Path) -> dict[str, Any]:
    """The stored manifest of the bundle `results` were measured on, after checking that they
    name a bundle made with this devices folder, were run against that very manifest and
    with its protocol.

    Raises:
        WorkbenchError: not a runner's results (or of a newer runner), a foreign bundle, a different
        manifest or protocol. Results of older runners (version 1, no rounds) are read as they are.
    """
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT or "bundle_id" not in results:
        raise WorkbenchError(f"{source}: is not the results.json of a workbench bundle's run_bundle.py")
    version = results.get("version", 1)
    if not isinstance(version, int) or version > RESULTS_VERSION:
        raise WorkbenchError(f"{source}: results version {version!r} is newer than this workbench reads "
                             f"({RESULTS_VERSION}); update the workbench")
    bundle_id = str(results["bundle_id"])
    if not _is_uuid(bundle_id) or not manifest_path(folder, bundle_id).is_file():
        raise WorkbenchError(f"{source}: bundle {bundle_id} is foreign: it was not made with devices folder {folder} "
                             "(import where the bundle was made, or pass --devices)")
    stored = manifest_path(folder, bundle_id)
    raw = stored.read_bytes()
    if sha256_bytes(raw) != results.get("manifest_sha256"):
        raise WorkbenchError(f"{source}: was run with a manifest that differs from bundle {bundle_id}'s (sha256 "
                             f"{str(results.get('manifest_sha256'))[:12]} vs {sha256_bytes(raw)[:12]}): the bundle "
                             "was altered")
    manifest = read_json(stored, "manifest")
    _check_protocol(results.get("protocol"), manifest["protocol"], source)
    return manifest


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _check_protocol(got: Any, want: dict[str, Any], source: Path) -> None:
    if not isinstance(got, dict):
        raise WorkbenchError(f"{source}: has no protocol; the bundle's is {want}")
    for key in sorted(set(want) | set(got)):
        if got.get(key) != want.get(key):
            raise WorkbenchError(f"{source}: protocol differs from the bundle's ({key}: {got.get(key)!r}, "
                                 f"bundled {want.get(key)!r})")


def checked_models(results: dict[str, Any], manifest: dict[str, Any], source: Path,
                   partial: bool) -> list[dict[str, Any]]:
    """The manifest entries of the models `results` measured, each with its figures under
    `figures`, after checking each timed file is the bundled one and (unless `partial`) that
    every model was measured.

    Raises:
        WorkbenchError: a model not in the bundle, a file sha256 that differs (tampered), figures
        that are not timings, or missing models without `partial`.
    """
    entries = {entry["id"]: entry for entry in manifest["models"]}
    measured = results.get("models")
    if not isinstance(measured, dict):
        raise WorkbenchError(f"{source}: has no models section")
    found = []
    for model_id, figures in measured.items():
        entry = entries.get(model_id)
        if entry is None:
            raise WorkbenchError(f"{source}: model {model_id} is not in bundle {manifest['bundle_id']}")
        if not isinstance(figures, dict) or figures.get("sha256") != entry["sha256"]:
            got = str(figures.get("sha256") if isinstance(figures, dict) else None)[:12]
            raise WorkbenchError(f"{source}: model {model_id} was timed on a file that differs from the bundled one "
                                 f"(sha256 {got} vs {entry['sha256'][:12]}): tampered results or bundle")
        if not _timing(figures):
            raise WorkbenchError(f"{source}: model {model_id}'s figures are not timings ({_FIGURES} must be "
                                 "positive numbers)")
        _check_plausible(figures, f"{source}: model {model_id}")
        found.append({**entry, "figures": figures})
    missing = len(entries) - len(found)
    if missing and not partial:
        failed = len(results.get("failed") or {})
        raise WorkbenchError(f"{source}: is partial: {len(found)} of {len(entries)} models measured"
                             f"{f' ({failed} failed)' if failed else ''}; run run_bundle.py again to finish, "
                             f"or pass --partial to import the {len(found)}")
    if not found:
        raise WorkbenchError(f"{source}: holds no measured model")
    return found


def _timing(figures: dict[str, Any]) -> bool:
    values = [figures.get(key) for key in _FIGURES]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values) and \
        figures["p50_ms"] > 0 and figures["samples"] >= 1 and figures["cv"] >= 0


def _check_plausible(figures: dict[str, Any], where: str) -> None:
    """Refuse timings no run can give: past `MAX_LATENCY_MS`, or a p90 below the p50.

    Example:
        >>> _check_plausible({"p50_ms": 2.0, "p90_ms": 1.5}, "results.json: model m0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        workbench.errors.WorkbenchError: results.json: model m0: p90_ms 1.5 is below p50_ms 2; ...
    """
    for key in ("p50_ms", "p90_ms"):
        if figures[key] > MAX_LATENCY_MS:
            raise WorkbenchError(f"{where}: {key} {figures[key]:.6g} is past {MAX_LATENCY_MS:g} ms (a minute per "
                                 "batch): not a measurement of a bundled model")
    if figures["p90_ms"] < figures["p50_ms"]:
        raise WorkbenchError(f"{where}: p90_ms {figures['p90_ms']:.6g} is below p50_ms {figures['p50_ms']:.6g}; a "
                             "90th percentile is never below the median")
