"""The plotly figure builders and architecture tables, on a small real study (in memory)."""

from __future__ import annotations

import math

import optuna
import pandas as pd
import pytest

from study_factory import DEFAULT_TRIALS, make_study
from workbench import record, results
from workbench.dashboard import figures, tables
from workbench.models import build_model
from workbench.profiling.counting import count_model
from workbench.results import Budgets


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
    (infeasible,) = traces(fig, "infeasible")
    assert infeasible.marker.symbol == "x"
    assert set(infeasible.customdata) == set(frame.loc[~frame["feasible"] & frame["state"].eq("COMPLETE"), "number"])
    (over,) = traces(fig, "over budget")
    assert over.marker.symbol == "diamond-open" and all(frame.set_index("number").loc[over.customdata, record.MACS] > 1.1e7)
    plotted = sum(len(t.customdata) for t in fig.data if t.customdata is not None)
    assert plotted == int((frame["state"] == "COMPLETE").sum())
    dominated = traces(fig, "dominated")
    assert all(t.marker.opacity < 0.5 for t in dominated)
    assert any(shape.x0 == 1.1e7 for shape in fig.layout.shapes)  # the budget line


def test_pareto_hover_has_number_knobs_figures_and_protocol(frame, objectives):
    fig = figures.pareto_figure(frame, objectives, record.LATENCY_P50)
    text = traces(fig, "Pareto front (")[0].text[0]
    for part in ("trial ", "accuracy", "MACs", "params", "latency p50", "p90", "knobs: ratio=", "dw_size=", "width=",
                 "protocol: cpu (test-cpu), deploy, fp32, batch 1"):
        assert part in text
    rejected = traces(fig, "infeasible")[0].text[0]
    assert "reason: macs" in rejected and "over budget" in rejected


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
    assert figures.human(12_345_678) == "12.3 M"
    assert figures.human(0.95, record.ACCURACY) == "0.9500"
    assert figures.human(4.0, record.LATENCY_P50) == "4 ms"
    assert figures.human(math.nan) == "–"


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
