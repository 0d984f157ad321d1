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
from workbench.models import build_model
from workbench.profiling.counting import count_model
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
    front = results.pareto_front(frame, figures.axis_objectives(objectives, record.MACS), budgets)
    (points,) = traces(fig, "Pareto front (")
    assert sorted(points.customdata.tolist()) == sorted(front["number"].tolist())
    (line,) = [t for t in fig.data if t.name == "Pareto front" and t.mode == "lines"]
    assert line.line.shape == "hv" and list(line.x) == sorted(line.x)
    # The study's rejected trial (over its MAC budget) was never scored: it sits in the strip
    # below the chart, on the cost axis only, not at an accuracy.
    (rejected,) = traces(fig, "rejected, never scored")
    assert rejected.marker.symbol == "x" and rejected.yaxis == "y2" and set(rejected.y) == {"never scored"}
    assert set(rejected.customdata) == set(frame.loc[frame["status"].eq("rejected"), "number"])
    assert not traces(fig, "infeasible")
    (over,) = traces(fig, "over budget")
    assert over.marker.symbol == "diamond-open" and all(frame.set_index("number").loc[over.customdata, record.MACS] > 1.1e7)
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
    front = results.pareto_front(frame, objectives)
    assert len(traces(fig, "Pareto front")[0].x) == len(front)
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


def test_macs_latency_figure_titles_the_correlation(frame):
    corr = results.macs_latency_correlation(frame)
    fig = figures.macs_latency_figure(frame)
    assert f"Pearson r = {corr['pearson']:.2f}" in fig.layout.title.text
    assert f"Spearman ρ = {corr['spearman']:.2f}" in fig.layout.title.text
    assert len(fig.data[0].x) == int(corr["n"]) and fig.data[1].name == "linear fit"
    assert "too few trials" in figures.macs_latency_figure(frame.head(2)).layout.title.text


def test_compare_figure(frame, objectives):
    axes = figures.axis_objectives(objectives, record.PARAMS)
    fronts = {"a": results.pareto_front(frame, axes), "b": results.pareto_front(frame.head(4), axes), "empty": frame.head(0)}
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


@pytest.mark.parametrize("ratio,dw_size,width", [DEFAULT_TRIALS[0][:3], DEFAULT_TRIALS[3][:3]])
def test_architecture_table_matches_the_built_model(ratio, dw_size, width):
    from study_factory import arch_for

    arch = arch_for(ratio, dw_size, width)
    table = tables.architecture_table(arch)
    assert table["stage"].tolist() == ["stem", *[str(i) for i in range(len(arch.stages))], "head"]
    model = build_model(arch)
    for s, stage in enumerate(model.stages):
        out = stage[-1].ghost2.out_ch
        assert table.loc[s + 1, "channels"].endswith(f"→ {out}")
        assert table.loc[s + 1, "ratio"] == str(ratio) and table.loc[s + 1, "dw size"] == str(dw_size)
    assert table.loc[len(arch.stages) + 1, "channels"].endswith(f"→ {arch.num_classes}")


def test_layer_table_adds_up_to_the_model():
    from study_factory import arch_for

    arch = arch_for(2, 3, 0.5)
    layers = tables.layer_table(arch)
    counts = count_model(build_model(arch), arch)
    whole = layers[layers["module"] == "(model)"].iloc[0]
    assert whole["macs"] == counts.macs and whole["params"] == counts.params and whole["MACs %"] == 100.0
    top = layers[layers["depth"] == 1]
    assert top["macs"].sum() == counts.macs
    assert set(top["module"]) >= {"stem", "stages", "head_conv", "classifier"}
    assert layers.loc[layers["module"] == "stages.0.0", "type"].iloc[0] == "GhostBottleneck"


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
    assert list(strip["rejected, never scored (1)"].customdata) == [2] and set(strip["rejected, never scored (1)"].y) == {"never scored"}
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
    assert results.noise_text(bare).startswith("not measured") and "workbench confirm --study bare" in results.fidelity_text(bare)
