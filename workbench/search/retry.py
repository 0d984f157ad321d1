"""Retrying trials that were killed or interrupted, never those that failed for their own reasons.

A trial counts as *stopped from outside* when its worker was killed (SIGKILL, OOM killer, a lost
machine: found RUNNING by a later run, or failed by a database server's heartbeats, so it holds
no workbench record), interrupted (Ctrl-C, SIGTERM), or stopped because the storage could no
longer be written (a full disk). Such a trial is retried: a WAITING trial with the same
parameters is enqueued, which Optuna hands to the next worker that asks before sampling anew.

Optuna's `RetryHeartbeatStaleTrialCallback` (formerly `RetryFailedTrialCallback`) is the anchor:
the retry carries the same system attributes (`failed_trial`, the first trial of the series, and
`retry_history`), so Optuna's own `retried_trial_number` / `retry_history` read it. Unlike that
callback, the retry does not copy the stopped trial's user attributes: our record is written
afresh by the trial that runs.

A trial that failed for its own reasons (an architecture that cannot be built, training that
diverged, a target that cannot run) would fail again and is not retried. Each series is retried
at most `MAX_RETRIES` times, so an architecture that kills its worker every time (e.g. out of
memory) ends.
"""

from __future__ import annotations

from typing import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench.record import TrialRecord
from workbench.record.retries import retry_history, waiting_retry

MAX_RETRIES = 2
# Reasons written by a trial that was stopped from outside (see `search.stop` and `search.trial`),
# and by a run that found a dead worker's trial still running (`runner.fail_orphans`).
STOPPED_REASONS = ("interrupted", "worker died")


def was_stopped_from_outside(trial: FrozenTrial) -> bool:
    """True for a FAIL trial that was killed or interrupted rather than failing on its own.
    Failing on its own always stores status "failed" with the reason; anything else on a FAIL
    trial is a stop from outside: no status (the worker died before writing its record), a
    reason that says so, or a record cut short (a full disk stops the writes part way)."""
    if trial.state != TrialState.FAIL:
        return False
    rec = TrialRecord.of(trial)
    reason = rec.reason or ""
    own_failure = rec.stored_status == "failed" and bool(reason) and not reason.startswith(STOPPED_REASONS)
    return not own_failure


def retry(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Enqueue a retry of `trial` (same parameters, a fresh record) unless its series has been
    retried `MAX_RETRIES` times or it has no parameters (it never started). Returns whether one
    was enqueued. Also the heartbeat callback of a database server storage."""
    if not trial.params or len(retry_history(trial)) >= MAX_RETRIES:
        return False
    study.add_trial(waiting_retry(trial))
    return True


def enqueue_retries(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> int:
    """Enqueue a retry of every trial stopped from outside that has none yet (call under the
    study lock, so two workers starting together do not enqueue the same retry); `trials`: the
    study's trials if the caller has just read them. Returns how many."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    retried = {number for t in trials for number in retry_history(t)}
    return sum(retry(study, t) for t in trials if t.number not in retried and was_stopped_from_outside(t))
