"""Storages a search shares: local workers on a journal file (exact totals, a SIGKILLed worker),
SQLite refusing several workers, and a real PostgreSQL server started by the test (several
workers, heartbeats failing a killed worker's trial)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from helpers.search import TINY, tiny, write_space
from workbench import record
from workbench.errors import WorkbenchError
from workbench.search import run_search
from workbench.search.workers import counted_trials
from workbench.storage import open_storage

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REPO = Path(__file__).resolve().parent.parent


def assert_exact(study: optuna.Study, total: int) -> None:
    trials = study.get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == total, [(t.number, t.state.name, t.user_attrs.get(record.REASON)) for t in trials]
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # no number twice


def start_search(space_file: Path, storage: str, trials: int, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "workbench", "search", "--space", str(space_file), "--storage", storage,
               "--trials", str(trials), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=space_file.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_running(load, process: subprocess.Popen, timeout: float = 90.0) -> optuna.trial.FrozenTrial:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            running = load().get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except Exception:  # the study may not exist yet
            running = []
        if running and running[0].params:  # sampled: the heartbeat (if any) is beating, training is under way
            time.sleep(1.5)
            return running[0]
        time.sleep(0.3)
    raise AssertionError("no trial started running")


SLOW = {"recipe": {"epochs": 1, "batch_size": 32}}  # long enough to be killed mid-trial
# Only interrupted, never finished: long enough that a fast machine is still mid-trial at the signal.
VERY_SLOW = {"recipe": {"epochs": 10, "batch_size": 32}}


def test_sqlite_refuses_several_workers(tmp_path) -> None:
    with pytest.raises(WorkbenchError, match="journal file.*PostgreSQL"):
        run_search(tiny(tmp_path), storage=f"sqlite:///{tmp_path / 's.db'}", workers=2, trials=2, progress=False)


def test_journal_workers_run_exactly_the_total(tmp_path) -> None:
    journal = tmp_path / "study.log"
    summary = run_search(tiny(tmp_path), storage=str(journal), workers=2, trials=5, progress=False)
    study = optuna.load_study(study_name="tiny", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    assert_exact(study, 5)
    assert summary.ran == 5 and summary.states == {"COMPLETE": 5}
    # a second run with the same total runs nothing; a larger one runs only the difference
    assert run_search(tiny(tmp_path), storage=str(journal), workers=2, trials=5, progress=False).ran == 0
    assert run_search(tiny(tmp_path), storage=str(journal), workers=2, trials=6, progress=False).ran == 1


def test_sigkilled_worker_leaves_the_journal_study_usable(tmp_path) -> None:
    space_file = write_space(tmp_path, {**TINY, **SLOW})
    journal = tmp_path / "study.log"

    def load():
        from workbench.storage import open_storage

        return optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))

    process = start_search(space_file, str(journal), 2)
    killed = wait_for_running(load, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    summary = run_search(tiny(tmp_path, **SLOW), storage=str(journal), trials=2, progress=False)
    study = load()
    assert summary.orphans_failed == 1
    assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
    assert "worker died" in study.trials[killed.number].user_attrs[record.REASON]
    assert counted_trials(study) == 2 and summary.states.get("COMPLETE") == 2


def test_sigint_ends_the_running_trial_cleanly(tmp_path) -> None:
    space_file = write_space(tmp_path, {**TINY, **VERY_SLOW})
    journal = tmp_path / "study.log"

    def load():
        from workbench.storage import open_storage

        return optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))

    process = start_search(space_file, str(journal), 2)
    running = wait_for_running(load, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    trial = load().trials[running.number]
    assert trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs[record.REASON].startswith("interrupted")
    assert "interrupted" in out


# --- PostgreSQL ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL 15 server on a free loopback port, run as the postgres user."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (apt install postgresql-15)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed")
    folder = Path(tempfile.mkdtemp(prefix="wb-pg-", dir="/tmp"))
    os.chmod(folder, 0o777)
    data = folder / "data"
    port = _free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    try:
        subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=60 -c fsync=off"
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"),
                        "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {error} {detail.decode(errors='replace')[-300:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
def test_postgres_workers_run_exactly_the_total(tmp_path, postgres_url) -> None:
    summary = run_search(tiny(tmp_path), storage=postgres_url, study_name="pg-exact", workers=2, trials=5, progress=False)
    study = optuna.load_study(study_name="pg-exact", storage=open_storage(postgres_url))
    assert_exact(study, 5)
    assert summary.ran == 5
    from workbench.results import list_studies

    listing = list_studies(postgres_url)
    assert "pg-exact" in set(listing["study"])


@pytest.mark.postgres
def test_postgres_heartbeat_fails_a_killed_workers_trial(tmp_path, postgres_url) -> None:
    space_file = write_space(tmp_path, {**TINY, **SLOW})

    def load():
        return optuna.load_study(study_name="pg-kill", storage=open_storage(postgres_url))

    process = start_search(space_file, postgres_url, 2, "--study", "pg-kill", "--heartbeat", "1")
    killed = wait_for_running(load, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(4)  # past the grace period (3 heartbeats)
    summary = run_search(tiny(tmp_path, **SLOW), storage=postgres_url, study_name="pg-kill", trials=2, heartbeat=1, progress=False)
    study = load()
    assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
    assert record.STATUS not in study.trials[killed.number].user_attrs or study.trials[killed.number].user_attrs[record.STATUS] is None
    assert counted_trials(study) == 2 and summary.states.get("COMPLETE") == 2


@pytest.mark.postgres
def test_two_commands_on_postgres_never_train_one_architecture_twice(tmp_path, postgres_url) -> None:
    two_archs = {**TINY, "knobs": {"dw_size": {"choices": [1, 3]}}}
    space_file = write_space(tmp_path, two_archs)
    processes = [start_search(space_file, postgres_url, 6, "--study", "pg-claims", "--sampler", "random") for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = optuna.load_study(study_name="pg-claims", storage=open_storage(postgres_url)).trials
    trained = [t.user_attrs[record.ARCH_HASH] for t in trials if t.user_attrs.get(record.STATUS) == "complete"]
    assert len(trained) == len(set(trained)) <= 2          # each architecture trained once, by one command
    assert {t.user_attrs[record.STATUS] for t in trials} <= {"complete", "reused"}
    assert len({t.user_attrs[record.RUN_ID] for t in trials}) == 2
