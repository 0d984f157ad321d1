"""Storages a search shares: local workers on a journal file (exact totals, a SIGKILLed worker),
SQLite refusing several workers, and a real PostgreSQL server started by the test (several
workers, heartbeats failing a killed worker's trial)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from helpers.processes import reaped, start_search, wait_for, wait_for_running
from helpers.search import TINY, tiny, write_space

from workbench import record
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


SLOW = {"recipe": {"epochs": 1, "batch_size": 32}}  # long enough to be killed mid-trial
# Only interrupted, never finished: long enough that a fast machine is still mid-trial at the signal.
VERY_SLOW = {"recipe": {"epochs": 10, "batch_size": 32}}


def test_auto_workers_share_the_default_sqlite_file_through_the_command(tmp_path, monkeypatch) -> None:
    """The default storage with one worker per core (2 asked explicitly, as on the 2-core CI): the
    command serves the file to its workers, the total is exact and every trial ran on one thread."""
    from workbench.cli.main import main

    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, TINY)
    assert main(["search", "--space", str(space), "--workers", "2", "--trials", "3", "--no-progress"]) == 0
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'workbench.db'}")
    assert_exact(study, 3)
    assert all(t.user_attrs[record.TORCH_THREADS] == {"intra_op": 1, "inter_op": 1} for t in study.trials)
    assert main(["search", "--space", str(space), "--workers", "auto", "--trials", "4", "--no-progress"]) == 0
    assert_exact(optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'workbench.db'}"), 4)


@pytest.mark.parametrize("workers, message", [("0", "at least 1"), ("many", "a number or 'auto'")])
def test_bad_worker_counts_are_one_line(tmp_path, capsys, workers, message) -> None:
    from workbench.cli.main import main

    assert main(["search", "--space", str(write_space(tmp_path, TINY)), "--storage", str(tmp_path / "s.db"),
                 "--workers", workers, "--trials", "1", "--no-progress"]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "s.db").exists()


def test_journal_workers_run_exactly_the_total(tmp_path) -> None:
    journal = tmp_path / "study.log"
    summary = run_search(tiny(tmp_path), storage=str(journal), workers=2, trials=3, progress=False)
    study = optuna.load_study(study_name="tiny", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    assert_exact(study, 3)
    assert summary.ran == 3 and summary.states == {"COMPLETE": 3}
    # a second run with the same total runs nothing; a larger one runs only the difference
    assert run_search(tiny(tmp_path), storage=str(journal), workers=2, trials=3, progress=False).ran == 0
    assert run_search(tiny(tmp_path), storage=str(journal), workers=2, trials=4, progress=False).ran == 1


def test_sigkilled_worker_leaves_the_journal_study_usable(tmp_path) -> None:
    space_file = write_space(tmp_path, {**TINY, **SLOW})
    journal = tmp_path / "study.log"

    def load():
        from workbench.storage import open_storage

        return optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))

    with reaped(start_search(space_file, str(journal), 2)) as process:
        killed = wait_for_running(load, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    summary = run_search(tiny(tmp_path, **SLOW), storage=str(journal), trials=2, progress=False)
    study = load()
    assert summary.orphans_failed == 1
    assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
    assert "worker died" in study.trials[killed.number].user_attrs[record.REASON]
    assert counted_trials(study) == 2 and summary.states.get("COMPLETE") == 2
    _assert_retried(study, killed)


def _assert_retried(study: optuna.Study, killed: optuna.trial.FrozenTrial) -> None:
    """The killed trial's architecture ran again, in a later trial that names it."""
    from workbench.record.retries import retry_history

    retries = [t for t in study.trials if killed.number in retry_history(t)]
    # Every parameter the killed trial had drawn is kept (one killed while sampling had only some).
    assert len(retries) == 1 and killed.params.items() <= retries[0].params.items(), [
        (t.number, t.params) for t in study.trials]
    assert retries[0].state == optuna.trial.TrialState.COMPLETE


