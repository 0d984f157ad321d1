"""Time every model of a workbench device bundle on this machine with ONNX Runtime.

Run it from the bundle folder with no arguments:

    python3 run_bundle.py

It needs only Python 3 (3.8 or newer), numpy and onnxruntime: no torch, no workbench. Each
model is timed with the protocol in `manifest.json`, on the CPU execution provider with the
recorded thread count, one model after another: warm-up until steady, then ROUNDS of `repeats`
timed runs each. The figure is the quietest round's (the round with the lowest median; its p90
likewise): estimator `min-round-median`. Rounds go on until at least `MIN_ROUNDS` were taken and
the two lowest round medians agree within `PRECISION`, or `rounds` (default `MAX_ROUNDS`), or the
time cap `max_seconds`. Why: a busy device slows some rounds, never speeds one up, so the lowest
round median is the figure that repeats between runs. `results.json` records the estimator, the
round medians, and the host facts that change figures (the CPU's vector and int8 dot-product
extensions; the load average when each run started). It is rewritten (atomically) after every
model, so an interrupted run continues where it stopped: a rerun skips the models already timed.
Take `results.json` back to the machine with the workbench and run
`workbench device import results.json --name NAME`.

Options: `--limit N` times at most N more models in this run; `--modules` prints, after the
run, the sorted names in `sys.modules` as one JSON line (proof that no torch was loaded).

This file is copied into every bundle from the workbench package (`workbench/devices/`); it
imports nothing of the workbench, and its timing loop follows the workbench's own
(`workbench.profiling.latency.measure_step`: same estimator and constants), so the figures compare.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
MANIFEST, RESULTS = "manifest.json", "results.json"
RESULTS_FORMAT = "workbench-device-results"
RESULTS_VERSION = 2  # 2: rounds and min-round-median, host ISA and load; 1: steadiest run's median
ESTIMATOR = "min-round-median"
# The workbench's timing loop (workbench/profiling/latency.py), copied so the figures compare.
MIN_SAMPLES, PRECISION, MIN_ROUNDS, MAX_ROUNDS = 5, 0.02, 3, 8
WARMUP_SHARE, STABLE_WINDOW, STABLE_REL = 0.25, 3, 0.10
# /proc/cpuinfo flags that change ONNX Runtime's kernels (fp32 vector width, int8 dot products).
X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")
ARM_FLAGS = ("neon", "asimd", "asimddp", "i8mm")
INPUT_SEED = 0


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader (or a killed run) never leaves a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_model(text: Optional[str] = None) -> str:
    """The CPU's name from /proc/cpuinfo (`model name`, or a Pi's `Model` line), else platform's."""
    found: Dict[str, str] = {}
    for line in (_cpuinfo() if text is None else text).splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip(), value.strip())
    return found.get("model name") or found.get("Model") or found.get("Hardware") or platform.processor() or ""


def isa_facts(text: Optional[str] = None, machine: Optional[str] = None) -> Dict[str, Any]:
    """The CPU extensions that change ONNX Runtime's figures, from /proc/cpuinfo's first
    `flags` (x86) or `Features` (arm) line: {flag: present}, or {} where there is no such line.

    On 64-bit arm NEON is called `asimd`; `neon` is reported present when either is listed.
    `asimddp` is the int8 dot product (dotprod), `i8mm` the int8 matrix multiply.

    Example:
        >>> isa_facts("flags : fpu sse avx2 avx512f avx512_vnni", "x86_64")
        {'avx2': True, 'avx512f': True, 'avx512_vnni': True, 'avx_vnni': False}
        >>> isa_facts("Features : fp asimd asimddp", "aarch64")
        {'neon': True, 'asimd': True, 'asimddp': True, 'i8mm': False}
    """
    text = _cpuinfo() if text is None else text
    arm = (machine or platform.machine()).lower().startswith(("arm", "aarch64"))
    wanted, key = (ARM_FLAGS, "features") if arm else (X86_FLAGS, "flags")
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == key:
            present = set(value.split())
            facts = {flag: flag in present for flag in wanted}
            if arm:
                facts["neon"] = facts["neon"] or facts["asimd"]
            return facts
    return {}


