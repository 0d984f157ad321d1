"""Chaos load test of distributed search (issue 23 item 16): 4, 8 and 16 `workbench search`
commands on one study on a PostgreSQL server started here, directly and through
`workbench storage serve` (gRPC), while a bounded loop SIGKILLs a random command every few
seconds and starts a new one.

    python benchmarks/bench_distributed.py [--workers 4 8 16] [--trials 200] [--kills 12]
                                           [--loaded] [--out reports/benchmarks]

Per case it checks what `benchmarks/_chaos.py` lists (exact total, no architecture measured
twice, every killed trial failed then retried, no trial without parameters, the study opens in
optuna-dashboard) and reports trials per minute, the peak client connections PostgreSQL held
(`pg_stat_activity`) and the proxy's overhead per trial (median trial time through the proxy
minus directly, at the same worker count). Writes distributed.json and distributed.md. Trials
are zero-cost scored, so the storage is what is loaded; on a 2-core machine 16 commands share
two cores, which the figures include (`--loaded` labels a run that shared them with other work).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _chaos import run_chaos, storage_proxy  # noqa: E402
from _postgres import postgres_server  # noqa: E402
from _report import save_report  # noqa: E402


def run_case(url: str, mode: str, workers: int, trials: int, kills: int, seed: int) -> dict[str, Any]:
    """One chaos run on a fresh study of the server, `direct` or through a `proxy`."""
    study = f"chaos-{mode}-{workers}"
    with tempfile.TemporaryDirectory(prefix="wb-chaos-") as tmp:
        folder = Path(tmp)
        (folder / "logs").mkdir()
        if mode == "proxy":
            with storage_proxy(url, folder / "logs") as grpc:
                figures = run_chaos(folder, grpc, url, workers=workers, trials=trials, kills=kills, seed=seed,
                                    study=study, time_limit_s=1800)
        else:
            figures = run_chaos(folder, url, url, workers=workers, trials=trials, kills=kills, seed=seed,
                                study=study, time_limit_s=1800)
    figures["mode"] = mode
    print(f"{mode} x{workers}: ok={figures['ok']} {figures['trials_per_minute']:.1f} trials/min, "
          f"peak connections {figures['peak_connections']}, {figures['kills']} kills", flush=True)
    return figures


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Distributed search under chaos",
        "",
        f"{report['trials']} zero-cost trials per case on one PostgreSQL 15 server, {report['kills']} SIGKILLs of a "
        f"random command (every 2-5 s, each replaced), then one resume command; {report['cores']} CPU cores"
        f"{' (loaded: other work shared them)' if report['loaded'] else ''}. "
        f"Command: `{report['command']}`.",
        "",
        "| storage | workers | ok | finished | killed trials (retried / re-queued) | measured twice | no params "
        "| dashboard | trials/min | median trial s | peak PG connections |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in report["cases"]:
        if "error" in case:
            lines.append(f"| {case['mode']} | {case['workers']} | error: {case['error'][:100]} |" + " |" * 8)
            continue
        trial_s = case["median_trial_seconds"]
        lines.append(
            f"| {case['mode']} | {case['workers']} | {case['ok']} | {case['counted']}/{case['trials_requested']} | "
            f"{case['killed_trials']} ({case['killed_retried']} / {case['killed_requeued']}) | "
            f"{case['measured_twice']} | {len(case['trials_without_params'])} | {case['dashboard'].get('ok')} | "
            f"{case['trials_per_minute']:.1f} | {trial_s:.2f} | {case['peak_connections']} |")
    lines += ["", "Proxy overhead per trial (median trial time through the proxy minus directly):", ""]
    for workers, overhead in report["proxy_overhead_s"].items():
        lines.append(f"- {workers} workers: {overhead:+.3f} s" if overhead is not None else f"- {workers}: n/a")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--modes", nargs="+", default=["direct", "proxy"], choices=["direct", "proxy"])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--loaded", action="store_true", help="label the figures as measured on a shared machine")
    parser.add_argument("--out", default="reports/benchmarks")
    args = parser.parse_args()
    cases: list[dict[str, Any]] = []
    started = time.monotonic()
    with postgres_server(max_connections=400) as (url, reason):
        if url is None:
            print(f"skipped: {reason}")
            return
        for workers in args.workers:
            for mode in args.modes:
                try:
                    cases.append(run_case(url, mode, workers, args.trials, args.kills, seed=workers))
                except Exception as error:  # noqa: BLE001 - one failed case is reported, the rest still run
                    cases.append({"mode": mode, "workers": workers, "error": f"{type(error).__name__}: {error}"})
    medians = {(c["mode"], c["workers"]): c.get("median_trial_seconds") for c in cases}
    overhead = {str(w): (medians[("proxy", w)] - medians[("direct", w)])
                if medians.get(("proxy", w)) is not None and medians.get(("direct", w)) is not None else None
                for w in args.workers}
    report = {"trials": args.trials, "kills": args.kills, "cores": os.cpu_count(), "loaded": args.loaded,
              "command": "python benchmarks/bench_distributed.py " + " ".join(sys.argv[1:]),
              "seconds": time.monotonic() - started, "cases": cases, "proxy_overhead_s": overhead}
    save_report(args.out, "distributed", report, markdown(report))


if __name__ == "__main__":
    main()
