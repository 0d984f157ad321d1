"""The short form of the chaos load test (issue 23 item 16; `benchmarks/bench_distributed.py` is
the long one): 4 search commands on a real PostgreSQL server, directly and through
`workbench storage serve`, while a random command is SIGKILLed and replaced. Nothing is lost,
nothing is measured twice, every killed trial is retried, and optuna-dashboard opens the study."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from _chaos import run_chaos, storage_proxy  # noqa: E402
from _postgres import postgres_server  # noqa: E402

TRIALS = 16


@pytest.fixture(scope="module")
def database():
    with postgres_server() as (url, reason):
        if url is None:
            pytest.skip(reason)
        yield url


def _assert_nothing_lost(figures: dict) -> None:
    assert figures["fleet_finished_in_time"] and figures["command_errors"] == [], figures
    assert figures["resume_exit"] == 0, figures["resume_error"]
    # Exactly the total: every finished trial counted once, nothing left running or queued.
    assert figures["counted"] == TRIALS and figures["exact_total"], figures["states"]
    assert figures["states"].get("COMPLETE") == TRIALS, figures["states"]
    assert figures["measured_twice"] == 0
    assert figures["trials_without_params"] == []
    # Kills that caught a trial: each trial failed and retried (or, killed before sampling, run again).
    assert figures["kills"] == 2
    assert figures["killed_not_retried"] == [] and figures["killed_other"] == [], figures
    assert figures["killed_retried"] + figures["killed_requeued"] == figures["killed_trials"]
    assert figures["states"].get("FAIL", 0) == figures["killed_retried"]
    if figures["dashboard"]["ok"] is not None:
        assert figures["dashboard"]["ok"], figures["dashboard"]


@pytest.mark.postgres
def test_killed_commands_on_postgres_lose_nothing(tmp_path, database) -> None:
    figures = run_chaos(tmp_path, database, database, workers=4, trials=TRIALS, kills=2, interval_s=(4.0, 6.0),
                        time_limit_s=400, seed=1, study="chaos-direct")
    _assert_nothing_lost(figures)
    assert figures["killed_trials"] >= 1  # the kills chose commands in a trial


@pytest.mark.postgres
def test_killed_commands_through_the_grpc_proxy_lose_nothing(tmp_path, database) -> None:
    (tmp_path / "logs").mkdir()
    with storage_proxy(database, tmp_path / "logs") as url:
        figures = run_chaos(tmp_path, url, database, workers=4, trials=TRIALS, kills=2, interval_s=(4.0, 6.0),
                            time_limit_s=400, seed=2, study="chaos-proxy")
    _assert_nothing_lost(figures)
    assert figures["killed_trials"] >= 1
