"""The plotly figure builders and architecture tables, on small real studies (in memory): the
Pareto chart shows only measured accuracies, with their intervals, ties and never-scored strip."""

from __future__ import annotations

import math
from statistics import NormalDist

import optuna
import pandas as pd
import pytest
from study_factory import DEFAULT_TRIALS, HONEST_FIDELITY, make_honest_study, make_study

from workbench import figures, record, results
from workbench.figures import tables
from workbench.record import Budgets


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return make_study(None)


@pytest.fixture(scope="module")
def frame(study) -> pd.DataFrame:
    frame = results.trials_frame(study)
    frame.attrs["latency_protocol"] = results.study_info(study).latency_protocol
    return frame


@pytest.fixture(scope="module")
def objectives(study):
    return results.study_objectives(study)


def traces(fig, prefix: str):
    return [t for t in fig.data if (t.name or "").startswith(prefix)]


def test_pareto_figure_marks_front_dominated_infeasible_and_over_budget(frame, objectives):
    budgets = Budgets(max_macs=1.1e7)
    fig = figures.pareto_figure(frame, objectives, record.MACS, budgets)
    # Scored trials within 11M MACs (study_factory.DEFAULT_TRIALS): 2 (0.90, 8.0M), 7 (0.91, 9.0M),
    # 1 (0.93, 10.1M). Each is more accurate than every cheaper one: all three are the front.
    (points,) = traces(fig, "Pareto front (")
    assert sorted(points.customdata.tolist()) == [1, 2, 7]
    (line,) = [t for t in fig.data if t.name == "Pareto front" and t.mode == "lines"]
    assert line.line.shape == "hv" and list(line.x) == sorted(line.x)
    # The study's rejected trial (over its MAC budget) was never scored: it sits in the strip
    # below the chart, on the cost axis only, not at an accuracy.
    (rejected,) = traces(fig, "rejected, never scored")
    assert rejected.marker.symbol == "x" and rejected.yaxis == "y2" and set(rejected.y) == {"never scored"}
    assert set(rejected.customdata) == set(frame.loc[frame["status"].eq("rejected"), "number"])
    assert not traces(fig, "infeasible")
    (over,) = traces(fig, "over budget")
    assert over.marker.symbol == "diamond-open"
    assert all(frame.set_index("number").loc[over.customdata, record.MACS] > 1.1e7)
    plotted = sum(len(t.customdata) for t in fig.data if t.customdata is not None)
    assert plotted == int((frame["state"] == "COMPLETE").sum())
    assert all(t.yaxis in (None, "y") for t in fig.data if t.customdata is not None and t.name != rejected.name)
    dominated = traces(fig, "dominated")
    assert all(t.marker.opacity < 0.5 for t in dominated)
    assert any(shape.x0 == 1.1e7 for shape in fig.layout.shapes)  # the budget line


def test_pareto_hover_has_number_knobs_figures_and_protocol(frame, objectives):
    fig = figures.pareto_figure(frame, objectives, record.LATENCY_P50)
    text = traces(fig, "Pareto front (")[0].text[0]
    for part in ("trial ", "accuracy", "MACs", "params", "latency p50", "p90", "knobs: ratio=", "dw_size=", "width=",
                 "protocol: cpu (test-cpu), deploy, fp32, batch 1"):
        assert part in text
    rejected = traces(fig, "rejected, never scored")[0].text[0]
    assert "reason: macs" in rejected and "over budget" in rejected and "accuracy never scored (rejected)" in rejected


def test_pareto_highlight_and_colour(frame, objectives):
    best = results.pick_best_accuracy(frame, Budgets(max_macs=2.5e7))
    fig = figures.pareto_figure(frame, objectives, record.MACS, color_by="knob_width", highlight=int(best["number"]))
    (star,) = traces(fig, "best: trial")
    assert star.name == f"best: trial {int(best['number'])}" and star.marker.symbol == "star"
    assert star.x[0] == best[record.MACS] and star.y[0] == best[record.ACCURACY]
    assert fig.layout.coloraxis.colorbar.title.text == "width"
    categorical = frame.assign(knob_cheap_op=["dw", "pw"] * 4 + [None])
    fig = figures.pareto_figure(categorical, objectives, record.MACS, color_by="knob_cheap_op")
    assert {t.name for t in fig.data} >= {"cheap_op=dw", "cheap_op=pw"}


