"""SQL traffic recording and a many-trials study, shared by the dashboard tests."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import optuna
import pytest
import sqlalchemy
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from workbench import record


class Traffic:
    """Every SQL statement any SQLAlchemy engine runs while recording, with its parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple]] = []

    def __enter__(self) -> "Traffic":
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append((statement, tuple(parameters or ())))

    def trial_ids_read(self, table: str = "trial_user_attributes") -> set:
        """The trial ids whose rows of `table` were selected (all parameters of those SELECTs)."""
        return {p for s, params in self.statements if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s
                for p in params}


@dataclass(frozen=True)
class Written:
    """One trial as written: its number, status, accuracy (None: never scored) and MACs."""

    number: int
    status: str
    accuracy: float | None
    macs: float | None


def many_trials_study(n: int, name: str = "many", seed: int = 0) -> tuple[optuna.Study, list[Written]]:
    """An in-memory study of `n` trials, each its own architecture: ~80% complete, ~12% rejected
    (costed, never scored), ~8% failed (nothing measured)."""
    rng = random.Random(seed)
    study = optuna.create_study(study_name=name, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "macs"])
    study.set_user_attr(record.STUDY_OBJECTIVES, ["accuracy", "macs"])
    written, trials = [], []
    for number in range(n):
        draw, macs = rng.random(), rng.uniform(1e6, 4e7)
        accuracy = min(0.999, 0.8 + 0.03 * np.log10(macs / 1e6) + rng.gauss(0, 0.02))
        params, distributions = {"ratio": rng.randint(2, 5)}, {"ratio": IntDistribution(2, 5)}
        attrs = {record.ARCH_HASH: f"arch-{number}", record.KNOBS: params, record.VAL_SIZE: 1000}
        if draw < 0.08:
            written.append(Written(number, "failed", None, None))
            trials.append(optuna.trial.create_trial(state=TrialState.FAIL, params=params, distributions=distributions,
                                                    user_attrs={**attrs, record.STATUS: "failed",
                                                                record.REASON: "oom"}))
            continue
        status = "rejected" if draw < 0.2 else "complete"
        written.append(Written(number, status, accuracy if status == "complete" else None, macs))
        attrs.update({record.STATUS: status, record.MACS: macs,
                      record.ACCURACY: accuracy if status == "complete" else None,
                      record.REASON: "macs over budget" if status == "rejected" else None})
        trials.append(optuna.trial.create_trial(
            values=[accuracy if status == "complete" else 0.0, macs], params=params, distributions=distributions,
            user_attrs=attrs, constraints={record.CONSTRAINT_MACS: 1.0 if status == "rejected" else -1.0}))
    study.add_trials(trials)
    return study, written


@pytest.fixture(autouse=True)
def fresh_caches():
    """Every dashboard test starts with Streamlit's caches and the dashboard's own cleared
    (import it into a test module to apply it there)."""
    import streamlit

    from workbench.dashboard import cache

    streamlit.cache_data.clear()
    streamlit.cache_resource.clear()
    cache.forget()
    yield
