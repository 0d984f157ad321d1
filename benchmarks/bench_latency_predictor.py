"""The device latency predictor's learning curve: how well it predicts held-out architectures
from 10, 20, 50 and 100 measured ones, against the MACs-proportional baseline.

The "device" is this machine seen as a user's device is: a bundle (`workbench device bundle`,
fp32 and int8 ONNX graphs of the `digits` space at 12x12 and the `ghostnet_cifar` space at 32x32)
timed by the bundle's own runner in its own process (`python -I run_bundle.py`: numpy and
onnxruntime only, no torch, no workbench). ghostnet_cifar is bundled with the digits data (there
is no CIFAR here; the data only calibrates the int8 ranges and sets the classes).

For each precision and each training size n, `--splits` seeded random splits fit the predictor
(`workbench.predictors.predictor.fit_predictor`) and the baseline (`macs_baseline`) on n
architectures and score both on all the others: share within +-10% and +-5%, MAPE, Kendall tau.
Figures are medians over the splits.

    .venv/bin/python benchmarks/bench_latency_predictor.py                 # 80 + 80 architectures
    .venv/bin/python benchmarks/bench_latency_predictor.py --archs 12 --loaded   # smoke run

Writes reports/benchmarks/latency_predictor.json and .md and prints the markdown. Goal (issue
20): at least 95% of held-out architectures within +-10% from at most 100 measured ones.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbench.predictors.latency_model as latency_model  # noqa: E402
import workbench.predictors.predictor as predictor_module  # noqa: E402
from workbench.config.arch import ArchConfig  # noqa: E402
from workbench.devices.bundle import make_bundle  # noqa: E402
from workbench.predictors.predictor import error_figures, fit_predictor, macs_baseline  # noqa: E402

# Each architecture's kernel features are computed once for the whole curve (keyed by its JSON);
# the predictor's own code recomputes them per call, which is right for a search (one prediction
# a trial) and too slow for 40 fits over the same 150 architectures.
_BY_JSON = functools.lru_cache(maxsize=None)(
    lambda text: latency_model.arch_features(ArchConfig.model_validate_json(text)))


def _features(arch: ArchConfig) -> dict[str, float]:
    return _BY_JSON(arch.model_dump_json())


predictor_module.arch_features = _features
latency_model.LatencyPredictor.predict = lambda self, arch: self.predict_features(_features(arch))

OUT_DIR = ROOT / "reports" / "benchmarks"
SIZES = (10, 20, 50, 100)
SPACES = {"digits": {}, "ghostnet_cifar": {"dataset": "digits", "input_size": 32}}
PROTOCOL = {"warmup": 3, "repeats": 30, "max_seconds": 0.5, "threads": 1, "batch_size": 1}


def _space_file(folder: Path, name: str, changes: dict[str, Any]) -> Path:
    data = yaml.safe_load((ROOT / "search_spaces" / f"{name}.yaml").read_text())
    data.update(changes)
    data["latency"] = dict(PROTOCOL)
    data.pop("budgets", None)  # the bundle spans the whole space, over-budget corners included
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def measure(folder: Path, archs: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Bundle each space, run each bundle's runner in its own process; the measured rows."""
    rows: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    for name, changes in SPACES.items():
        started = time.perf_counter()
        bundle = make_bundle(str(_space_file(folder, name, changes)), folder / f"bundle-{name}", archs=archs,
                             int8=True, devices=folder / "devices")
        made = time.perf_counter() - started
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-I", "run_bundle.py"], cwd=bundle.folder, capture_output=True,
                             text=True)
        if run.returncode != 0:
            raise SystemExit(f"runner failed for {name}: {run.stderr[-2000:]}")
        results = json.loads((bundle.folder / "results.json").read_text())
        manifest = json.loads((bundle.folder / "manifest.json").read_text())
        facts[name] = {"bundle_seconds": made, "runner_seconds": time.perf_counter() - started,
                       "models": len(manifest["models"]), "device": results.get("device")}
        timed = results["models"]
        for entry in manifest["models"]:
            got = timed.get(entry["id"]) or {}
            if got.get("p50_ms"):
                rows.append({"space": name, "precision": entry["precision"], "arch_json": entry["arch_json"],
                             "macs": entry["macs"], "p50_ms": float(got["p50_ms"]), "cv": got.get("cv")})
        print(f"{name}: {facts[name]['models']} models bundled in {made:.0f} s, timed in "
              f"{facts[name]['runner_seconds']:.0f} s", flush=True)
    return rows, facts


