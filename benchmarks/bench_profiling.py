"""Benchmark of the profiler: counting speed, latency repeatability, what deploy buys, and
latency per MAC of GhostNet next to a plain conv net.

    python benchmarks/bench_profiling.py [--quick] [--out reports/benchmarks]

Writes profiling.json and profiling.md and prints the figures. Targets: counting GhostNet
1.0x at 224 in <= 1 s (median); two latency passes over 12 CIFAR-style architectures rank
them alike (Kendall tau >= 0.9) and agree within 5% (median relative difference); the
BN-folded model takes <= 0.9x the eager time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from typing import Any

import torch
from scipy.stats import kendalltau

from workbench.models import build_model, get_preset
from workbench.profiling import LatencyProtocol, count_model, measure_latency
from workbench.profiling.protocol import cpu_name

# (width, ratio, dw_size) spread over the CIFAR-style search space.
SPREAD = [
    (0.35, 2, 3), (0.5, 3, 1), (0.5, 5, 7), (0.6, 2, 5), (0.75, 4, 3), (0.75, 2, 1),
    (0.9, 3, 7), (1.0, 2, 3), (1.0, 5, 5), (1.1, 4, 1), (1.2, 3, 3), (1.3, 2, 7),
]
TARGETS = {"count_seconds": 1.0, "kendall_tau": 0.9, "median_rel_diff": 0.05, "deploy_ratio": 0.9}


from _report import save_report  # noqa: E402


def bench_counting(runs: int) -> dict[str, Any]:
    """Cold and warm wall time of `count_model` on GhostNet 1.0x at 224."""
    arch = get_preset("ghostnet_100")
    model = build_model(arch)
    started = time.perf_counter()
    count_model(model, arch)
    cold = time.perf_counter() - started
    plain, checked = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = count_model(model, arch)
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        count_model(model, arch, crosscheck=True)
        checked.append(time.perf_counter() - started)
    return {"runs": runs, "cold_seconds": cold, "median_seconds": statistics.median(plain),
            "median_seconds_with_crosscheck": statistics.median(checked), "macs": result.macs, "params": result.params,
            "pass": statistics.median(plain) <= TARGETS["count_seconds"]}


def bench_repeatability(spread: list[tuple[float, int, int]]) -> dict[str, Any]:
    """Two independent default-protocol passes over the same architectures."""
    archs = [get_preset("ghostnet_cifar_100", width=w, ratio=r, dw_size=d) for w, r, d in spread]
    models = [build_model(a) for a in archs]
    protocol = LatencyProtocol()
    passes, seconds, noisy = [], [], 0
    for _ in range(2):
        started = time.perf_counter()
        results = [measure_latency(m, a, protocol) for m, a in zip(models, archs)]
        seconds.append((time.perf_counter() - started) / len(archs))
        passes.append([r.p50_ms for r in results])
        noisy += sum(r.noisy for r in results)
    tau = float(kendalltau(passes[0], passes[1]).statistic)
    rel = [abs(a - b) / min(a, b) for a, b in zip(*passes)]
    median_rel = statistics.median(rel)
    return {"archs": [{"width": w, "ratio": r, "dw_size": d, "p50_ms_pass1": p1, "p50_ms_pass2": p2}
                      for (w, r, d), p1, p2 in zip(spread, *passes)],
            "kendall_tau": tau, "median_rel_diff": median_rel, "seconds_per_measurement": statistics.mean(seconds),
            "noisy_measurements": noisy,
            "pass": tau >= TARGETS["kendall_tau"] and median_rel <= TARGETS["median_rel_diff"]}


def bench_deploy(rounds: int) -> dict[str, Any]:
    """Eager vs BN-folded GhostNet 1.0x at batch 1, interleaved so drift hits both alike."""
    arch = get_preset("ghostnet_100")
    model = build_model(arch)
    base = LatencyProtocol(batch_size=1)
    times: dict[str, list[float]] = {"eager": [], "deploy": []}
    for _ in range(rounds):
        for mode in times:
            times[mode].append(measure_latency(model, arch, replace(base, mode=mode)).p50_ms)
    eager, deploy = statistics.median(times["eager"]), statistics.median(times["deploy"])
    return {"rounds": rounds, "eager_ms": eager, "deploy_ms": deploy, "ratio": deploy / eager,
            "pass": deploy / eager <= TARGETS["deploy_ratio"]}


def bench_latency_per_mac() -> dict[str, Any]:
    """GhostNet 1.0x next to ResNet-56 at an input size giving similar MACs."""
    rows = []
    for arch in (get_preset("ghostnet_100"), get_preset("resnet56_cifar", input_size=34)):
        model = build_model(arch)
        macs = count_model(model, arch).macs
        p50 = measure_latency(model, arch, LatencyProtocol()).p50_ms
        rows.append({"name": arch.name, "input_size": arch.input_size, "macs": macs, "p50_ms": p50,
                     "ns_per_mac": p50 * 1e6 / macs})
    return {"rows": rows}


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a short markdown page."""
    c, r, d, m = report["counting"], report["repeatability"], report["deploy"], report["latency_per_mac"]
    lines = [
        "# Profiling benchmark", "",
        f"Device: {report['device_name']}, torch {report['torch_version']}, {report['threads']} threads"
        f"{' (quick run)' if report['quick'] else ''}. Latency: deploy mode, fp32, batch 1, default protocol.",
        f"Load average (1 min) before / after: {report['load_before']:.2f} / {report['load_after']:.2f} "
        "(above the core count, timings are contended and not comparable).", "",
        "| check | figure | target | pass |", "| --- | --- | --- | --- |",
        f"| count GhostNet 1.0x @224 (median of {c['runs']}) | {c['median_seconds']:.3f} s "
        f"(cold {c['cold_seconds']:.3f} s, with cross-check {c['median_seconds_with_crosscheck']:.3f} s) "
        f"| <= 1 s | {c['pass']} |",
        f"| repeatability over {len(r['archs'])} archs: Kendall tau | {r['kendall_tau']:.3f} | >= 0.9 | {r['pass']} |",
        f"| repeatability: median relative difference | {r['median_rel_diff']:.2%} | <= 5% | {r['pass']} |",
        f"| deploy / eager, GhostNet 1.0x batch 1 | {d['deploy_ms']:.2f} / {d['eager_ms']:.2f} ms "
        f"= {d['ratio']:.3f} | <= 0.9 | {d['pass']} |",
        "", "## Latency per MAC (FLOPs do not predict latency)", "",
        "| model | input | MACs | p50 ms | ns per MAC |", "| --- | --- | --- | --- | --- |",
        *[f"| {row['name']} | {row['input_size']} | {row['macs'] / 1e6:.1f}M | {row['p50_ms']:.2f} "
          f"| {row['ns_per_mac']:.3f} |"
          for row in m["rows"]],
        "", "## Repeatability detail", "", "| width | ratio | dw | pass 1 ms | pass 2 ms |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {a['width']} | {a['ratio']} | {a['dw_size']} | {a['p50_ms_pass1']:.3f} | {a['p50_ms_pass2']:.3f} |"
          for a in r["archs"]],
        f"\nMean time per latency measurement (default protocol, CIFAR nets): {r['seconds_per_measurement']:.3f} s; "
        f"{r['noisy_measurements']} of {2 * len(r['archs'])} measurements flagged noisy.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and architectures, for a sanity check")
    parser.add_argument("--out", default="reports/benchmarks", help="output folder")
    parser.add_argument("--threads", type=int, help="torch threads for every measurement (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {
        "load_before": os.getloadavg()[0],
        "device_name": cpu_name(), "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "quick": args.quick,
        "counting": bench_counting(runs=3 if args.quick else 7),
        "repeatability": bench_repeatability(SPREAD[::2] if args.quick else SPREAD),
        "deploy": bench_deploy(rounds=2 if args.quick else 5),
        "latency_per_mac": bench_latency_per_mac(),
        "targets": TARGETS,
    }
    report["load_after"] = os.getloadavg()[0]
    save_report(args.out, "profiling", report, to_markdown(report))


if __name__ == "__main__":
    main()