def test_pareto_figure_of_an_empty_frame_says_so(objectives):
    empty = results.trials_frame(optuna.create_study(directions=["maximize", "minimize"]))
    fig = figures.pareto_figure(empty, objectives, record.MACS)
    assert not fig.data and "no measured trials" in fig.layout.annotations[0].text


def test_pareto_3d_figure(frame):
    objectives = [record.OBJECTIVES[n] for n in ("accuracy", "macs", "latency_ms")]
    fig = figures.pareto_3d_figure(frame, objectives)
    assert {t.type for t in fig.data} == {"scatter3d"}
    # (accuracy, MACs, latency) of the scored trials: 2 (0.90, 8.0M, 2.2 ms), 7 (0.91, 9.0M, 3.0),
    # 1 (0.93, 10.1M, 3.1), 0 (0.95, 12.2M, 4.0), 4 (0.85, 13.2M, 2.0), 3 (0.97, 23.7M, 6.5). No trial is
    # at least as good on all three as another: 4 is the fastest, 2 the cheapest, and each more
    # accurate trial costs more MACs. All six are on the 3-D front.
    (front,) = traces(fig, "Pareto front")
    assert sorted(front.x) == [0.85, 0.90, 0.91, 0.93, 0.95, 0.97] and not traces(fig, "dominated")
    assert fig.layout.scene.zaxis.title.text == "latency p50 (ms)"


def test_hypervolume_figure(frame, objectives):
    history = results.hypervolume_history(frame, objectives)
    fig = figures.hypervolume_figure(history)
    assert list(fig.data[0].y) == history["hypervolume"].tolist()
    assert figures.hypervolume_figure(pd.DataFrame(columns=["number", "hypervolume"])).layout.annotations


def test_importance_figure(study, objectives):
    importances = {o.name: results.param_importances(study, o) for o in objectives}
    fig = figures.importance_figure(importances)
    assert [t.name for t in fig.data] == [o.name for o in objectives]
    assert set(fig.data[0].y) == {"ratio", "dw_size", "width"}
    assert figures.importance_figure({"accuracy": {}}).layout.annotations


def test_macs_latency_figure_titles_the_correlation():
    # MACs 1, 2, 3, 4 against latency 1, 3, 2, 4 (and one trial without a latency, left out).
    # Pearson: deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5), sum of products 4 over
    # sqrt(5 * 5): 0.80. Spearman: rank differences 0, 1, -1, 0, 1 - 6 * 2 / (4 * 15) = 0.80.
    frame = pd.DataFrame({"number": range(5), "status": "complete", record.ACCURACY: 0.9,
                          record.MACS: [1e6, 2e6, 3e6, 4e6, 5e6], record.LATENCY_P50: [1.0, 3.0, 2.0, 4.0, None]})
    fig = figures.macs_latency_figure(frame)
    assert fig.layout.title.text == "MACs vs measured latency p50 — Pearson r = 0.80, Spearman ρ = 0.80 (n=4)"
    assert list(fig.data[0].x) == [1e6, 2e6, 3e6, 4e6] and fig.data[1].name == "linear fit"
    # The least-squares line through them: slope 0.8 per million MACs, intercept 0.5.
    assert list(fig.data[1].y) == pytest.approx([1.3, 3.7])
    assert "too few trials" in figures.macs_latency_figure(frame.head(2)).layout.title.text


def test_compare_figure(frame, objectives):
    axes = figures.axis_objectives(objectives, record.PARAMS)
    fronts = {"a": results.pareto_front(frame, axes), "b": results.pareto_front(frame.head(4), axes),
              "empty": frame.head(0)}
    fig = figures.compare_figure(fronts, record.PARAMS)
    assert [t.name for t in fig.data] == [f"a ({len(fronts['a'])})", f"b ({len(fronts['b'])})"]
    assert list(fig.data[0].x) == sorted(fronts["a"][record.PARAMS])


def test_validation_curve_figure():
    fig = figures.validation_curve_figure([0.5, 0.7, 0.8])
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == [0.5, 0.7, 0.8]
    assert figures.validation_curve_figure([]).layout.annotations