def load_average() -> Optional[List[float]]:
    """`os.getloadavg()` (1, 5 and 15 minutes), or None where the system has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def device_facts(ort: Any, threads: int) -> Dict[str, Any]:
    """What is known about this machine and its engine, stored with every figure."""
    return {
        "platform": platform.platform(), "processor": platform.processor(), "cpu": cpu_model(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "numpy": sys.modules["numpy"].__version__, "onnxruntime": ort.__version__,
        "providers": list(ort.get_available_providers()), "threads": threads, "isa": isa_facts(),
    }


def make_session(ort: Any, path: Path, protocol: Dict[str, Any]) -> Any:
    """An InferenceSession on the CPU provider under the bundle's protocol."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(protocol["threads"])
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    levels = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
              "all": "ORT_ENABLE_ALL"}
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, levels[protocol["graph_optimization"]])
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _ms(step: Callable[[], Any]) -> float:
    started = time.perf_counter_ns()
    step()
    return (time.perf_counter_ns() - started) / 1e6


def _stats(np: Any, samples: List[float]) -> Dict[str, Any]:
    values = np.asarray(samples, dtype=float)
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"p50_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)), "mean_ms": mean,
            "std_ms": std, "cv": std / mean if mean > 0 else 0.0, "samples": int(values.size)}


