"""One measurement per architecture: the architecture hash, the claim that keeps two workers from
measuring the same one, and the reuse of an earlier trial's figures."""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import nullcontext
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.config.io import to_plain
from workbench.record import TrialRecord, publish, write_record
from workbench.storage import named_constraints, set_constraint_list

# Ladder outcomes: scored below the top rung (stopped) or left out by the pre-screen (screened).
LADDER_STOPS = ("stopped", "screened")
# Record keys copied from a trial whose architecture is reused.
_REUSED_KEYS = tuple(
    k
    for k in record.TRIAL_KEYS
    if k
    not in (
        record.STATUS,
        record.REASON,
        record.REUSED_FROM,
        record.KNOBS,
        record.WORKBENCH_VERSION,
        record.RUN_ID,
        record.TORCH_THREADS,
    )
)
# How often a worker looks again at another worker's trial of the same architecture.
_CLAIM_POLL_S = 1.0


# Fields added after studies were stored, at the value that means "as before": left out of the
# canonical JSON so an architecture hashes as it did (a resumed study still finds its trials).
_LATER_DEFAULTS: tuple[tuple[str, Any], ...] = (("merge", "concat"), ("merge", None), ("dfc", False))


def arch_hash(arch: ArchConfig) -> tuple[str, str]:
    """(canonical JSON, sha256 of it) of an architecture: the dedupe key. Fields added later
    (`ghost.merge`, a block's `dfc`) at their default are left out, so old studies' hashes hold."""
    text = json.dumps(_without_later_defaults(to_plain(arch)), sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()


def _without_later_defaults(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _without_later_defaults(value) for key, value in data.items()
                if not any(key == name and value == default and type(value) is type(default)
                           for name, default in _LATER_DEFAULTS)}
    if isinstance(data, list):
        return [_without_later_defaults(item) for item in data]
    return data


# Statuses of a finished trial whose figures a later trial of the same architecture reuses.
_MEASURED = {TrialState.COMPLETE: ("complete", "rejected", "reused"), TrialState.PRUNED: LADDER_STOPS}


def same_architecture(trial: optuna.Trial, digest: str) -> tuple[FrozenTrial | None, bool]:
    """(an earlier finished trial with this architecture hash whose figures can be reused,
    whether another RUNNING trial has claimed the same hash), from one read of the study.
    Reusable: completed, rejected, reused, or stopped / screened on a ladder."""
    measured, busy = None, False
    for other in trial.study.get_trials(deepcopy=False, states=(*_MEASURED, TrialState.RUNNING)):
        if other.number == trial.number or TrialRecord.of(other).arch_hash != digest:
            continue
        if other.state == TrialState.RUNNING:
            busy = True
        elif measured is None and TrialRecord.of(other).stored_status in _MEASURED[other.state]:
            measured = other
    return measured, busy


def claim_architecture(trial: optuna.Trial, ctx: Any, digest: str) -> FrozenTrial | None:
    """The finished trial whose figures this one reuses, or None after claiming the
    architecture for this trial (its hash published under the study lock, so no other worker,
    in any process, starts measuring it too). While another worker is measuring the same
    architecture this one waits for it (up to `ctx.claim_wait_s`, then measures it itself)."""
    waited = 0.0
    while True:
        lock = ctx.claim_lock() if ctx.claim_lock is not None else nullcontext()
        with lock:
            source, busy = same_architecture(trial, digest)
            if source is not None:
                return source
            if not busy or waited >= ctx.claim_wait_s:
                publish(trial, {record.ARCH_HASH: digest}, [record.ARCH_HASH])
                return None
        time.sleep(_CLAIM_POLL_S)
        waited += _CLAIM_POLL_S


def reuse(trial: optuna.Trial, rec: dict[str, Any], source: FrozenTrial) -> None:
    """Copy an earlier trial's figures into `rec` and write the record. A copy of a never-scored
    (over-budget) trial stays "rejected" with no accuracy; only a copy of a scored one is
    "reused"; a copy of a ladder stop is pruned again (raises `optuna.TrialPruned`)."""
    attrs = TrialRecord.of(source)
    origin = attrs.reused_from
    origin = source.number if origin is None else origin
    for key in _REUSED_KEYS:
        rec[key] = attrs.get(key)
    if attrs.get(record.STATUS) in LADDER_STOPS:
        rec[record.STATUS], rec[record.REUSED_FROM] = attrs.get(record.STATUS), int(origin)
        rec[record.REASON] = f"same architecture as trial {origin} ({attrs.get(record.REASON)})"
        write_record(trial, rec)
        raise optuna.TrialPruned(rec[record.REASON])
    constraints = named_constraints(source)
    # Old studies stored over-budget trials (and their copies) as scored 0.0: infeasibility tells.
    scored = attrs.get(record.STATUS) in record.SCORED_STATUSES and record.within_budgets(constraints)
    if not scored:
        for key in (
            record.ACCURACY,
            record.ACCURACY_CI_LOW,
            record.ACCURACY_CI_HIGH,
            record.ACCURACY_SD,
            record.ACCURACY_SAMPLES,
        ):
            rec[key] = None
    rec[record.STATUS] = "reused" if scored else "rejected"
    rec[record.REUSED_FROM] = int(origin)
    rec[record.REASON] = f"same architecture as trial {origin}" + (
        f" ({attrs.get(record.REASON)})" if attrs.get(record.REASON) else ""
    )
    for name, value in constraints.items():
        trial.set_constraint(name, value)
    if constraints:
        set_constraint_list(trial, list(constraints.values()))
    write_record(trial, rec)