def _journal_loader(journal: Path):
    return lambda: optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_ends_the_running_trial_cleanly(tmp_path, stop) -> None:
    space_file = write_space(tmp_path, {**TINY, **VERY_SLOW})
    load = _journal_loader(tmp_path / "study.log")
    with reaped(start_search(space_file, str(tmp_path / "study.log"), 2)) as process:
        running = wait_for_running(load, process)
        process.send_signal(stop)
        # The behaviour, in order: the running trial is marked, then the command ends (no noise runs).
        wait_for(lambda: load().trials[running.number].state != optuna.trial.TrialState.RUNNING,
                 "the running trial was marked after the signal", process)
        wait_for(lambda: process.poll() is not None, "the search exited after the signal")
        out, err = process.communicate()
    assert process.returncode == 130, err
    trial = load().trials[running.number]
    assert trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs[record.REASON].startswith("interrupted")
    assert ("SIGTERM" in trial.user_attrs[record.REASON]) == (stop == signal.SIGTERM)
    assert "interrupted" in out and len(load().trials) == running.number + 1   # nothing started after it


def test_a_shell_that_ignores_ctrl_c_is_told_and_sigterm_still_stops(tmp_path) -> None:
    space_file = write_space(tmp_path, {**TINY, **VERY_SLOW})
    load = _journal_loader(tmp_path / "study.log")
    with reaped(start_search(space_file, str(tmp_path / "study.log"), 2, sigint=signal.SIG_IGN)) as process:
        running = wait_for_running(load, process)
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: process.poll() is not None, "the search exited after SIGTERM")
        out, err = process.communicate()
    assert process.returncode == 130 and "Ctrl-C is ignored in this shell" in err and "kill -TERM" in err
    assert load().trials[running.number].user_attrs[record.REASON] == "interrupted by SIGTERM"


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
        subprocess.run(
            [*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=60 -c fsync=off"
        subprocess.run(
            [
                *as_pg,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {error} {detail.decode(errors='replace')[-300:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
def test_postgres_workers_run_exactly_the_total(tmp_path, postgres_url) -> None:
    summary = run_search(
        tiny(tmp_path), storage=postgres_url, study_name="pg-exact", workers=2, trials=5, progress=False
    )
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

    with reaped(start_search(space_file, postgres_url, 2, "--study", "pg-kill", "--heartbeat", "1")) as process:
        killed = wait_for_running(load, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    time.sleep(4)  # past the grace period (3 heartbeats)
    summary = run_search(
        tiny(tmp_path, **SLOW), storage=postgres_url, study_name="pg-kill", trials=2, heartbeat=1, progress=False
    )
    study = load()
    assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
    assert (
        record.STATUS not in study.trials[killed.number].user_attrs
        or study.trials[killed.number].user_attrs[record.STATUS] is None
    )
    assert counted_trials(study) == 2 and summary.states.get("COMPLETE") == 2
    _assert_retried(study, killed)


@pytest.mark.postgres
def test_two_commands_on_postgres_never_train_one_architecture_twice(tmp_path, postgres_url) -> None:
    two_archs = {**TINY, "knobs": {"dw_size": {"choices": [1, 3]}}}
    space_file = write_space(tmp_path, two_archs)
    processes = [
        start_search(space_file, postgres_url, 6, "--study", "pg-claims", "--sampler", "random") for _ in range(2)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = optuna.load_study(study_name="pg-claims", storage=open_storage(postgres_url)).trials
    trained = [t.user_attrs[record.ARCH_HASH] for t in trials if t.user_attrs.get(record.STATUS) == "complete"]
    assert len(trained) == len(set(trained)) <= 2  # each architecture trained once, by one command
    assert {t.user_attrs[record.STATUS] for t in trials} <= {"complete", "reused"}
    assert len({t.user_attrs[record.RUN_ID] for t in trials}) == 2


def test_a_worker_killed_before_sampling_leaves_no_empty_trial(tmp_path) -> None:
    """A kill between Optuna creating a trial and its first parameter leaves a RUNNING trial with
    nothing in it: the next run queues it again instead of failing it, and runs it in full."""
    journal = tmp_path / "study.log"
    run_search(tiny(tmp_path), storage=str(journal), trials=1, progress=False)
    study = optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid of this machine that no longer runs
    empty = study.ask()
    dead_run = f"{socket.gethostname()}:{dead.pid}:0:x"
    empty.set_user_attr(record.RUN_ID, dead_run)

    summary = run_search(tiny(tmp_path), storage=str(journal), trials=2, progress=False)
    trials = optuna.load_study(study_name="tiny", storage=open_storage(str(journal))).trials
    assert summary.orphans_failed == 0
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"], [(t.number, t.state.name) for t in trials]
    assert trials[empty.number].params and trials[empty.number].user_attrs[record.RUN_ID] != dead_run
