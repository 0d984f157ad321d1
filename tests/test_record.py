"""The record package: typed reads of hand-built trials and studies, one Budgets, and the rule
that no other module reads or writes trial or study attributes."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from workbench import record
from workbench.record import Budgets, StudyRecord, TrialRecord, empty_record, publish, write_record

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"


def test_trial_record_reads_what_was_stored() -> None:
    trial = optuna.trial.create_trial(
        value=0.5, params={"ratio": 3}, distributions={"ratio": optuna.distributions.IntDistribution(2, 4)},
        user_attrs={"status": "reused", "reused_from": 4, "accuracy_samples": [0.9, "x", float("nan"), 0.8],
                    "accuracy_by_rung": {"1": 0.7}, "arch_hash": "abc"})
    rec = TrialRecord.of(trial)
    assert (rec.status, rec.reused_from, rec.arch_hash) == ("reused", 4, "abc")
    assert rec.accuracy_samples == [0.9, 0.8]          # the string and the NaN are not figures
    assert rec.accuracy_by_rung == {"1": 0.7} and rec.accuracy is None
    assert rec.knobs == {"ratio": 3}                    # no stored knobs: Optuna's params


def test_a_trial_without_a_status_reads_as_its_state() -> None:
    trial = optuna.trial.create_trial(state=TrialState.FAIL)
    assert TrialRecord.of(trial).status == "fail" and TrialRecord.of(trial).stored_status is None


def test_write_record_stores_every_key_and_nan_as_none() -> None:
    study = optuna.create_study()
    trial = study.ask()
    rec = empty_record()
    rec.update({record.ACCURACY: float("nan"), record.MACS: 1234, record.STATUS: "complete"})
    write_record(trial, rec)
    stored = study.trials[0].user_attrs
    assert set(stored) == set(record.TRIAL_KEYS) and len(record.TRIAL_KEYS) == 38
    assert stored[record.ACCURACY] is None and stored[record.MACS] == 1234


def test_publish_refuses_a_name_that_is_not_a_record_key() -> None:
    trial = optuna.create_study().ask()
    publish(trial, {record.RUN_ID: "h:1:2:n"}, [record.RUN_ID])
    assert trial.user_attrs == {record.RUN_ID: "h:1:2:n"}
    with pytest.raises(KeyError, match="'accuracy_typo' is not a trial record key"):
        publish(trial, {}, ["accuracy_typo"])


def test_study_record_reads_budgets_noise_and_confirmations() -> None:
    rec = StudyRecord({"budgets": {"max_macs": 2e7, "max_other": 5}, "accuracy_noise_sd": float("nan"),
                       "fidelity_kendall_tau": {"tau": None}, "confirm:3": {"accuracy": 0.9, "sd": 0.01},
                       "confirm:x": {"accuracy": 0.5}, "confirm:4": {"accuracy": "?"}, "workbench_runs": 2})
    assert rec.budgets == Budgets(max_macs=2e7)          # a key of another version is dropped
    assert rec.noise_sd is None and rec.fidelity is None  # NaN sd and a tau that is no number: none
    assert rec.confirmations == {3: {"accuracy": 0.9, "sd": 0.01}} and rec.runs == 2


def test_budgets_mask_by_hand() -> None:
    frame = pd.DataFrame({"macs": [1e6, 3e6, None, 2e6], "params": [10, 10, 10, 99], "latency_p50_ms": [1.0] * 4})
    # row 0: within both; row 1: MACs over; row 2: MACs unknown (out); row 3: params over
    assert Budgets(max_macs=2e6, max_params=50).mask(frame).tolist() == [True, False, False, False]
    assert Budgets().mask(frame).tolist() == [True] * 4
    assert Budgets(max_macs=2e6, max_params=50).describe() == "max_params=50, max_macs=2e+06"


_ATTRIBUTE_ACCESS = re.compile(r"\b(user_attrs|set_user_attr|system_attrs|set_system_attr)\b")


def test_only_the_record_and_storage_packages_touch_attributes() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("record/", "storage/")):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            example = line.lstrip().startswith((">>>", "..."))  # a docstring example building its trials
            if _ATTRIBUTE_ACCESS.search(line) and not example:
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
