"""The results API: Pareto fronts equal Optuna's, hypervolume with a stated reference, picks."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from study_factory import make_study
from workbench import record, results
from workbench.errors import WorkbenchError


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    return make_study(None, name="results")


def test_pareto_equals_best_trials(study: optuna.Study) -> None:
    frame = results.trials_frame(study)
    front = results.pareto_front(frame, results.study_objectives(study))
    assert sorted(front["number"]) == sorted(t.number for t in study.best_trials)
    assert front["feasible"].all()


def test_budgets_shrink_the_front_and_move_the_best_pick(study: optuna.Study) -> None:
    frame = results.trials_frame(study)
    best = results.pick_best_accuracy(frame)
    tight = results.Budgets(max_latency_ms=float(best[record.LATENCY_P50]) - 0.01)
    assert results.pick_best_accuracy(frame, tight)["number"] != best["number"]
    assert (results.pareto_front(frame, results.study_objectives(study), tight)[record.LATENCY_P50] <= tight.max_latency_ms).all()


def test_cheapest_within_and_knee_are_feasible_front_points(study: optuna.Study) -> None:
    frame = results.trials_frame(study)
    objectives = results.study_objectives(study)
    best = results.pick_best_accuracy(frame)
    cheap = results.pick_cheapest_within(frame, 5.0)
    assert cheap[record.ACCURACY] >= best[record.ACCURACY] - 0.05 and cheap[record.MACS] <= best[record.MACS]
    knee = results.pick_knee(frame, objectives)
    assert knee["number"] in set(results.pareto_front(frame, objectives)["number"])


def test_hypervolume_history_is_monotone_and_ends_at_the_total(study: optuna.Study) -> None:
    frame = results.trials_frame(study)
    objectives = results.study_objectives(study)
    reference = results.reference_point(frame, objectives)
    history = results.hypervolume_history(frame, objectives, reference)
    assert np.all(np.diff(history["hypervolume"]) >= 0)
    assert history["hypervolume"].iloc[-1] == pytest.approx(results.hypervolume(frame, objectives, reference))


def test_nothing_feasible_names_the_closest_trials(study: optuna.Study) -> None:
    frame = results.trials_frame(study)
    with pytest.raises(WorkbenchError, match="closest: trial"):
        results.pick_best_accuracy(frame, results.Budgets(max_macs=10))
    with pytest.raises(WorkbenchError, match="unknown pick"):
        results.pick(frame, "fastest", results.study_objectives(study))


def test_single_objective_scalarisation_is_readable() -> None:
    study = optuna.create_study(direction="maximize")
    study.set_metric_names(["acc_minus_mmacs"])
    for i in range(4):
        trial = study.ask()
        trial.set_user_attr(record.ACCURACY, 0.9 + i / 100)
        trial.set_user_attr(record.MACS, 1e6 * i)
        study.tell(trial, 0.9 + i / 100 - i * 0.02)
    frame = results.trials_frame(study)
    objectives = results.study_objectives(study)
    assert objectives[0].column == "objective_acc_minus_mmacs"
    assert results.pareto_front(frame, objectives)["number"].tolist() == [study.best_trial.number]
