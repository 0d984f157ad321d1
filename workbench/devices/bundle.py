"""`workbench device bundle`: a folder (and a .zip of it) of ONNX models of a space to time on a
device that cannot run the workbench, with its manifest, the self-contained runner and a README.

The models are the BN-folded fp32 graphs the onnxruntime targets time (`Graphs.fp32`, checked
against PyTorch), and with `int8` also their int8 graphs, calibrated on the space's training
images exactly as a search's int8 target is. The protocol comes from the space's `latency`
section (its shared settings; `DEFAULT_PROTOCOL` where it says nothing). The manifest is also
kept in the devices folder, so `workbench device import` can check results against it.
"""

from __future__ import annotations

import datetime
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench.devices.choose import Candidate, choose_architectures
from workbench.errors import WorkbenchError, is_disk_refusal
from workbench.outputs import check_new_folder, check_output, check_writable_folder, claim
from workbench.predictors.folder import devices_folder, json_text, manifest_path, sha256_bytes

MANIFEST_FORMAT, MANIFEST_VERSION = "workbench-device-bundle", 1
ENGINE = "onnxruntime"
RUNNER = Path(__file__).with_name("run_bundle.py")
# The timing protocol of a bundle when the space's latency section does not say.
DEFAULT_PROTOCOL: dict[str, Any] = {"warmup": 2, "repeats": 30, "max_seconds": 1.0, "cv_threshold": 0.10,
                                    "threads": 1, "batch_size": 1, "graph_optimization": "all", "opset": 17}


@dataclass(frozen=True)
class Bundle:
    """What `make_bundle` wrote."""

    folder: Path
    zip_path: Path
    stored_manifest: Path
    manifest: dict[str, Any]
    skipped: tuple[str, ...] = ()


def bundle_protocol(latency: dict[str, Any] | None) -> dict[str, Any]:
    """The bundle's protocol from a space's latency section (its shared settings over the defaults).

    Example:
        >>> p = bundle_protocol({"repeats": 10, "targets": {"t": {"engine": "torch"}}})
        >>> p["repeats"], p["warmup"], p["threads"], p["graph_optimization"]
        (10, 2, 1, 'all')

    Raises:
        WorkbenchError: a shared setting that does not validate, named as the space's field.
    """
    from workbench.profiling.targets import parse_targets

    shared = {k: v for k, v in (latency or {}).items() if k in DEFAULT_PROTOCOL and v is not None}
    settings = {**DEFAULT_PROTOCOL, **shared}
    target = parse_targets({**settings, "targets": {"bundle": {"engine": ENGINE}}})[0]
    protocol = target.protocol
    return {"warmup": protocol.warmup, "repeats": protocol.repeats, "max_seconds": protocol.max_seconds,
            "cv_threshold": protocol.cv_threshold, "threads": protocol.threads, "batch_size": protocol.batch_size,
            "graph_optimization": target.graph_optimization, "opset": target.opset}


def check_out(out: Path) -> None:
    """Refuse an --out that holds anything (a bundle is written as a whole, never over files), a
    DIR.zip beside it that the workbench did not write, or a folder that cannot be made.

    Raises:
        WorkbenchError: naming the path.
    """
    check_new_folder(out, flag="--out")
    check_output(out.with_name(out.name + ".zip"), flag="--out", force_flag=None)
    check_writable_folder(out.parent, flag="--out")