def test_human_numbers():
    assert results.human(12_345_678) == "12.3 M"
    assert results.human(0.95, record.ACCURACY) == "0.9500"
    assert results.human(4.0, record.LATENCY_P50) == "4 ms"
    assert results.human(math.nan) == "–"


# The channels after the width multiplier, by hand: make_divisible(c * width, 4) of the GhostNet
# table's stem 16, outs 16 24 24 40 40 80 (80 80 80 112 112) 160 (160 ...), head 960; then 1280, 10 classes.
CHANNELS_BY_HAND = {
    0.5: ["8", "8 → 8", "8 → 12", "12 → 12", "12 → 20", "20 → 20", "20 → 40", "40 → 56", "56 → 80", "80 → 80",
          "80 → 480 → 1280 → 10"],
    0.75: ["12", "12 → 12", "12 → 20", "20 → 20", "20 → 32", "32 → 32", "32 → 60", "60 → 84", "84 → 120", "120 → 120",
           "120 → 720 → 1280 → 10"],
}


@pytest.mark.parametrize("ratio,dw_size,width", [DEFAULT_TRIALS[0][:3], DEFAULT_TRIALS[3][:3]])
def test_architecture_table_channels_by_hand(ratio, dw_size, width):
    from study_factory import arch_for

    table = tables.architecture_table(arch_for(ratio, dw_size, width))
    assert table["stage"].tolist() == ["stem", *[str(i) for i in range(9)], "head"]
    assert table["channels"].tolist() == CHANNELS_BY_HAND[width]
    assert (table.loc[1:9, "ratio"] == str(ratio)).all() and (table.loc[1:9, "dw size"] == str(dw_size)).all()
    # Stage 6's five blocks expand 200, 184, 184, 480, 672 channels (184 twice: shown once).
    assert table.loc[7, "mid channels"] == {0.5: "100, 92, 240, 336", 0.75: "152, 140, 360, 504"}[width]
    assert table.loc[9, "SE"] == "0, 0.25" and table.loc[1, "SE"] == "none"


def test_layer_table_adds_up_and_counts_the_classifier_by_hand():
    from study_factory import arch_for

    layers = tables.layer_table(arch_for(2, 3, 0.5)).set_index("module")
    whole = layers.loc["(model)"]
    assert whole["MACs %"] == 100.0
    top = layers[layers["depth"] == 1]
    assert top["macs"].sum() == whole["macs"] and top["params"].sum() == whole["params"]
    assert set(top.index) >= {"stem", "stages", "head_conv", "classifier"}
    # The classifier is Linear(1280, 10): 1280 x 10 weights + 10 biases, 1280 x 10 MACs at batch 1.
    assert layers.loc["classifier", "params"] == 12_810 and layers.loc["classifier", "macs"] == 12_800
    # The head's 1x1 conv is Conv2d(480, 1280) with a bias, on a 1x1 pooled map.
    assert layers.loc["conv_head", "params"] == 480 * 1280 + 1280 and layers.loc["conv_head", "macs"] == 480 * 1280
    assert layers.loc["stages.0.0", "type"] == "GhostBottleneck"


def test_plain_family_is_one_row():
    from workbench.models import get_preset

    table = tables.architecture_table(get_preset("ghost_resnet56_cifar"))
    assert len(table) == 1 and table.loc[0, "ratio"] == 2


# --- the chart shows only what was measured, with its uncertainty ----------------------------
Z = NormalDist().inv_cdf(0.975)   # 1.96: the 95% two-sided normal quantile

@pytest.fixture(scope="module")
def honest():
    study = make_honest_study(None)
    return results.trials_frame(study), results.study_objectives(study)


def scored_traces(fig):
    return [t for t in fig.data if t.customdata is not None and t.yaxis in (None, "y")]


def test_never_scored_trials_sit_in_their_own_strip_not_at_an_accuracy(honest):
    frame, objectives = honest
    fig = figures.pareto_figure(frame, objectives, record.MACS)
    plotted_y = [y for t in scored_traces(fig) for y in t.y]
    assert plotted_y and min(plotted_y) == 0.90     # the scored 0.950, 0.945, 0.900; never the stored 0.0
    strip = {t.name: t for t in fig.data if t.yaxis == "y2"}
    assert set(strip) == {"rejected, never scored (1)", "failed, never scored (1)"}
    rejected = strip["rejected, never scored (1)"]
    assert list(rejected.customdata) == [2] and set(rejected.y) == {"never scored"}
    assert list(strip["failed, never scored (1)"].customdata) == [5]
    assert fig.layout.yaxis2.categoryarray == ("never scored",) and fig.layout.xaxis.matches == "x2"  # one cost axis
    # The accuracy axis fits the measured accuracies and their intervals (0.8797 .. 0.9611), nowhere near 0.
    low, high = fig.layout.yaxis.range
    assert 0.85 < low < 0.8797 and 0.9611 < high < 1.0


