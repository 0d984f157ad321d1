"""A trial's record: read as typed values (`TrialRecord`), written whole (`write_record`) or a
few figures early (`publish`). The only code that reads or writes trial user attributes."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench.record import keys
from workbench.record.objectives import figure


def empty_record() -> dict[str, Any]:
    """The fixed record with every key present and None.

    Example:
        >>> rec = empty_record()
        >>> len(rec) == len(keys.TRIAL_KEYS), rec[keys.ACCURACY]
        (True, None)
    """
    return {key: None for key in keys.TRIAL_KEYS}


def _plain(value: Any) -> Any:
    """JSON-safe values for every storage (NaN becomes None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_record(trial: optuna.Trial, values: Mapping[str, Any]) -> None:
    """Store all of the fixed record's keys (None where not applicable) on the trial."""
    for key in keys.TRIAL_KEYS:
        trial.set_user_attr(key, _plain(values.get(key)))


def publish(trial: optuna.Trial, values: Mapping[str, Any], names: Sequence[str]) -> None:
    """Write some of the record's figures before the trial ends (other workers read them: the
    run id, the claimed architecture hash, a rung's accuracy); None values are written too.

    Raises:
        KeyError: a name that is not a record key.
    """
    for key in names:
        if key not in keys.TRIAL_KEYS:
            raise KeyError(f"'{key}' is not a trial record key")
        trial.set_user_attr(key, _plain(values.get(key)))


def finite_number(value: Any) -> float | None:
    """A stored figure as a float when it is a finite real number; None for None, NaN, booleans,
    strings and anything else (the one rule every reader of the record uses).

    Example:
        >>> finite_number(3), finite_number(float("nan")), finite_number(True), finite_number("0.9")
        (3.0, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class TrialRecord:
    """One trial's record as typed values, read from a `FrozenTrial` (or a live trial) once.

    Example:
        >>> trial = optuna.trial.create_trial(value=0.9, user_attrs={"status": "reused", "reused_from": 3})
        >>> rec = TrialRecord.of(trial)
        >>> rec.status, rec.reused_from, rec.accuracy
        ('reused', 3, None)
    """

    number: int
    state: TrialState
    attrs: Mapping[str, Any]
    params: Mapping[str, Any]

    @classmethod
    def of(cls, trial: FrozenTrial | optuna.Trial) -> "TrialRecord":
        """The record of `trial` (its stored user attributes; nothing is copied)."""
        state = trial.state if isinstance(trial, FrozenTrial) else TrialState.RUNNING
        return cls(number=trial.number, state=state, attrs=trial.user_attrs, params=trial.params)

    def get(self, key: str) -> Any:
        """The stored value of one record key (None when absent)."""
        return self.attrs.get(key)

    def number_of(self, key: str) -> float | None:
        """One figure as a finite float, else None: a record key, a target's figure
        (`latency_p50_ms:ort-cpu`) or an int8 figure (`int8_accuracy`)."""
        return finite_number(figure(self.attrs, key))

    def figures(self, names: Sequence[str]) -> dict[str, Any]:
        """The stored values of several record keys."""
        return {key: self.attrs.get(key) for key in names}

    @property
    def status(self) -> str:
        """The workbench status, or Optuna's state in lower case for a trial without one."""
        return str(self.attrs.get(keys.STATUS) or self.state.name.lower())

    @property
    def stored_status(self) -> str | None:
        """The status as stored (None until the record is written)."""
        return self.attrs.get(keys.STATUS)

    @property
    def reason(self) -> str | None:
        return self.attrs.get(keys.REASON)

    @property
    def arch_hash(self) -> str | None:
        return self.attrs.get(keys.ARCH_HASH)

    @property
    def arch_json(self) -> str | None:
        return self.attrs.get(keys.ARCH_JSON)

    @property
    def reused_from(self) -> int | None:
        return self.attrs.get(keys.REUSED_FROM)

    @property
    def run_id(self) -> str | None:
        return self.attrs.get(keys.RUN_ID)

    @property
    def knobs(self) -> dict[str, Any]:
        """The sampled knob values (Optuna's params for a trial without the record's copy)."""
        return dict(self.attrs.get(keys.KNOBS) or self.params)

    @property
    def stored_knobs(self) -> dict[str, Any] | None:
        return self.attrs.get(keys.KNOBS)

    @property
    def accuracy(self) -> float | None:
        return self.attrs.get(keys.ACCURACY)

    @property
    def accuracy_samples(self) -> list[float] | None:
        samples = self.attrs.get(keys.ACCURACY_SAMPLES)
        return [float(s) for s in samples if finite_number(s) is not None] if isinstance(samples, list) else None

    @property
    def accuracy_by_rung(self) -> dict[str, float] | None:
        by_rung = self.attrs.get(keys.ACCURACY_BY_RUNG)
        return dict(by_rung) if isinstance(by_rung, dict) else None

    @property
    def prescreen_score(self) -> float | None:
        return self.attrs.get(keys.PRESCREEN_SCORE)

    @property
    def latency_protocol(self) -> dict[str, Any] | None:
        return self.attrs.get(keys.LATENCY_PROTOCOL)

    @property
    def device(self) -> str | None:
        return self.attrs.get(keys.DEVICE)

    @property
    def latency_targets(self) -> dict[str, dict[str, Any]]:
        """Every measured latency target's entry, by target name (empty for an older trial)."""
        targets = self.attrs.get(keys.LATENCY_TARGETS)
        return {str(k): dict(v) for k, v in targets.items() if isinstance(v, dict)} if isinstance(targets, dict) else {}

    @property
    def int8(self) -> dict[str, Any] | None:
        """The int8 accuracy record (None where the space has no int8 target or it was not scored)."""
        entry = self.attrs.get(keys.INT8)
        return dict(entry) if isinstance(entry, dict) else None
