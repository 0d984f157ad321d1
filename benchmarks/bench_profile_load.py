"""`workbench profile` with its default flags, on a quiet machine and beside a busy second
process, in one run: does the figure hold under load?

Each condition runs the command `--runs` times (a fresh process each time, as a user would) and
reads the batch-1 p50 from its JSON output. The busy process trains a small network with one
torch thread for as long as the loaded runs last (what a user's other job, or the other worker of
a search, does to the CPU). The same is repeated with `--threads N` (all cores: torch's own default
before `profile` pinned one thread) to show what the default saves.

    .venv/bin/python benchmarks/bench_profile_load.py            # 5 runs per condition
    .venv/bin/python benchmarks/bench_profile_load.py --runs 2   # smoke run

Writes reports/benchmarks/profile_load.json and .md. Goal: the loaded p50 (median over runs)
within 1.3x of the quiet one at the default flags.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import save_report  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
NAME = "profile_load"
PRESET = "ghostnet_cifar_050"
GOAL_RATIO = 1.3
WORKBENCH = str(Path(sys.executable).with_name("workbench"))


def busy_main(stop: Any) -> None:
    """Train a small convolutional network with one thread until `stop` is set."""
    import torch

    torch.set_num_threads(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    images, labels = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    while not stop.is_set():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()


def profile_p50(extra: list[str]) -> dict[str, Any]:
    """One `workbench profile` run's batch-1 latency figures."""
    command = [WORKBENCH, "profile", "--preset", PRESET, "--batch-size", "1", "--format", "json",
               "--no-crosscheck", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    headline = report["latency_ms"]
    return {"p50_ms": headline["p50"], "cv": headline["cv"], "noisy": headline["noisy"],
            "threads": report["protocol"]["threads"], "wall_seconds": time.perf_counter() - started}


def condition(runs: int, extra: list[str], busy: bool) -> list[dict[str, Any]]:
    """`runs` profile runs, beside a busy process when `busy`."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    process = context.Process(target=busy_main, args=(stop,), daemon=True) if busy else None
    if process:
        process.start()
        time.sleep(3.0)
    try:
        return [profile_p50(extra) for _ in range(runs)]
    finally:
        if process:
            stop.set()
            process.join(timeout=10)


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    p50s = [r["p50_ms"] for r in results]
    return {"median_p50_ms": statistics.median(p50s), "min_p50_ms": min(p50s), "max_p50_ms": max(p50s),
            "noisy_runs": sum(r["noisy"] for r in results), "threads": results[0]["threads"], "runs": results}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# `workbench profile --preset {PRESET}` quiet and beside a busy process", "",
             f"Load average (1 min) at the start {report['load_start']:.2f}, at the end {report['load_end']:.2f}, "
             f"{report['cores']} cores. {report['runs']} runs per condition, a fresh process each.", "",
             f"Command: `{report['command']}`", "",
             "| flags | threads | quiet p50 median (min-max) | loaded p50 median (min-max) | loaded / quiet | "
             "noisy runs quiet / loaded | goal <= 1.3x |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in report["conditions"].items():
        q, b = c["quiet"], c["loaded"]
        goal = ("pass" if c["ratio"] <= GOAL_RATIO else "FAIL") if name == "default" else "(not the goal)"
        lines.append(f"| {name} | {q['threads']} | {q['median_p50_ms']:.3f} ms ({q['min_p50_ms']:.3f}-"
                     f"{q['max_p50_ms']:.3f}) | {b['median_p50_ms']:.3f} ms ({b['min_p50_ms']:.3f}-"
                     f"{b['max_p50_ms']:.3f}) | {c['ratio']:.2f}x | {q['noisy_runs']} / {b['noisy_runs']} | {goal} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    load_start = os.getloadavg()[0]
    conditions = {}
    for name, extra in (("default", []), (f"--threads {cores}", ["--threads", str(cores)])):
        quiet, loaded = condition(args.runs, extra, False), condition(args.runs, extra, True)
        conditions[name] = {"quiet": summary(quiet), "loaded": summary(loaded)}
        conditions[name]["ratio"] = conditions[name]["loaded"]["median_p50_ms"] / conditions[name]["quiet"][
            "median_p50_ms"]
        print(name, json.dumps({k: v["median_p50_ms"] for k, v in conditions[name].items() if k != "ratio"}),
              f"ratio {conditions[name]['ratio']:.2f}", flush=True)
    report = {"command": " ".join(["python", "benchmarks/bench_profile_load.py", *(argv or sys.argv[1:])]),
              "cores": cores, "load_start": load_start, "load_end": os.getloadavg()[0], "runs": args.runs,
              "preset": PRESET, "goal_ratio": GOAL_RATIO, "conditions": conditions}
    save_report(args.out, NAME, report, markdown(report))
    return report


if __name__ == "__main__":
    main()
