"""The chaos load test of distributed search (issue 23 item 16), shared by
`benchmarks/bench_distributed.py` and `tests/test_distributed_chaos.py`.

A fleet of `workbench search --workers 1` commands, all asking one study for the same total,
runs on a database server (directly, or through `workbench storage serve`). A bounded loop
SIGKILLs a random command every few seconds and starts a new one in its place, as a cluster
that loses machines does. When the fleet has ended, one more command runs, as a user would
after a crash, and the study is checked:

* exactly the requested number of finished trials, none RUNNING or WAITING;
* no architecture measured twice (each hash once among the trials that measured, not reused);
* every trial a kill caught running was failed (as "worker died", by the next command or a
  database heartbeat) and then retried, or, caught
  before it sampled anything, queued again and run in full;
* no trial without parameters;
* the study opens in optuna-dashboard with every trial.

Trials are short (a zero-cost score, a 5-repeat latency) so the storage, not training, is what
is loaded. Every loop is bounded in count and time, and every process is reaped.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, Iterator

import optuna
import yaml
from _postgres import connection_count, free_port
from optuna.trial import TrialState

from workbench.record import TrialRecord
from workbench.record.retries import retry_history
from workbench.search.retry import was_stopped_from_outside
from workbench.search.workers import counted_trials
from workbench.storage import open_storage
from workbench.storage.urls import postgres_driver_url

STUDY = "chaos"
SPACE = {
    "name": STUDY,
    "base": "ghostnet_cifar_050",
    "dataset": "digits",
    "input_size": 12,
    "knobs": {
        "ratio": {"low": 2, "high": 5},
        "dw_size": {"choices": [1, 3, 5, 7]},
        "width": {"low": 0.05, "high": 0.6, "step": 0.05},
        "depth": {"low": 1, "high": 3, "scope": "per_stage", "stages": [6, 8]},
    },                                          # 1,728 architectures
    "objectives": ["accuracy", "macs"],
    "accuracy": {"source": "zero_cost", "proxy": "synflow", "batch_size": 8},
    "latency": {"threads": 1, "warmup": 1, "repeats": 5, "max_seconds": 0.05},
    "noise": None,
    "seed": 0,
}


def write_space(folder: Path, study: str) -> Path:
    """The chaos space, named `study` (its study's name), as a YAML file in `folder`."""
    path = folder / f"{study}.yaml"
    path.write_text(yaml.safe_dump({**SPACE, "name": study}, sort_keys=False))
    return path


@dataclass
class Fleet:
    """The search commands of one chaos run, each `workbench search --workers 1` on one study."""

    space_file: Path
    storage: str
    trials: int
    logs: Path
    running: list[subprocess.Popen] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)      # exit codes of the commands that ended by themselves
    errors: list[str] = field(default_factory=list)     # their last stderr line when non-zero
    started: int = 0

    def start(self) -> subprocess.Popen:
        """One more command; its output goes to a log file of its own."""
        self.started += 1
        log = open(self.logs / f"worker-{self.started}.log", "w")  # noqa: SIM115 - closed by the child's exit
        command = [sys.executable, "-m", "workbench", "search", "--space", str(self.space_file), "--storage",
                   self.storage, "--trials", str(self.trials), "--workers", "1", "--no-progress"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, cwd=self.space_file.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        log.close()
        process.log_path = self.logs / f"worker-{self.started}.log"  # type: ignore[attr-defined]
        self.running.append(process)
        return process

    def reap(self) -> None:
        """Forget the commands that ended, keeping their exit codes."""
        for process in [p for p in self.running if p.poll() is not None]:
            self.running.remove(process)
            self.exits.append(process.returncode)
            if process.returncode != 0:
                lines = Path(process.log_path).read_text(errors="replace").strip().splitlines()  # type: ignore[attr-defined]
                self.errors.append(lines[-1] if lines else f"exit {process.returncode}")

    def kill_one(self, rng: random.Random, busy: set[int]) -> int | None:
        """SIGKILL a random running command, one of those in a trial (pids in `busy`) when there
        are any (a command still importing holds nothing to lose); its pid, or None if none runs."""
        self.reap()
        if not self.running:
            return None
        victim = rng.choice([p for p in self.running if p.pid in busy] or self.running)
        victim.kill()
        victim.wait(timeout=30)
        self.running.remove(victim)
        return victim.pid

    def wait(self, deadline: float) -> bool:
        """Wait for every command to end by itself until `deadline` (time.monotonic()); True if all did."""
        while self.running and time.monotonic() < deadline:
            time.sleep(0.5)
            self.reap()
        return not self.running

    def stop(self) -> None:
        """Kill whatever still runs (a run past its time limit)."""
        for process in self.running:
            process.kill()
            process.wait(timeout=30)
        self.running.clear()


@contextmanager
def peak_connections(url: str | None, period_s: float = 0.5) -> Iterator[dict[str, int]]:
    """{"peak": the most client connections PostgreSQL held, sampled every `period_s`}."""
    peak = {"peak": 0, "samples": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                peak["peak"] = max(peak["peak"], connection_count(url))
                peak["samples"] += 1
            except Exception:  # noqa: BLE001 - a sample lost while the server is busy is skipped
                pass
            stop.wait(period_s)

    thread = threading.Thread(target=sample, daemon=True) if url else None
    if thread:
        thread.start()
    try:
        yield peak
    finally:
        stop.set()
        if thread:
            thread.join(timeout=10)


_CHECK_STORAGES: dict[str, Any] = {}


def load(check_url: str, study: str) -> optuna.Study:
    """The chaos study, read straight from the database (never through the proxy under test),
    through one storage per URL so the checks add one connection pool, not one per look."""
    if check_url not in _CHECK_STORAGES:
        _CHECK_STORAGES[check_url] = open_storage(check_url)
    return optuna.load_study(study_name=study, storage=_CHECK_STORAGES[check_url])


def _running_by_pid(study: optuna.Study) -> dict[int, list[int]]:
    """Numbers of the RUNNING trials, by the pid of the command whose run id they carry."""
    by_pid: dict[int, list[int]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run_id = TrialRecord.of(trial).run_id
        if isinstance(run_id, str) and run_id.count(":") >= 2 and run_id.split(":")[1].isdigit():
            by_pid.setdefault(int(run_id.split(":")[1]), []).append(trial.number)
    return by_pid


def _busy_pids(check_url: str, study: str, deadline: float, wait_s: float = 60.0) -> set[int]:
    """Pids of the commands in a trial now, waiting (bounded) until there is one."""
    until = min(deadline, time.monotonic() + wait_s)
    while True:
        busy = set(_running_by_pid(load(check_url, study)))
        if busy or time.monotonic() > until:
            return busy
        time.sleep(0.3)


def _wait_for_study(check_url: str, study: str, fleet: Fleet, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            load(check_url, study)
            return
        except Exception:  # noqa: BLE001 - no study (or no schema) yet
            fleet.reap()
            if not fleet.running:
                raise RuntimeError(f"the first command ended before the study existed: {fleet.errors}") from None
            time.sleep(0.3)
    raise RuntimeError("the study did not appear in time")


def run_chaos(folder: Path, worker_storage: str, check_url: str, *, workers: int, trials: int, kills: int,
              interval_s: tuple[float, float] = (2.0, 5.0), time_limit_s: float = 900.0,
              seed: int = 0, study: str = STUDY) -> dict[str, Any]:
    """One chaos run: `workers` commands on `worker_storage`, `kills` SIGKILLs (each followed by a
    replacement), then a resume command and the checks. Returns the figures and the checks."""
    rng = random.Random(seed)
    space_file = write_space(folder, study)
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    fleet = Fleet(space_file, worker_storage, trials, logs)
    started = time.monotonic()
    deadline = started + time_limit_s
    killed_pids: list[int] = []
    killed_trials: set[int] = set()
    pg_url = check_url if check_url.startswith("postgresql") else None
    with peak_connections(pg_url) as connections:
        try:
            fleet.start()  # the first command creates the study; the rest load it
            _wait_for_study(check_url, study, fleet, deadline)
            for _ in range(workers - 1):
                fleet.start()
            for _ in range(kills):
                time.sleep(rng.uniform(*interval_s))
                if time.monotonic() > deadline or counted_trials(load(check_url, study)) >= trials:
                    break
                pid = fleet.kill_one(rng, _busy_pids(check_url, study, deadline))
                if pid is None:
                    break
                killed_pids.append(pid)
                killed_trials.update(_running_by_pid(load(check_url, study)).get(pid, []))
                fleet.start()
            finished = fleet.wait(deadline)
        finally:
            fleet.stop()
        fleet_seconds = time.monotonic() - started
        resume = subprocess.run(
            [sys.executable, "-m", "workbench", "search", "--space", str(space_file), "--storage", worker_storage,
             "--trials", str(trials), "--workers", "1", "--no-progress", "--format", "json"],
            cwd=folder, capture_output=True, text=True, timeout=max(60.0, deadline - time.monotonic() + 60),
            env={**os.environ, "OMP_NUM_THREADS": "1"})
    stored = load(check_url, study)
    figures = {
        "workers": workers,
        "trials_requested": trials,
        "kills": len(killed_pids),
        "commands_started": fleet.started + 1,
        "fleet_finished_in_time": finished,
        "fleet_seconds": fleet_seconds,
        "trials_per_minute": 60.0 * counted_trials(stored) / fleet_seconds,
        "median_trial_seconds": _median_trial_seconds(stored),
        "peak_connections": connections["peak"] if pg_url else None,
        "connection_samples": connections["samples"],
        "command_errors": fleet.errors,
        "resume_exit": resume.returncode,
        "resume_ran": _resume_ran(resume.stdout),
        "resume_error": resume.stderr.strip().splitlines()[-1:] if resume.returncode else [],
    }
    figures.update(check_study(stored, trials, sorted(killed_trials)))
    figures["dashboard"] = opens_in_optuna_dashboard(check_url, study, len(stored.trials))
    return figures


def _resume_ran(stdout: str) -> int | None:
    try:
        return int(json.loads(stdout).get("ran"))
    except (ValueError, TypeError, AttributeError):
        return None


def _median_trial_seconds(study: optuna.Study) -> float | None:
    """Median wall time of the trials that measured an architecture (not the reused copies)."""
    seconds = [t.duration.total_seconds() for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
               if t.duration is not None and TrialRecord.of(t).stored_status == "complete"]
    return median(seconds) if seconds else None


def check_study(study: optuna.Study, trials: int, killed: list[int]) -> dict[str, Any]:
    """The invariants of a chaos run, each as a figure and a verdict."""
    all_trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in all_trials}
    states = {state.name: sum(t.state == state for t in all_trials) for state in TrialState}
    measured = [TrialRecord.of(t).arch_hash for t in all_trials
                if t.state == TrialState.COMPLETE and TrialRecord.of(t).stored_status == "complete"]
    retried_by: dict[int, list[int]] = {}
    for t in all_trials:
        for number in retry_history(t):
            retried_by.setdefault(number, []).append(t.number)
    outcome = {"retried": 0, "requeued": 0, "failed_not_retried": [], "other": []}
    for number in killed:
        trial = by_number[number]
        retries = [by_number[n] for n in retried_by.get(number, [])]
        if was_stopped_from_outside(trial) and any(r.state == TrialState.COMPLETE or r.number in killed
                                                   for r in retries):
            outcome["retried"] += 1
        elif trial.state == TrialState.COMPLETE and not retries:
            outcome["requeued"] += 1  # killed before it sampled: queued again and run in full
        elif trial.state == TrialState.FAIL:
            outcome["failed_not_retried"].append(number)
        else:
            outcome["other"].append((number, trial.state.name))
    checks = {
        "states": {k: v for k, v in states.items() if v},
        "counted": counted_trials(study),
        "exact_total": counted_trials(study) == trials == states["COMPLETE"] + states["PRUNED"]
        and states["RUNNING"] == states["WAITING"] == 0,
        "measured_twice": len(measured) - len(set(measured)),
        "killed_trials": len(killed),
        "killed_retried": outcome["retried"],
        "killed_requeued": outcome["requeued"],
        "killed_not_retried": outcome["failed_not_retried"],
        "killed_other": outcome["other"],
        "trials_without_params": [t.number for t in all_trials if not t.params],
        "reused": sum(TrialRecord.of(t).stored_status == "reused" for t in all_trials),
    }
    checks["every_killed_trial_retried"] = not outcome["failed_not_retried"] and not outcome["other"]
    checks["ok"] = (checks["exact_total"] and checks["measured_twice"] == 0 and checks["every_killed_trial_retried"]
                    and not checks["trials_without_params"])
    return checks


def opens_in_optuna_dashboard(storage: str, study: str, expected_trials: int,
                              timeout_s: float = 60.0) -> dict[str, Any]:
    """Start optuna-dashboard on `storage` (127.0.0.1, a free port) and read the study through
    its API: {"ok": the study is listed and every trial is served, ...}; skipped when it is not
    installed."""
    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        return {"ok": None, "reason": "optuna-dashboard is not installed (pip install -e '.[bench]')"}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", "from optuna_dashboard._cli import main; main()",
                               postgres_driver_url(storage),
                               "--port", str(port), "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=10) as response:
                    summaries = json.load(response)["study_summaries"]
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    return {"ok": False, "reason": f"optuna-dashboard did not serve: {server.stderr.read()[-300:]}"}
                time.sleep(0.5)
        ids = [s["study_id"] for s in summaries if s["study_name"] == study]
        if not ids:
            return {"ok": False, "reason": f"study {study!r} not listed"}
        with urllib.request.urlopen(f"{base}/api/studies/{ids[0]}?after=0", timeout=60) as response:
            detail = json.load(response)
        served = len(detail["trials"])
        return {"ok": served == expected_trials, "trials_served": served, "objectives": detail.get("directions")}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


@contextmanager
def storage_proxy(database_url: str, logs: Path) -> Iterator[str]:
    """`workbench storage serve` on the database: its grpc:// URL while the block runs."""
    port = free_port()
    log = open(logs / "proxy.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "workbench", "storage", "serve", "--storage", database_url,
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while "serving" not in (logs / "proxy.log").read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the storage server did not start: {(logs / 'proxy.log').read_text()[-300:]}")
            time.sleep(0.2)
        yield f"grpc://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        log.close()