def make_bundle(space_name: str, out: str | Path, *, archs: int = 100, study: str | None = None,
                storage: str | None = None, front_only: bool = False, int8: bool = False, seed: int = 0,
                devices: str | Path | None = None, progress: Callable[[str], None] | None = None,
                int8_for: str = "any") -> Bundle:
    """Write the bundle folder `out`, `out`.zip and the manifest's copy in the devices folder.

    int8 graphs are quantized for `int8_for` (`any`, `x86` or `arm`: the device that will run
    them, never the host that makes the bundle; `engines.quantize` says why), and the manifest
    carries the settings, so the device measures exactly the file a search of the space scores.

    Raises:
        WorkbenchError: an unknown space or study, an existing --out, no model that exports.
    """
    from workbench.engines import quantization_for
    from workbench.search import load_space
    from workbench.search.space_resolve import resolve_space
    from workbench.search.workers import load_search_data

    out = Path(out)
    if front_only and study is None:
        raise WorkbenchError("--front bundles a study's Pareto front: give --study NAME (and --storage URL)")
    check_out(out)
    folder = devices_folder(devices)
    check_writable_folder(folder, flag="--devices")
    space = load_space(space_name)
    protocol = bundle_protocol(space.latency)
    resolved = resolve_space(space, device="cpu")
    data = load_search_data(resolved)
    resolved = resolved.fitted_to(data)  # the architectures a search of this space builds
    chosen = choose_architectures(space, resolved.base, archs=archs, seed=seed, study=study, storage=storage,
                                  front_only=front_only)
    calibration = _calibration(resolved, data) if int8 else None
    quantization = quantization_for(int8_for) if int8 else None
    staging = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    written: list[Path] = []  # removed again when the disk refuses a write part way
    try:
        (staging / "models").mkdir(parents=True)
        entries, skipped = _write_models(staging, chosen, protocol, calibration, seed, progress, int8_for)
        if not entries:
            raise WorkbenchError(f"no architecture of space '{space.name}' could be exported ({'; '.join(skipped)})")
        manifest = _manifest(space.name, study, protocol, entries, calibration, quantization)
        text = json_text(manifest)
        (staging / "manifest.json").write_text(text, encoding="utf-8")
        shutil.copyfile(RUNNER, staging / RUNNER.name)
        (staging / "README.md").write_text(readme(manifest, out.name), encoding="utf-8")
        if out.exists():
            out.rmdir()  # an empty folder (check_out refused anything else)
        staging.rename(out)
        written += [out, out.with_name(out.name + ".zip")]
        zipped = Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))
        claim(zipped)
        stored = manifest_path(folder, manifest["bundle_id"])
        stored.parent.mkdir(parents=True, exist_ok=True)
        written.append(stored)
        stored.write_text(text, encoding="utf-8")
    except OSError as error:
        if not is_disk_refusal(error):
            raise
        _remove_written(written)
        raise WorkbenchError(f"--out {out}: the bundle could not be written ({error.strerror}: a full disk, a quota "
                             "or a file size limit); nothing of it was left behind") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Bundle(out, zipped, stored, manifest, tuple(skipped))