def test_a_reused_architecture_is_drawn_once(honest):
    frame, objectives = honest
    fig = figures.pareto_figure(frame, objectives, record.MACS)
    drawn = [int(n) for t in fig.data if t.customdata is not None for n in t.customdata]
    assert sorted(drawn) == [0, 1, 2, 4, 5]   # trial 3 is trial 0's architecture again


def test_error_bars_are_the_stored_intervals(honest):
    frame, objectives = honest
    fig = figures.pareto_figure(frame, objectives, record.MACS)
    stored = {0: (0.9358, 0.9611), 1: (0.9294, 0.9578), 4: (0.8797, 0.9171)}
    seen = {}
    for trace in scored_traces(fig):
        for number, y, up, down in zip(trace.customdata, trace.y, trace.error_y.array, trace.error_y.arrayminus):
            seen[int(number)] = (y - down, y + up)
    assert seen.keys() == stored.keys()
    for number, (low, high) in stored.items():
        assert seen[number] == pytest.approx((low, high))


def test_the_band_indistinguishable_from_the_best_is_shaded_and_named(honest):
    frame, objectives = honest
    fig = figures.pareto_figure(frame, objectives, record.MACS)
    (band,) = [s for s in fig.layout.shapes if (s.name or "").startswith("indistinguishable from the best")]
    assert band.showlegend and band.name == "indistinguishable from the best (2 trials)"   # trials 0 and 1
    se = math.sqrt(0.95 * 0.05 / 1000)
    assert (band.y0, band.y1) == pytest.approx((0.95 - Z * math.sqrt(2) * se, 0.95))


def test_ties_star_the_cheaper_trial(honest):
    frame, objectives = honest
    best = results.pick_best_accuracy(frame)
    assert int(best["number"]) == 1   # 0.945 at 6.7M MACs ties 0.950 at 12.2M
    fig = figures.pareto_figure(frame, objectives, record.MACS, highlight=int(best["number"]))
    (star,) = traces(fig, "best: trial")
    assert star.name == "best: trial 1" and star.y[0] == 0.945


def test_confirmed_view_plots_the_confirmed_accuracy(honest):
    frame, objectives = honest
    fig = figures.pareto_figure(frame, objectives, record.MACS, by="confirmed")
    points = {int(n): (y, up) for t in scored_traces(fig) for n, y, up in zip(t.customdata, t.y, t.error_y.array)}
    assert points.keys() == {0, 4}
    assert points[0] == pytest.approx((0.93, Z * 0.01 / math.sqrt(3)))   # mean ± 1.96 sd / sqrt(seeds)
    assert points[4] == pytest.approx((0.97, Z * 0.004 / math.sqrt(3)))
    assert fig.layout.yaxis.title.text.startswith("confirmed accuracy")


def test_hypervolume_steps_only_at_scored_trials(honest):
    frame, objectives = honest
    history = results.hypervolume_history(frame, objectives)
    fig = figures.hypervolume_figure(history)
    steps = dict(zip(fig.data[0].x, fig.data[0].y))
    assert steps[1] == steps[2] == steps[3]   # the rejected trial and the copy add nothing


def test_study_facts_text():
    info = results.study_info(make_honest_study(None, name="facts", noise_sd=0.004, fidelity=HONEST_FIDELITY))
    assert results.noise_text(info) == "sd 0.0040 (0.40 points) over 4 trials × 3 seeds"
    assert results.fidelity_text(info).startswith("Kendall tau 0.62 (95% bootstrap interval 0.31 to 0.85), n = 12")
    bare = results.study_info(make_honest_study(None, name="bare"))
    assert results.noise_text(bare).startswith("not measured")
    assert "workbench confirm --study bare" in results.fidelity_text(bare)