def learning_curve(rows: list[dict[str, Any]], splits: int, seed: int) -> dict[str, Any]:
    """Per precision and training size: median held-out figures of the predictor and the baseline."""
    curve: dict[str, Any] = {}
    for precision in ("fp32", "int8"):
        picked = [r for r in rows if r["precision"] == precision]
        archs = [ArchConfig.model_validate(json.loads(r["arch_json"])) for r in picked]
        latency = np.array([r["p50_ms"] for r in picked])
        curve[precision] = {}
        for size in SIZES:
            if size >= len(picked):
                continue
            runs: dict[str, list[dict[str, float]]] = {"predictor": [], "baseline": []}
            for split in range(splits):
                order = np.random.default_rng(seed + split).permutation(len(picked))
                train, test = order[:size], order[size:]
                fit_a = [archs[i] for i in train]
                test_a = [archs[i] for i in test]
                for kind, model in (("predictor", fit_predictor(fit_a, latency[train], device="bench",
                                                                 engine=f"onnxruntime-{precision}")),
                                    ("baseline", macs_baseline(fit_a, latency[train], device="bench",
                                                             engine=f"onnxruntime-{precision}"))):
                    predicted = [model.predict(arch)[0] for arch in test_a]
                    runs[kind].append(error_figures(latency[test], predicted).__dict__)
            curve[precision][size] = {kind: {key: statistics.median(run[key] for run in got)
                                             for key in got[0] if isinstance(got[0][key], (int, float))}
                                      for kind, got in runs.items()}
            curve[precision][size]["held_out"] = len(picked) - size
    return curve


def markdown(report: dict[str, Any]) -> str:
    load = report["load"]
    lines = ["# Device latency predictor: learning curve", "",
             f"{'Loaded' if report['loaded'] else 'Quiet'} machine: load average {load[0]:.2f} at start, "
             f"{load[1]:.2f} at end, {os.cpu_count()} cores. {report['measured']} measured graphs "
             f"({report['archs']} architectures per space x fp32/int8), timed by the bundle runner "
             "(`python -I run_bundle.py`, no torch) with 1 thread, batch 1.", "",
             "| precision | fit on | held out | predictor ±10% | baseline ±10% | predictor ±5% | predictor MAPE | "
             "baseline MAPE | predictor tau | baseline tau |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for precision, sizes in report["curve"].items():
        for size, figures in sizes.items():
            p, b = figures["predictor"], figures["baseline"]
            lines.append(f"| {precision} | {size} | {figures['held_out']} | {p['within_10']:.0%} | "
                         f"{b['within_10']:.0%} | {p['within_5']:.0%} | {p['mape']:.1%} | {b['mape']:.1%} | "
                         f"{p['tau']:.2f} | {b['tau']:.2f} |")
    lines += ["", f"Medians over {report['splits']} seeded random splits. Goal: >= 95% within ±10% from <= 100 "
              "measured architectures.", "", f"Command: `{report['command']}` ({report['seconds']:.0f} s)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", type=int, default=80, help="architectures per space (default 80)")
    parser.add_argument("--splits", type=int, default=5, help="random splits per training size (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loaded", action="store_true", help="label the figures as taken on a loaded machine")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--rows", type=Path, help="analyse the measurements a run saved (latency_predictor_rows.json)")
    args = parser.parse_args(argv)
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.rows:
        saved = json.loads(args.rows.read_text())
        rows, facts = saved["rows"], saved["facts"]
    else:
        with tempfile.TemporaryDirectory(prefix="bench-predictor-") as tmp:
            rows, facts = measure(Path(tmp), args.archs)
        # the measurements first, so the analysis can be rerun (`--rows`) without timing again
        (args.out / "latency_predictor_rows.json").write_text(json.dumps({"rows": rows, "facts": facts},
                                                                         default=str))
    curve = learning_curve(rows, args.splits, args.seed)
    report = {"archs": args.archs, "measured": len(rows), "splits": args.splits, "facts": facts, "curve": curve,
              "loaded": args.loaded or os.getloadavg()[0] > (os.cpu_count() or 1) / 2,
              "load": [load_start, os.getloadavg()[0]], "seconds": time.perf_counter() - started,
              "command": "python benchmarks/bench_latency_predictor.py " + " ".join(argv or sys.argv[1:]),
              "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency_predictor.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = markdown(report)
    (args.out / "latency_predictor.md").write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