def _remove_written(paths: Sequence[Path]) -> None:
    """Remove what a cut-short bundle wrote (the folder, its zip, the manifest's copy): a bundle
    without all three cannot be timed and imported."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _calibration(resolved: Any, data: Any) -> tuple[Any, Any]:
    """The int8 target and its calibration images: the space's first int8 target's count (else
    the default), drawn with the space's seed, as a search's int8 target draws them."""
    from workbench.data.calibration import calibration_images
    from workbench.profiling.targets import DEFAULT_CALIBRATION

    count = resolved.int8_target.calibration if resolved.int8_target is not None else DEFAULT_CALIBRATION
    return count, calibration_images(data, count, resolved.space.seed)


def _write_models(folder: Path, chosen: Sequence[Candidate], protocol: dict[str, Any], calibration: Any,
                  seed: int, progress: Callable[[str], None] | None,
                  int8_for: str = "any") -> tuple[list[dict[str, Any]], list[str]]:
    """Export each candidate (fp32, and int8 when `calibration` is given) into `folder`/models."""
    import torch

    from workbench.models import build_model
    from workbench.profiling.engine_latency import Graphs
    from workbench.profiling.latency import failure_reason
    from workbench.profiling.protocol import LatencyProtocol
    from workbench.profiling.targets import LatencyTarget

    entries, skipped = [], []
    for index, candidate in enumerate(chosen, 1):
        torch.manual_seed(seed)  # int8 ranges depend on the weights: the same bundle twice is the same
        graphs = Graphs(build_model(candidate.arch), candidate.arch, None if calibration is None else calibration[1])
        try:
            made = {"fp32": graphs.fp32(protocol["opset"])[0]}
            if calibration is not None:
                target = LatencyTarget("bundle-int8", ENGINE, "int8", LatencyProtocol(), calibration=calibration[0],
                                       opset=protocol["opset"], int8_for=int8_for)
                made["int8"] = graphs.int8(target)
        except Exception as error:  # noqa: BLE001 - one architecture the engine cannot take is left out
            skipped.append(f"{candidate.arch_hash[:12]}: {failure_reason(error)}")
            continue
        for precision, graph in made.items():
            entries.append(_entry(folder, candidate, precision, graph, protocol["batch_size"]))
        if progress is not None:
            progress(f"[{index}/{len(chosen)}] {candidate.arch_hash[:12]} ({candidate.source}, "
                     f"{candidate.macs:,} MACs): {', '.join(made)}")
    return entries, skipped


def _entry(folder: Path, candidate: Candidate, precision: str, graph: bytes, batch: int) -> dict[str, Any]:
    """Write one graph and return its manifest entry."""
    model_id = f"{candidate.arch_hash[:16]}-{precision}"
    file = f"models/{model_id}.onnx"
    (folder / file).write_bytes(graph)
    arch = candidate.arch
    return {"id": model_id, "file": file, "sha256": sha256_bytes(graph), "precision": precision,
            "arch_hash": candidate.arch_hash, "arch_json": candidate.arch_json, "knobs": candidate.knobs,
            "macs": candidate.macs, "params": candidate.params, "source": candidate.source, "trial": candidate.trial,
            "input_shape": [batch, arch.in_channels, arch.input_size, arch.input_size]}


def _manifest(space: str, study: str | None, protocol: dict[str, Any], entries: list[dict[str, Any]],
              calibration: Any, quantization: Any = None) -> dict[str, Any]:
    from workbench import __version__

    return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "bundle_id": str(uuid.uuid4()),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "workbench_version": __version__, "space": space, "study": study, "engine": ENGINE,
            "protocol": protocol, "calibration_images": None if calibration is None else int(len(calibration[1])),
            "quantization": None if quantization is None else quantization.to_dict(), "models": entries}


def readme(manifest: dict[str, Any], name: str) -> str:
    """The bundle's README: how to run it on a Raspberry Pi and on Android, in five lines."""
    models, cap = len(manifest["models"]), manifest["protocol"]["max_seconds"]
    minutes = max(1, round(models * cap * 1.3 / 60))
    return (
        f"# Workbench device bundle {manifest['bundle_id']}: {models} ONNX models of space '{manifest['space']}'\n\n"
        f"1. Copy this folder (or {name}.zip, then `unzip {name}.zip`) to the device: it needs Python 3.8+, numpy "
        "and onnxruntime, no torch and no workbench.\n"
        "2. Raspberry Pi (64-bit Raspberry Pi OS; PyPI has aarch64 wheels): `python3 -m venv ~/ort && ~/ort/bin/pip "
        f"install numpy onnxruntime`, then in this folder `~/ort/bin/python run_bundle.py`.\n"
        "3. Android with Termux (not tested by the workbench): `pip install onnxruntime` finds no wheel there; try "
        "`pkg install python python-numpy python-onnxruntime` (Termux's own build), or `pkg install proot-distro && "
        "proot-distro install debian` and pip as on a Pi inside it.\n"
        f"4. Timing takes about {minutes} min ({models} models x up to {cap:g} s); keep the device idle and cool. "
        "Stop it any time: a rerun continues where it stopped.\n"
        "5. Bring `results.json` back and run `workbench device import results.json --name DEVICE` on the machine "
        "that made this bundle.\n"
    )
