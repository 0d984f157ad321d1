"""Benchmark of the search: the demo's wall time and best accuracy, the per-trial overhead
breakdown, and the default sampler's efficiency against random search.

    python benchmarks/bench_search.py [--quick] [--out reports/benchmarks]

Writes search.json and search.md and prints the figures. Targets:
* demo: `workbench search --space digits --trials 20` finishes within 300 s of wall time and
  its best feasible trial reaches >= 97% validation accuracy;
* overhead: everything a trained trial does besides training (sampling, building, counting,
  latency, storage) is <= 15% of its wall time (from the trial records: trial duration,
  train_seconds, profile_seconds);
* efficiency: on synflow (zero-cost) vs MACs over the ghostnet_cifar space on digits data,
  the default sampler's hypervolume after 50 trials >= random search's after 100, median over
  5 seeds, with one reference point for all runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workbench import record  # noqa: E402
from workbench.results import candidates, hypervolume, study_objectives, trials_frame  # noqa: E402
from workbench.storage import open_storage  # noqa: E402

TARGETS = {"demo_seconds": 300.0, "demo_best_accuracy": 0.97, "overhead_share": 0.15, "hv_ratio": 1.0}


from _report import save_report  # noqa: E402


def bench_demo(trials: int) -> dict[str, Any]:
    """Run the demo command exactly as `make demo` does, in a fresh folder, and read the study."""
    with tempfile.TemporaryDirectory(prefix="wb-demo-") as folder:
        command = [sys.executable, "-m", "workbench", "search", "--space", "digits", "--trials", str(trials), "--no-progress"]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"demo failed ({result.returncode}): {result.stderr[-2000:]}")
        study = optuna.load_study(study_name="digits", storage=open_storage(f"sqlite:///{folder}/workbench.db"))
        frame = trials_frame(study)
    feasible = candidates(frame, study_objectives(study))
    best = float(feasible[record.ACCURACY].max()) if not feasible.empty else float("nan")
    trained = frame[frame["status"] == "complete"]
    rows = []
    for _, row in trained.iterrows():
        duration, train, profile = row["duration_s"], row[record.TRAIN_SECONDS], row[record.PROFILE_SECONDS]
        rows.append({"number": int(row["number"]), "duration_s": duration, "train_s": train, "profile_s": profile,
                     "other_s": duration - train - profile, "overhead_share": (duration - train) / duration})
    overhead = {
        "trained_trials": len(rows),
        "median_duration_s": statistics.median(r["duration_s"] for r in rows) if rows else None,
        "median_train_s": statistics.median(r["train_s"] for r in rows) if rows else None,
        "median_profile_s": statistics.median(r["profile_s"] for r in rows) if rows else None,
        "median_other_s": statistics.median(r["other_s"] for r in rows) if rows else None,
        "overhead_share": (sum(r["duration_s"] - r["train_s"] for r in rows) / sum(r["duration_s"] for r in rows)) if rows else None,
    }
    statuses = frame["status"].value_counts().to_dict()
    return {"command": " ".join(["workbench"] + command[3:]), "trials": trials, "wall_seconds": wall,
            "best_feasible_accuracy": best, "statuses": statuses, "overhead": overhead, "per_trial": rows}


def efficiency_space(folder: Path) -> Path:
    """The ghostnet_cifar space scored by synflow on digits data (no CIFAR files needed)."""
    space = yaml.safe_load((REPO / "search_spaces" / "ghostnet_cifar.yaml").read_text())
    space.update(name="efficiency", dataset="digits", accuracy={"source": "zero_cost", "proxy": "synflow", "batch_size": 16},
                 objectives=["accuracy", "macs"], latency=None)
    space.pop("recipe", None)
    path = folder / "efficiency.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def bench_efficiency(seeds: list[int], tpe_trials: int, random_trials: int) -> dict[str, Any]:
    """Hypervolume of TPE after `tpe_trials` vs random after `random_trials`, per seed."""
    from workbench.search import load_space, run_search

    with tempfile.TemporaryDirectory(prefix="wb-eff-") as tmp:
        folder = Path(tmp)
        space = load_space(str(efficiency_space(folder)))
        storage = f"sqlite:///{folder}/eff.db"
        started = time.perf_counter()
        frames: dict[tuple[str, int], Any] = {}
        for seed in seeds:
            for sampler, n in (("tpe", tpe_trials), ("random", random_trials)):
                name = f"{sampler}-{seed}"
                run_search(space, study_name=name, storage=storage, sampler=sampler, trials=n, seed=seed, progress=False)
                study = optuna.load_study(study_name=name, storage=storage)
                frames[(sampler, seed)] = (trials_frame(study), study_objectives(study))
        objectives = next(iter(frames.values()))[1]
        # One reference point for every run: 0 synflow, 1.1 x the largest feasible MACs seen anywhere.
        pool = [candidates(frame, objectives) for frame, _ in frames.values()]
        worst_macs = max(float(p[record.MACS].max()) for p in pool if not p.empty)
        low_score = min(float(p[record.ACCURACY].min()) for p in pool if not p.empty)
        reference = np.array([-min(0.0, low_score), worst_macs * 1.1])
        per_seed = []
        for seed in seeds:
            hv = {s: hypervolume(frames[(s, seed)][0], objectives, reference) for s in ("tpe", "random")}
            per_seed.append({"seed": seed, "tpe": hv["tpe"], "random": hv["random"]})
        seconds = time.perf_counter() - started
    median_tpe = statistics.median(r["tpe"] for r in per_seed)
    median_random = statistics.median(r["random"] for r in per_seed)
    return {"space": "ghostnet_cifar on digits, synflow vs macs", "tpe_trials": tpe_trials, "random_trials": random_trials,
            "reference_point": reference.tolist(), "per_seed": per_seed, "median_tpe": median_tpe,
            "median_random": median_random, "ratio": median_tpe / median_random if median_random else float("inf"),
            "seconds": seconds}


def markdown(report: dict[str, Any]) -> str:
    demo, eff = report["demo"], report["efficiency"]
    over = demo["overhead"]
    lines = [
        "# Search benchmark", "",
        f"Device: {report['device']}, torch {report['torch']}, optuna {report['optuna']}{' (quick run)' if report['quick'] else ''}.", "",
        "| figure | value | target |", "| --- | --- | --- |",
        f"| demo wall time (`{demo['command']}`) | {demo['wall_seconds']:.0f} s | <= {TARGETS['demo_seconds']:.0f} s |",
        f"| demo best feasible validation accuracy | {demo['best_feasible_accuracy']:.4f} | >= {TARGETS['demo_best_accuracy']} |",
        f"| overhead share of trained trials | {over['overhead_share']:.1%} | <= {TARGETS['overhead_share']:.0%} |",
        f"| hypervolume: TPE@{eff['tpe_trials']} / random@{eff['random_trials']} (median of {len(eff['per_seed'])} seeds) | "
        f"{eff['ratio']:.3f} | >= {TARGETS['hv_ratio']} |", "",
        "## Overhead breakdown (trained trials, medians)", "",
        f"trial {over['median_duration_s']:.2f} s = training {over['median_train_s']:.2f} s + profiling (build, count, latency) "
        f"{over['median_profile_s']:.2f} s + other (sampling, dedupe, storage) {over['median_other_s']:.2f} s; "
        f"statuses: {demo['statuses']}", "",
        "## Sampler efficiency per seed", "", "| seed | TPE HV | random HV |", "| --- | --- | --- |",
        *[f"| {r['seed']} | {r['tpe']:.4g} | {r['random']:.4g} |" for r in eff["per_seed"]], "",
        f"Reference point (loss space): {eff['reference_point']}.", "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 demo trials, 2 seeds of 10 vs 20 trials")
    parser.add_argument("--out", default="reports/benchmarks", help="output folder")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import torch

    from workbench.profiling.protocol import cpu_name

    report = {
        "device": cpu_name(), "torch": torch.__version__, "optuna": optuna.__version__, "cores": os.cpu_count(),
        "quick": args.quick, "targets": TARGETS,
        "demo": bench_demo(4 if args.quick else 20),
        "efficiency": bench_efficiency([0, 1] if args.quick else [0, 1, 2, 3, 4], 10 if args.quick else 50, 20 if args.quick else 100),
    }
    save_report(args.out, "search", report, markdown(report))


if __name__ == "__main__":
    main()
