"""A storage that stops taking writes part way through a search (a full disk, here `ulimit -f`
on the database file): the search stops at the first failed write with one line naming the
storage, keeps every finished trial, leaves no run of empty trials, and the next run retries
the trial that was cut off."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import optuna
from helpers.search import TINY, write_space
from optuna.trial import TrialState

from workbench import record
from workbench.record.retries import retry_history

QUICK = {**TINY, "recipe": {"epochs": 0.05, "batch_size": 128}}
# Room for a few trials past the first run's file (each adds some 5 KB of records), never 40.
HEADROOM_BYTES = 20_000


def _search(space, db, trials: int, limit: int | None = None) -> subprocess.CompletedProcess:
    """`workbench search` on 2 workers (the default on a 2-core machine: the command serves the
    SQLite file to its workers), with the database file capped at `limit` bytes."""
    def cap() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    command = [sys.executable, "-m", "workbench", "search", "--space", str(space), "--storage", str(db),
               "--trials", str(trials), "--workers", "2", "--no-progress"]
    return subprocess.run(command, cwd=space.parent, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=300, preexec_fn=cap)


def _study(db) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")


def test_a_full_disk_stops_the_search_and_the_next_run_retries_the_cut_off_trial(tmp_path) -> None:
    space, db = write_space(tmp_path, QUICK), tmp_path / "s.db"
    assert _search(space, db, 2).returncode == 0
    full = _search(space, db, 40, limit=db.stat().st_size + HEADROOM_BYTES)

    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert f"storage 'sqlite:///{db}'" in full.stderr
    assert "could not commit a write" in full.stderr or "cannot be written" in full.stderr
    trials = _study(db).trials
    finished = [t.number for t in trials if t.state == TrialState.COMPLETE]
    cut_off = [t for t in trials if t.state != TrialState.COMPLETE]
    assert len(finished) >= 2 and set(finished) >= {0, 1}   # the first run's trials and the new ones kept
    # The workers stopped asking once writes failed: at most the trial each of the two had in hand.
    assert len(cut_off) <= 2, [(t.number, t.state.name, t.params) for t in cut_off]
    assert all(t.state in (TrialState.FAIL, TrialState.RUNNING) for t in cut_off)
    # None of them is stored as a failure of its own architecture.
    assert not any(t.user_attrs.get(record.STATUS) == "failed" and t.user_attrs.get(record.REASON)
                   and not t.user_attrs[record.REASON].startswith("interrupted") for t in cut_off)

    again = _search(space, db, len(finished) + len(cut_off))
    assert again.returncode == 0, again.stderr
    after = _study(db).trials
    started = [t for t in cut_off if t.params]   # a trial cut off before its first parameter holds none to retry
    for stopped in started:
        retries = [t for t in after if stopped.number in retry_history(t)]
        assert len(retries) == 1, (stopped.number, [(t.number, t.state.name, retry_history(t)) for t in after])
        assert retries[0].params == stopped.params
        assert retries[0].state == TrialState.COMPLETE and retries[0].user_attrs[record.STATUS] in ("complete",
                                                                                                     "reused")
    assert not any(t.state == TrialState.RUNNING for t in after)


def _trial(state: TrialState, status: str | None = None, reason: str | None = None, **system_attrs):
    dist = optuna.distributions.IntDistribution(2, 4)
    attrs = {k: v for k, v in ((record.STATUS, status), (record.REASON, reason)) if v is not None}
    return optuna.trial.create_trial(state=state, params={"ratio": 3}, distributions={"ratio": dist},
                                     user_attrs=attrs, system_attrs=system_attrs,
                                     values=[0.9, 1e6] if state == TrialState.COMPLETE else None)


def test_only_trials_stopped_from_outside_are_retried_and_at_most_twice() -> None:
    from workbench.search.retry import enqueue_retries

    study = optuna.create_study(directions=["maximize", "minimize"])
    for trial in (
        _trial(TrialState.COMPLETE, "complete"),                                            # 0 finished
        _trial(TrialState.FAIL, "failed", "training diverged: loss is nan"),                # 1 its own failure
        _trial(TrialState.FAIL, "failed", "interrupted by SIGTERM"),                        # 2 interrupted
        _trial(TrialState.FAIL),                                                            # 3 killed, no record
        _trial(TrialState.FAIL, "failed", "worker died (found running when a new run started)"),  # 4
        _trial(TrialState.FAIL, "complete"),                                                # 5 record cut short
        _trial(TrialState.FAIL),                                                            # 6 killed,
        _trial(TrialState.FAIL, failed_trial=6, retry_history=[6]),                         # 7 its retry killed,
        _trial(TrialState.FAIL, failed_trial=6, retry_history=[6, 7]),                      # 8 and the second too
    ):
        study.add_trial(trial)
    assert enqueue_retries(study) == 4 and enqueue_retries(study) == 0   # the second call finds them queued
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert [retry_history(t) for t in waiting] == [[2], [3], [4], [5]]
    assert all(t.params == {"ratio": 3} and not t.user_attrs for t in waiting)   # a fresh record
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(waiting[0]) == 2
    # Trial 6's series ran three times (6, 7, 8): no fourth.