def _stable(times: List[float]) -> bool:
    if len(times) < STABLE_WINDOW:
        return False
    window = sorted(times[-STABLE_WINDOW:])
    return window[-1] - window[0] <= STABLE_REL * window[STABLE_WINDOW // 2]


def round_spread(medians: List[float]) -> float:
    """How far apart the two lowest round medians are, relative to the lowest (0 for one round).

    Example:
        >>> round(round_spread([1.10, 1.00, 1.50]), 3)
        0.1
    """
    if len(medians) < 2:
        return 0.0
    low, second = sorted(medians)[:2]
    return (second - low) / low if low > 0 else 0.0


def _round(step: Callable[[], Any], repeats: int, deadline: float, clock: Callable[[], float]) -> List[float]:
    samples: List[float] = []
    while len(samples) < repeats:
        if len(samples) >= MIN_SAMPLES and clock() >= deadline:
            break
        samples.append(_ms(step))
    return samples


def timed_rounds(np: Any, step: Callable[[], Any], repeats: int, rounds: int, deadline: float,
                 clock: Callable[[], float] = time.perf_counter) -> List[List[float]]:
    """Rounds of `repeats` timings of `step` (a round is cut at `deadline` once it holds
    `MIN_SAMPLES`), until `MIN_ROUNDS` rounds were taken and the two lowest round medians agree
    within `PRECISION`, or `rounds` rounds, or `deadline` (the first round is always taken)."""
    taken: List[List[float]] = []
    while len(taken) < rounds:
        if taken and clock() >= deadline:
            break
        taken.append(_round(step, repeats, deadline, clock))
        medians = [float(np.median(r)) for r in taken]
        if len(taken) >= MIN_ROUNDS and round_spread(medians) <= PRECISION:
            break
    return taken


def time_step(np: Any, step: Callable[[], Any], protocol: Dict[str, Any],
              clock: Callable[[], float] = time.perf_counter) -> Dict[str, Any]:
    """Warm `step` up, then time it in rounds within the cap; the quietest round's figures.

    Returns:
        The quietest round's p50/p90/mean/std/cv, `samples` over all rounds, `estimator`,
        `round_medians_ms`, `round_spread`, `rounds_done`, `precise` (the two lowest round
        medians agree within `PRECISION`) and `noisy` (the round's cv or the rounds' spread is
        over the protocol's `cv_threshold`, the workbench's rule).
    """
    cap = float(protocol["max_seconds"])
    start = clock()
    warmed: List[float] = []
    while len(warmed) < int(protocol["warmup"]):
        warmed.append(_ms(step))
        if _stable(warmed) or clock() >= start + cap * WARMUP_SHARE:
            break
    rounds = timed_rounds(np, step, int(protocol["repeats"]), int(protocol.get("rounds", MAX_ROUNDS)), start + cap,
                          clock)
    medians = [float(np.median(r)) for r in rounds]
    figures = _stats(np, rounds[int(np.argmin(medians))])
    spread = round_spread(medians)
    threshold = float(protocol["cv_threshold"])
    figures.update(samples=sum(len(r) for r in rounds), estimator=ESTIMATOR, rounds_done=len(rounds),
                   round_medians_ms=[round(m, 6) for m in medians], round_spread=round(spread, 4),
                   precise=len(rounds) >= MIN_ROUNDS and spread <= PRECISION,
                   warmup_done=len(warmed), noisy=figures["cv"] > threshold or spread > threshold)
    return figures


def time_model(np: Any, ort: Any, entry: Dict[str, Any], protocol: Dict[str, Any]) -> Dict[str, Any]:
    """One model's figures, with the sha256 of the file actually timed."""
    path = HERE / entry["file"]
    session = make_session(ort, path, protocol)
    inputs = np.random.default_rng(INPUT_SEED).standard_normal(entry["input_shape"]).astype(np.float32)
    name = session.get_inputs()[0].name
    figures = time_step(np, lambda: session.run(None, {name: inputs}), protocol)
    figures.update(sha256=sha256_of(path), precision=entry["precision"], timed_at=_now())
    return figures


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_results(manifest: Dict[str, Any], manifest_sha: str, facts: Dict[str, Any]) -> Dict[str, Any]:
    """The earlier results of this bundle on this machine, or a fresh record."""
    fresh = {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "bundle_id": manifest["bundle_id"],
             "manifest_sha256": manifest_sha, "protocol": manifest["protocol"], "device": facts,
             "estimator": ESTIMATOR, "runs": [], "models": {}, "failed": {}}
    path = HERE / RESULTS
    if not path.exists():
        return fresh
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        print("results.json is unreadable: starting again")
        return fresh
    same = (old.get("bundle_id") == manifest["bundle_id"] and old.get("manifest_sha256") == manifest_sha
            and old.get("device") == facts)
    if not same:
        print("results.json belongs to another bundle, manifest or machine: starting again")
        return fresh
    old["failed"] = {}  # failures are tried again
    old.setdefault("runs", [])
    return old


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the models of this workbench device bundle.")
    parser.add_argument("--limit", type=int, default=None, help="time at most N more models in this run")
    parser.add_argument("--modules", action="store_true", help="print sys.modules (sorted, one JSON line) at the end")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Time the bundle's models not yet in results.json; returns 1 when a model failed, else 0."""
    args = parse_args(argv)
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as error:
        print("run_bundle.py needs numpy and onnxruntime (" + str(error) + "): pip install numpy onnxruntime")
        return 2
    manifest_path = HERE / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    protocol = manifest["protocol"]
    load = load_average()  # before this process adds its own
    results = load_results(manifest, sha256_of(manifest_path), device_facts(ort, int(protocol["threads"])))
    results["runs"].append({"started_at": _now(), "load_average": load, "estimator": ESTIMATOR})
    models = manifest["models"]
    todo = [m for m in models if m["id"] not in results["models"]]
    if args.limit is not None:
        todo = todo[:max(0, args.limit)]
    print("bundle " + manifest["bundle_id"] + ": " + str(len(models)) + " models, " + str(len(results["models"]))
          + " timed before, " + str(len(todo)) + " to time now (onnxruntime " + ort.__version__ + ", "
          + str(protocol["threads"]) + " thread(s), load average " + str(load) + ")", flush=True)
    for index, entry in enumerate(todo, 1):
        try:
            figures = time_model(np, ort, entry, protocol)
        except Exception as error:  # noqa: BLE001 - one model the engine cannot run is a fact to report
            results["failed"][entry["id"]] = (type(error).__name__ + ": " + " ".join(str(error).split()))[:300]
            print("[" + str(index) + "/" + str(len(todo)) + "] " + entry["id"] + ": failed: "
                  + results["failed"][entry["id"]], flush=True)
        else:
            results["models"][entry["id"]] = figures
            print("[{}/{}] {} ({}, {:,} MACs): p50 {:.3f} ms, cv {:.3f}, {} rounds agree within {:.1%}{}".format(
                index, len(todo), entry["id"], entry["precision"], entry["macs"], figures["p50_ms"], figures["cv"],
                figures["rounds_done"], figures["round_spread"], " (noisy)" if figures["noisy"] else ""), flush=True)
        results["complete"] = len(results["models"]) == len(models)
        write_json_atomic(HERE / RESULTS, results)
    results["complete"] = len(results["models"]) == len(models)
    write_json_atomic(HERE / RESULTS, results)
    left = len(models) - len(results["models"])
    print("done: results.json holds " + str(len(results["models"])) + " of " + str(len(models)) + " models"
          + ("" if not left else " (" + str(left) + " left: run again to continue)"), flush=True)
    if args.modules:
        print(json.dumps(sorted(sys.modules)))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
