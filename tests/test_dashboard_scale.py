"""The dashboard's figures and trial table on a study of a few thousand trials: WebGL markers, the
front always whole, the dominated cloud sampled and labelled so, the exact hypervolume history,
and the trial table filtered, sorted and paged on the server.

The study is a real Optuna study (in memory, or copied to SQLite) whose trials carry the record's
keys; the expected figures come from the list of trials as written."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from helpers.dashboard import Written, many_trials_study

from workbench import figures, record, results
from workbench.dashboard import paging
from workbench.figures import scale
from workbench.record import Budgets
from workbench.results import front

OBJECTIVES = [record.OBJECTIVES["accuracy"], record.OBJECTIVES["macs"]]


def true_front(written: list[Written]) -> set[int]:
    """The non-dominated scored trials (accuracy up, MACs down), by brute force."""
    scored = [w for w in written if w.accuracy is not None]
    return {a.number for a in scored
            if not any(b.accuracy >= a.accuracy and b.macs <= a.macs and (b.accuracy, b.macs) != (a.accuracy, a.macs)
                       for b in scored)}


@pytest.fixture(scope="module")
def big():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, written = many_trials_study(3000)
    return results.trials_frame(study), written


def marker_traces(fig):
    return [t for t in fig.data if t.customdata is not None]


def test_a_large_chart_is_webgl_with_the_whole_front_and_a_labelled_sample(big):
    frame, written = big
    fig = figures.pareto_figure(frame, OBJECTIVES, record.MACS)
    traces = marker_traces(fig)
    assert {t.type for t in traces} == {"scattergl"}
    (front,) = [t for t in traces if t.name.startswith("Pareto front (")]
    assert set(front.customdata.tolist()) == true_front(written)
    others = [t for t in traces if t is not front]
    drawn = sum(len(t.customdata) for t in others)
    not_front = sum(1 for w in written if w.macs is not None) - len(true_front(written))  # scored or costed
    assert drawn <= scale.MAX_CLOUD_POINTS < not_front
    title = fig.layout.title.text
    assert f"a seeded sample of {drawn:,} of {not_front:,}" in title
    assert f"All {len(true_front(written))} front" in title
    (dominated,) = [t for t in others if t.name.startswith("dominated")]
    n_dominated = sum(1 for w in written if w.accuracy is not None) - len(true_front(written))
    assert dominated.name == f"dominated ({n_dominated:,}; {len(dominated.customdata):,} drawn)"
    rejected = [w.number for w in written if w.status == "rejected"]
    (strip,) = [t for t in others if t.name.startswith("rejected, never scored")]
    assert set(strip.customdata.tolist()) <= set(rejected) and f"({len(rejected):,};" in strip.name
    assert fig.to_dict() == figures.pareto_figure(frame, OBJECTIVES, record.MACS).to_dict()  # the sample is seeded


def test_the_sample_can_be_turned_off_and_budgets_keep_the_front_whole(big):
    frame, written = big
    fig = figures.pareto_figure(frame, OBJECTIVES, record.MACS, max_cloud=None)
    assert sum(len(t.customdata) for t in marker_traces(fig)) == sum(1 for w in written if w.macs is not None)
    assert "sample" not in fig.layout.title.text
    budgets = Budgets(max_macs=1e7)
    fig = figures.pareto_figure(frame, OBJECTIVES, record.MACS, budgets)
    (front,) = [t for t in marker_traces(fig) if t.name.startswith("Pareto front (")]
    within = [w for w in written if w.accuracy is not None and w.macs <= 1e7]
    assert set(front.customdata.tolist()) == true_front(within)


def test_a_small_chart_stays_svg_and_whole():
    study, written = many_trials_study(60, name="small")
    fig = figures.pareto_figure(results.trials_frame(study), OBJECTIVES, record.MACS)
    assert {t.type for t in marker_traces(fig)} == {"scatter"}
    assert sum(len(t.customdata) for t in marker_traces(fig)) == sum(1 for w in written if w.macs is not None)


def test_hypervolume_history_equals_the_hypervolume_of_each_prefix():
    # The history computes the hypervolume only where a trial reaches the front and carries it
    # forward: trial by trial it must equal the hypervolume of all the trials up to that one.
    study, _ = many_trials_study(200, name="hv", seed=3)
    frame = results.trials_frame(study)
    reference = results.reference_point(frame, OBJECTIVES)
    history = results.hypervolume_history(frame, OBJECTIVES, reference)
    direct = [results.hypervolume(frame[frame["number"] <= n], OBJECTIVES, reference) for n in range(200)]
    assert history["number"].tolist() == list(range(200))
    np.testing.assert_allclose(history["hypervolume"].to_numpy(float), direct, rtol=1e-12)
    assert history["hypervolume"].is_monotonic_increasing and history["hypervolume"].iloc[-1] > 0


def test_trial_table_filters_sorts_and_pages_on_the_server(big):
    frame, written = big
    complete = [w for w in written if w.status == "complete"]
    shown = paging.filter_trials(frame, states=["COMPLETE"], statuses=["complete"])
    assert len(shown) == len(complete)
    by_accuracy = sorted(complete, key=lambda w: (-w.accuracy, w.number))
    first = paging.page(shown, record.ACCURACY, descending=True, number=1, size=50)
    assert first["number"].tolist() == [w.number for w in by_accuracy[:50]]
    pages = paging.pages(len(shown), 50)
    last = paging.page(shown, record.ACCURACY, descending=True, number=pages + 5, size=50)  # clamped to the last page
    assert last["number"].tolist() == [w.number for w in by_accuracy[(pages - 1) * 50:]]
    failed = paging.filter_trials(frame, text="OOM")
    assert failed["number"].tolist() == [w.number for w in written if w.status == "failed"]
    ratio = paging.filter_trials(frame, text="ratio=5")
    assert set(ratio["knob_ratio"]) == {5}


@pytest.mark.parametrize("module", [scale, paging, front])
def test_the_docstring_examples_run(module):
    import doctest

    outcome = doctest.testmod(module)
    assert outcome.attempted > 0 and outcome.failed == 0
