"""The results API: Pareto fronts equal Optuna's, hypervolume with a stated reference, picks;
never-scored trials read as such, each architecture once, ties within noise go to the cheaper."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from study_factory import Spec, make_honest_study, make_scored_study, make_study

from workbench import record, results
from workbench.errors import WorkbenchError
from workbench.record import Budgets


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
    tight = Budgets(max_latency_ms=float(best[record.LATENCY_P50]) - 0.01)
    assert results.pick_best_accuracy(frame, tight)["number"] != best["number"]
    front = results.pareto_front(frame, results.study_objectives(study), tight)
    assert (front[record.LATENCY_P50] <= tight.max_latency_ms).all()


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
        results.pick_best_accuracy(frame, Budgets(max_macs=10))
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


# --- only what was measured, with its uncertainty; ties are ties ------------------------------
# The honest study (tests/study_factory.py): 0 (0.950, 12.2M MACs), 1 (0.945, 6.7M), 2 rejected with
# 0.0 stored, 3 a reused copy of 0, 4 (0.900, 25.7M), 5 failed; trials 0 and 4 confirmed.
NO_VAL_SIZE = (Spec(2, 3, 0.35, 0.97),)   # no validation size: its se is unknown


@pytest.fixture(scope="module")
def honest() -> optuna.Study:
    return make_honest_study(None)


def test_never_scored_trials_have_no_accuracy(honest: optuna.Study) -> None:
    frame = results.trials_frame(honest).set_index("number")
    assert honest.trials[2].values[0] == 0.0 and honest.trials[2].user_attrs[record.ACCURACY] == 0.0  # the placeholder
    assert np.isnan(frame.loc[2, record.ACCURACY]) and np.isnan(frame.loc[5, record.ACCURACY])
    assert frame[results.SCORED].tolist() == [True, True, False, True, True, False]
    assert frame.loc[0, record.ACCURACY_CI_LOW] == 0.9358 and frame.loc[0, record.ACCURACY_CI_HIGH] == 0.9611
    assert frame.loc[0, record.VAL_SIZE] == 1000 and frame.loc[0, record.ACCURACY_SAMPLES] == [0.95]


def test_accuracy_se_is_binomial_without_measured_noise(honest: optuna.Study) -> None:
    frame = results.trials_frame(honest).set_index("number")
    assert frame.loc[0, results.ACCURACY_SE] == pytest.approx(math.sqrt(0.95 * 0.05 / 1000))
    assert frame.loc[4, results.ACCURACY_SE] == pytest.approx(math.sqrt(0.90 * 0.10 / 1000))
    assert np.isnan(frame.loc[2, results.ACCURACY_SE])
    unknown = results.trials_frame(make_scored_study(None, NO_VAL_SIZE, name="no-val-size"))
    assert np.isnan(unknown[results.ACCURACY_SE].iloc[0])


def test_accuracy_se_is_the_seed_noise_over_root_seeds_and_it_decides_ties() -> None:
    # A: two seeds averaging 0.96, 42.7M MACs; B: one seed at 0.93, 12.2M MACs.
    specs = (Spec(2, 3, 1.0, samples=(0.95, 0.97), val_size=10_000), Spec(2, 3, 0.5, 0.93, val_size=10_000))
    noisy = results.trials_frame(make_scored_study(None, specs, name="noisy", noise_sd=0.02))
    assert noisy[results.ACCURACY_SE].tolist() == pytest.approx([0.02 / math.sqrt(2), 0.02])
    assert noisy[record.ACCURACY_SD].iloc[0] == pytest.approx(math.sqrt(2) * 0.01)  # sample sd of 0.95, 0.97
    # 1.96 * sqrt(0.02²/2 + 0.02²) = 0.048 > 0.03 apart: a tie, so the cheaper B is the best.
    assert int(results.pick_best_accuracy(noisy)["number"]) == 1
    # From 10,000 validation images alone: se 0.0020 and 0.0026, band 0.0063 < 0.03: A wins.
    quiet = results.trials_frame(make_scored_study(None, specs, name="quiet"))
    assert int(results.pick_best_accuracy(quiet)["number"]) == 0


def test_ties_go_to_the_cheaper_trial(honest: optuna.Study) -> None:
    frame = results.trials_frame(honest)
    objectives = results.study_objectives(honest)
    # 0.950 and 0.945 on 1000 images: band 1.96 * sqrt(.95*.05/1000 + .945*.055/1000) = 0.0195 > 0.005.
    assert sorted(results.indistinguishable_from_best(frame)["number"]) == [0, 1]
    assert int(results.pick_best_accuracy(frame)["number"]) == 1          # 0.945 at 6.7M MACs, not 0.950 at 12.2M
    assert int(results.pick_cheapest_within(frame, 0.0)["number"]) == 1
    assert int(results.pick_knee(frame, objectives)["number"]) == 1
    # 0.900 is 0.05 below: beyond the band 1.96 * sqrt(.95*.05/1000 + .9*.1/1000) = 0.023.
    assert 4 not in set(results.indistinguishable_from_best(frame)["number"])


@pytest.mark.parametrize("val_size,knee_width", [(100, 0.5), (10_000, 0.75)])
def test_the_knee_slides_to_a_cheaper_tie(val_size: int, knee_width: float) -> None:
    # Front 0.80 / 0.86 / 0.94 / 0.945 at widths 0.35 / 0.5 / 0.75 / 1.0. Scaled to [0, 1] the
    # distances to the ideal are 1, 0.572, 0.529, 1: the knee is width 0.75 (0.94). On 100
    # images 0.86 is within 1.96 * sqrt(.94*.06/100 + .86*.14/100) = 0.082 of it, so the
    # cheaper width 0.5 takes its place; on 10,000 images it is not.
    widths = (0.35, 0.5, 0.75, 1.0)
    specs = tuple(Spec(2, 3, w, a, val_size=val_size) for w, a in zip(widths, (0.80, 0.86, 0.94, 0.945)))
    study = make_scored_study(None, specs, name=f"knee-{val_size}")
    knee = results.pick_knee(results.trials_frame(study), results.study_objectives(study))
    assert int(knee["number"]) == widths.index(knee_width)


def test_front_and_picks_count_each_architecture_once_and_skip_the_unscored(honest: optuna.Study) -> None:
    frame = results.trials_frame(honest)
    objectives = results.study_objectives(honest)
    # Trial 2 (rejected, 0.0 stored) is the cheapest of all; trial 3 copies trial 0.
    assert results.pareto_front(frame, objectives)["number"].tolist() == [1, 0]
    assert results.dedupe_architectures(frame)["number"].tolist() == [0, 1, 2, 4, 5]
    assert 3 not in set(results.candidates(frame, objectives)["number"])


def test_hypervolume_counts_scored_trials_only(honest: optuna.Study) -> None:
    frame = results.trials_frame(honest)
    objectives = results.study_objectives(honest)
    macs = frame.set_index("number")[record.MACS]
    reference = 1.1 * macs[4]   # the costliest scored trial
    # Rectangles from the scored points to (accuracy 0, reference MACs), by hand.
    expected = 0.945 * (macs[0] - macs[1]) + 0.95 * (reference - macs[0])
    assert results.reference_point(frame, objectives).tolist() == pytest.approx([0.0, reference])
    assert results.hypervolume(frame, objectives) == pytest.approx(expected)
    history = results.hypervolume_history(frame, objectives).set_index("number")["hypervolume"]
    assert history[1] == history[2] == history[3] and history[5] == pytest.approx(expected)


def test_importances_leave_out_never_scored_trials() -> None:
    specs = [Spec(r, d, w, a, val_size=1000) for r, d, w, a in (
        (2, 3, 0.5, 0.95), (3, 3, 0.5, 0.93), (4, 5, 0.35, 0.90), (2, 1, 0.75, 0.97), (5, 7, 0.35, 0.85),
        (3, 5, 0.75, 0.94), (4, 3, 0.5, 0.91), (2, 5, 0.35, 0.92))]
    rejected = [Spec(5, 1, 1.0, status="rejected", legacy=True), Spec(4, 7, 1.0, status="rejected", legacy=True)]
    study = make_scored_study(None, tuple(specs + rejected), name="importance")
    accuracy = results.study_objectives(study)[0]
    # Optuna's own evaluator on a study holding only the scored trials, built by hand.
    only_scored = optuna.create_study(directions=["maximize", "minimize"])
    only_scored.add_trials([t for t in study.trials if t.user_attrs[record.STATUS] == "complete"])
    expected = optuna.importance.get_param_importances(only_scored, target=lambda t: -t.values[0])
    assert results.param_importances(study, accuracy) == pytest.approx(expected)


def test_confirmed_columns_and_picks(honest: optuna.Study) -> None:
    frame = results.trials_frame(honest).set_index("number")
    assert frame.loc[0, record.CONFIRMED_ACCURACY] == 0.93 and frame.loc[0, record.CONFIRMED_EPOCHS] == 15.0
    assert frame.loc[0, results.CONFIRMED_SE] == pytest.approx(0.01 / math.sqrt(3))
    assert frame.loc[3, record.CONFIRMED_ACCURACY] == 0.93   # a reused copy shares its architecture's confirmation
    assert np.isnan(frame.loc[1, record.CONFIRMED_ACCURACY])
    frame = frame.reset_index()
    frame.attrs["study"] = "honest"
    # Confirmed: 0.97 (se 0.0023) against 0.93 (se 0.0058): band 0.012, not a tie.
    assert int(results.pick_best_accuracy(frame, by="confirmed")["number"]) == 4
    # Within 5 points of 0.97 the cheaper 0.93 qualifies; within 1 point (+ the 0.012 band) it does not.
    objectives = results.study_objectives(honest)
    assert int(results.pick(frame, "cheapest-within:5", objectives, by="confirmed")["number"]) == 0
    assert int(results.pick(frame, "cheapest-within:1", objectives, by="confirmed")["number"]) == 4
    plain = results.trials_frame(make_study(None, name="unconfirmed"))
    with pytest.raises(WorkbenchError, match=r"run `workbench confirm --study unconfirmed`"):
        results.pick_best_accuracy(plain, by="confirmed")


def test_status_counts_keep_never_scored_apart(honest: optuna.Study) -> None:
    counts = results.status_counts(results.trials_frame(honest))
    assert counts == {"complete": 3, "reused": 1, "rejected (never scored)": 1, "failed (never scored)": 1}
