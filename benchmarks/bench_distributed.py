"""Benchmark of distributed search: 4 workers on one PostgreSQL-backed study and 4 workers on
one journal file each complete exactly the requested number of trials, none lost or run twice.

    python benchmarks/bench_distributed.py [--quick] [--out reports/benchmarks]

Starts a throw-away PostgreSQL 15 server (as the postgres user, on a free loopback port) when
the server binaries are installed; the PostgreSQL row is skipped with a reason otherwise.
Writes distributed.json and distributed.md and prints them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import optuna
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workbench import record  # noqa: E402
from workbench.storage import open_storage  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SPACE = {
    "name": "distributed",
    "base": "ghostnet_cifar_050",
    "dataset": "digits",
    "input_size": 16,
    "knobs": {"ratio": {"low": 2, "high": 5}, "dw_size": {"choices": [1, 3, 5, 7]},
              "width": {"low": 0.25, "high": 0.5, "step": 0.05}},
    "objectives": ["accuracy", "macs"],
    "recipe": {"epochs": 0.3, "batch_size": 128},
    "latency": {"warmup": 1, "repeats": 5, "max_seconds": 0.1},
}


from _report import save_report  # noqa: E402


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """A PostgreSQL URL on a fresh server, or None (with the reason printed) if none can start."""
    if not (PG_BIN / "initdb").exists():
        print(f"PostgreSQL binaries not found in {PG_BIN}; skipping the PostgreSQL run")
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="wb-pg-", dir="/tmp"))
    os.chmod(folder, 0o777)
    data = folder / "data"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    try:
        subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"], check=True,
                       capture_output=True, timeout=120)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=100"
        subprocess.run(
            [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as error:
        print(f"could not start PostgreSQL ({error}); skipping the PostgreSQL run")
        shutil.rmtree(folder, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def run_case(kind: str, storage: str, space_file: Path, workers: int, trials: int) -> dict[str, Any]:
    """Run the CLI with `workers` processes on one study and check the outcome."""
    command = [
        sys.executable,
        "-m",
        "workbench",
        "search",
        "--space",
        str(space_file),
        "--storage",
        storage,
        "--workers",
        str(workers),
        "--trials",
        str(trials),
        "--no-progress",
        "--format",
        "json",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=space_file.parent, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        return {"kind": kind, "ok": False, "error": result.stderr[-1000:]}
    study = optuna.load_study(study_name="distributed", storage=open_storage(storage))
    trials_done = study.get_trials()
    numbers = [t.number for t in trials_done]
    complete = [t for t in trials_done if t.state == optuna.trial.TrialState.COMPLETE]
    hashes = [t.user_attrs.get(record.ARCH_HASH) for t in complete if t.user_attrs.get(record.STATUS) == "complete"]
    return {
        "kind": kind,
        "workers": workers,
        "requested": trials,
        "trials_in_study": len(trials_done),
        "complete": len(complete),
        "states": {s: sum(t.state.name == s for t in trials_done) for s in {t.state.name for t in trials_done}},
        "numbers_unique": len(set(numbers)) == len(numbers) == max(numbers) + 1,
        "trained_twice": len(hashes) - len(set(hashes)),
        "exact": len(complete) == trials == len(trials_done),
        "wall_seconds": wall,
        "trials_per_minute": 60 * trials / wall,
        "ok": True,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Distributed search benchmark",
        "",
        f"{report['workers']} workers per study, {report['trials']} trials requested"
        f"{' (quick run)' if report['quick'] else ''}; "
        f"{report['cores']} CPU cores.",
        "",
        "| storage | trials in study | complete | exact | numbers unique | same arch trained twice | wall s "
        "| trials/min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in report["cases"]:
        if not case.get("ok"):
            lines.append(
                f"| {case['kind']} | failed or skipped: {case.get('error', case.get('reason', ''))[:120]} | | | | | | |"
            )
            continue
        lines.append(
            f"| {case['kind']} | {case['trials_in_study']} | {case['complete']} | {case['exact']} | "
            f"{case['numbers_unique']} | "
            f"{case['trained_twice']} | {case['wall_seconds']:.0f} | {case['trials_per_minute']:.1f} |"
        )
    lines += [
        "",
        "'same arch trained twice' counts identical architectures trained concurrently by two workers before "
        "either finished (the dedupe only sees finished trials); it is not a trial run twice.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 trials instead of 40")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", default="reports/benchmarks")
    args = parser.parse_args()
    trials = 8 if args.quick else 40
    cases = []
    with tempfile.TemporaryDirectory(prefix="wb-dist-") as tmp:
        folder = Path(tmp)
        space_file = folder / "distributed.yaml"
        space_file.write_text(yaml.safe_dump(SPACE))
        cases.append(run_case("journal file", str(folder / "study.log"), space_file, args.workers, trials))
        with postgres() as url:
            if url is None:
                cases.append({"kind": "postgresql", "ok": False, "reason": "no PostgreSQL server available"})
            else:
                cases.append(run_case("postgresql", url, space_file, args.workers, trials))
    report = {"quick": args.quick, "workers": args.workers, "trials": trials, "cores": os.cpu_count(), "cases": cases}
    save_report(args.out, "distributed", report, markdown(report))


if __name__ == "__main__":
    main()
