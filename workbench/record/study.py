"""A study's record: read as typed values (`StudyRecord`) and written through the few
functions here. The only code that reads or writes study user attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import optuna

from workbench.record import keys
from workbench.record.budgets import Budgets
from workbench.record.trial import finite_number


def confirm_key(number: int) -> str:
    """The study attribute holding trial `number`'s confirmation.

    Example:
        >>> confirm_key(7)
        'confirm:7'
    """
    return f"{keys.STUDY_CONFIRM_PREFIX}{int(number)}"


def confirmations(attrs: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The confirmations `workbench confirm` stored as study attributes `confirm:<number>`,
    by trial number (malformed entries are skipped).

    Example:
        >>> confirmations({"confirm:7": {"accuracy": 0.97, "sd": 0.004, "epochs": 15}, "dataset": "digits"})
        {7: {'accuracy': 0.97, 'sd': 0.004, 'epochs': 15}}
    """
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(keys.STUDY_CONFIRM_PREFIX) or not isinstance(value, dict):
            continue
        try:
            number = int(key[len(keys.STUDY_CONFIRM_PREFIX):])
        except ValueError:
            continue
        if finite_number(value.get("accuracy")) is not None:
            found[number] = value
    return found


@dataclass(frozen=True)
class StudyRecord:
    """A study's stored attributes as typed values.

    Example:
        >>> rec = StudyRecord({"dataset": "digits", "budgets": {"max_macs": 2e7}, "accuracy_noise_sd": 0.01})
        >>> rec.dataset, rec.budgets.max_macs, rec.noise_sd, rec.noise
        ('digits', 20000000.0, 0.01, None)
    """

    attrs: Mapping[str, Any]

    @classmethod
    def of(cls, study: optuna.Study | Any) -> "StudyRecord":
        """The record of a study (an `optuna.Study` or a storage's `FrozenStudy`)."""
        return cls(dict(study.user_attrs))

    @property
    def objectives(self) -> list[str] | None:
        names = self.attrs.get(keys.STUDY_OBJECTIVES)
        return list(names) if names else None

    @property
    def space(self) -> dict[str, Any] | None:
        stored = self.attrs.get(keys.STUDY_SPACE)
        return stored if isinstance(stored, dict) else None

    @property
    def space_hash(self) -> str | None:
        return self.attrs.get(keys.STUDY_SPACE_HASH)

    @property
    def space_file(self) -> str | None:
        return self.attrs.get(keys.STUDY_SPACE_FILE)

    @property
    def dataset(self) -> str | None:
        return self.attrs.get(keys.STUDY_DATASET)

    @property
    def device(self) -> str | None:
        return self.attrs.get(keys.STUDY_DEVICE)

    @property
    def budgets(self) -> Budgets:
        return Budgets.from_stored(self.attrs.get(keys.STUDY_BUDGETS))

    @property
    def latency_protocol(self) -> dict[str, Any] | None:
        return self.attrs.get(keys.STUDY_LATENCY_PROTOCOL)

    @property
    def latency_targets(self) -> dict[str, dict[str, Any]]:
        """The study's latency targets' settings by name, in the space's order (empty for older studies)."""
        targets = self.attrs.get(keys.STUDY_LATENCY_TARGETS)
        return {str(k): dict(v) for k, v in targets.items()} if isinstance(targets, dict) else {}

    @property
    def noise_sd(self) -> float | None:
        return finite_number(self.attrs.get(keys.STUDY_NOISE_SD))

    @property
    def noise(self) -> dict[str, Any] | None:
        value = self.attrs.get(keys.STUDY_NOISE)
        return dict(value) if isinstance(value, dict) else None

    @property
    def fidelity(self) -> dict[str, Any] | None:
        """The stored Kendall tau of proxy against confirmed accuracy (None unless its tau is a number)."""
        value = self.attrs.get(keys.STUDY_FIDELITY_TAU)
        return value if isinstance(value, dict) and finite_number(value.get("tau")) is not None else None

    @property
    def runs(self) -> int | None:
        value = self.attrs.get(keys.STUDY_RUNS)
        return value if isinstance(value, int) else None

    @property
    def confirmations(self) -> dict[int, dict[str, Any]]:
        return confirmations(self.attrs)

    def confirmation(self, number: int) -> dict[str, Any]:
        """Trial `number`'s stored confirmation, as stored (empty when none)."""
        return dict(self.attrs.get(confirm_key(number)) or {})


def study_names(study: optuna.Study) -> list[str] | None:
    """The objective names of a study: registered metric names, else the stored attribute."""
    return study.metric_names or StudyRecord.of(study).objectives


def write_study_record(study: optuna.Study, values: Mapping[str, Any]) -> None:
    """Store the study-level record (`keys.STUDY_*` attributes) a search writes.

    Raises:
        KeyError: a key that is not a study record key.
    """
    allowed = {keys.STUDY_SPACE_FILE, keys.STUDY_SPACE_HASH, keys.STUDY_SPACE, keys.STUDY_DATASET, keys.STUDY_DEVICE,
               keys.STUDY_OBJECTIVES, keys.STUDY_BUDGETS, keys.STUDY_LATENCY_PROTOCOL, keys.STUDY_WORKBENCH_VERSION,
               keys.STUDY_LATENCY_TARGETS}
    for key, value in values.items():
        if key not in allowed:
            raise KeyError(f"'{key}' is not a study record key")
        study.set_user_attr(key, value)


def write_confirmation(study: optuna.Study, number: int, value: dict[str, Any]) -> None:
    """Store trial `number`'s confirmation (Optuna refuses writes to finished trials, so it
    lives on the study)."""
    study.set_user_attr(confirm_key(number), value)


def write_fidelity_tau(study: optuna.Study, value: dict[str, Any]) -> None:
    """Store the Kendall tau of proxy against confirmed accuracy."""
    study.set_user_attr(keys.STUDY_FIDELITY_TAU, value)


def clear_fidelity_tau(study: optuna.Study) -> None:
    """Clear the stored Kendall tau (Optuna cannot delete an attribute: it is set to None)."""
    study.set_user_attr(keys.STUDY_FIDELITY_TAU, None)


def write_noise(study: optuna.Study, noise: dict[str, Any]) -> None:
    """Store the study's seed-noise measurement and its pooled sd."""
    study.set_user_attr(keys.STUDY_NOISE, noise)
    study.set_user_attr(keys.STUDY_NOISE_SD, noise["sd"])


def write_run_index(study: optuna.Study, index: int) -> None:
    """Store how many run indices were drawn (the caller holds the study lock)."""
    study.set_user_attr(keys.STUDY_RUNS, int(index))
