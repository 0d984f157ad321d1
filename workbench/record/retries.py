"""A retried trial's marks: Optuna's own system attributes for a retry series.

`optuna.storages.RetryHeartbeatStaleTrialCallback` writes `failed_trial` (the series' first
trial) and `retry_history` (every earlier trial of the series, first to last) on the trial it
enqueues; a workbench retry writes the same two, so Optuna's `retried_trial_number` and
`retry_history` read ours and ours read Optuna's. The policy (which trials to retry, how often)
is the search's (`workbench.search.retry`).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

FAILED_TRIAL = "failed_trial"
RETRY_HISTORY = "retry_history"


def retry_history(trial: FrozenTrial) -> list[int]:
    """The numbers of the trials this one retries, first to last (empty for a first try)."""
    return list(trial.system_attrs.get(RETRY_HISTORY, []))


def waiting_retry(trial: FrozenTrial) -> FrozenTrial:
    """A WAITING trial with `trial`'s parameters, marked as its retry; no user attributes (the
    workbench record is written afresh by the trial that runs)."""
    history = [*retry_history(trial), trial.number]
    system_attrs: dict[str, Any] = {FAILED_TRIAL: history[0], RETRY_HISTORY: history}
    return optuna.trial.create_trial(state=TrialState.WAITING, params=trial.params,
                                     distributions=trial.distributions, system_attrs=system_attrs)
