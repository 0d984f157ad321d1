"""Plotly figures of a study, shared by the dashboard and the HTML report.

Every builder takes plain pandas data from `workbench.results` (a trials frame, a front, a
hypervolume history) and returns a `go.Figure`; none of them reads storage. Points are SVG
scatter traces (not WebGL) so a browser test can count them and an HTML report renders
them anywhere.

Example:
    >>> from workbench import results
    >>> study, frame = results.open_results("digits")  # doctest: +SKIP
    >>> fig = pareto_figure(frame, results.study_objectives(study), "macs")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from workbench import record, results
from workbench.record import OBJECTIVES, Objective
from workbench.results import Budgets

# Axis and hover names of the figures a trial carries (the DESIGN's naming: MACs are
# conv/linear multiply-accumulates, "fvcore FLOPs" is fvcore's total).
LABELS: dict[str, str] = {
    record.ACCURACY: "accuracy",
    record.MACS: "MACs",
    record.PARAMS: "params",
    record.FLOPS_FVCORE: "fvcore FLOPs",
    record.LATENCY_P50: "latency p50 (ms)",
    record.LATENCY_P90: "latency p90 (ms)",
    record.LATENCY_CV: "latency CV",
    record.PEAK_MEMORY: "peak memory (bytes)",
    record.TRAIN_SECONDS: "train seconds",
    record.IMAGES_PER_SECOND: "images/s",
}

# Which budget bounds which axis (p90 has no budget of its own: budgets bound p50).
AXIS_BUDGET: dict[str, str] = {record.MACS: "max_macs", record.PARAMS: "max_params", record.LATENCY_P50: "max_latency_ms"}

# Point categories, in drawing order (later ones on top).
INFEASIBLE, OVER_BUDGET, DOMINATED, FRONT = "infeasible", "over budget", "dominated", "Pareto front"
_STYLE: dict[str, dict[str, Any]] = {
    INFEASIBLE: {"symbol": "x", "color": "#d62728", "opacity": 0.55, "size": 8},
    OVER_BUDGET: {"symbol": "diamond-open", "color": "#ff7f0e", "opacity": 0.6, "size": 9},
    DOMINATED: {"symbol": "circle", "color": "#7aa6d6", "opacity": 0.35, "size": 8},
    FRONT: {"symbol": "circle", "color": "#1f4e9c", "opacity": 1.0, "size": 11},
}
_TEMPLATE = "plotly_white"


def label(column: str) -> str:
    """The display name of a trials-frame column (`knob_width` -> `width`)."""
    if column.startswith(results.KNOB_PREFIX):
        return column[len(results.KNOB_PREFIX):]
    return LABELS.get(column, column)


def human(value: Any, column: str = "") -> str:
    """A short, readable number: 12.3 M MACs, 0.9512 accuracy, 4.21 ms; '–' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return str(value)
    value = float(value)
    if column == record.ACCURACY:
        return f"{value:.4f}"
    if column in (record.LATENCY_P50, record.LATENCY_P90):
        return f"{value:.3g} ms"
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.4g}"


def cost_objective(cost_column: str) -> Objective:
    """The minimised objective for a cost column (latency p90 has none registered)."""
    for objective in OBJECTIVES.values():
        if objective.column == cost_column:
            return objective
    return Objective(cost_column, cost_column, "minimize")


def axis_objectives(objectives: Sequence[Objective], cost_column: str) -> list[Objective]:
    """The 2-D objectives of an accuracy-versus-cost chart: the study's maximised objective
    (accuracy) and the chosen cost column."""
    accuracy = next((o for o in objectives if o.direction == "maximize"), OBJECTIVES["accuracy"])
    return [accuracy, cost_objective(cost_column)]


def protocol_text(protocol: Mapping[str, Any] | None) -> str:
    """'cpu (test-cpu), deploy, fp32, batch 1, 4 threads' from a recorded latency protocol."""
    if not protocol:
        return "not recorded"
    device = protocol.get("device", "?")
    name = protocol.get("device_name")
    parts = [f"{device} ({name})" if name and name != device else str(device)]
    for key, fmt in (("mode", "{}"), ("dtype", "{}"), ("batch_size", "batch {}"), ("threads", "{} threads"),
                     ("input_size", "{} px")):
        if protocol.get(key) is not None:
            parts.append(fmt.format(protocol[key]))
    return ", ".join(parts)


def point_categories(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.Series:
    """For each trial with all `objectives` measured: front, dominated, over budget or
    infeasible (breaks a constraint stored with the study); NaN for trials not plotted."""
    categories = pd.Series(np.nan, index=frame.index, dtype=object)
    if frame.empty:
        return categories
    measured = frame["state"].eq("COMPLETE")
    for objective in objectives:
        measured &= frame[objective.column].notna()
    feasible = measured & frame["feasible"].astype(bool)
    within = feasible & (budgets.mask(frame) if budgets is not None else True)
    categories[measured] = INFEASIBLE
    categories[feasible] = OVER_BUDGET
    categories[within] = DOMINATED
    categories[results.pareto_front(frame, objectives, budgets).index] = FRONT
    return categories


def hover_texts(frame: pd.DataFrame, protocol: Mapping[str, Any] | None = None) -> list[str]:
    """One hover text per row: trial number and status, every figure, the knobs, the
    reason a trial was rejected, and the latency protocol."""
    knobs = [c for c in frame.columns if c.startswith(results.KNOB_PREFIX)]
    protocol_line = f"protocol: {protocol_text(protocol)}" if protocol else ""
    texts = []
    for row in frame.itertuples(index=False):
        get = row._asdict().get
        lines = [
            f"<b>trial {int(get('number'))}</b> ({get('status')})",
            f"accuracy {human(get(record.ACCURACY), record.ACCURACY)} · MACs {human(get(record.MACS))}"
            f" · params {human(get(record.PARAMS))} · fvcore FLOPs {human(get(record.FLOPS_FVCORE))}",
            f"latency p50 {human(get(record.LATENCY_P50), record.LATENCY_P50)} · p90 "
            f"{human(get(record.LATENCY_P90), record.LATENCY_P90)} · CV {human(get(record.LATENCY_CV))}"
            f" · peak memory {human(get(record.PEAK_MEMORY))}B",
        ]
        if knobs:
            lines.append("knobs: " + ", ".join(f"{label(k)}={_knob_text(get(k))}" for k in knobs))
        if isinstance(get("reason"), str) and get("reason"):
            lines.append(f"reason: {get('reason')}")
        device = get(record.DEVICE)
        lines.append(protocol_line or (f"device: {device}" if device else "protocol: not recorded"))
        texts.append("<br>".join(lines))
    return texts


def _knob_text(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _color_spec(frame: pd.DataFrame, color_by: str | None) -> tuple[str, dict[Any, str]] | None:
    """('numeric', {}) or ('category', {value: colour}) for a knob column, None if absent."""
    if not color_by or color_by not in frame.columns:
        return None
    values = frame[color_by].dropna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return "numeric", {}
    palette = qualitative.Plotly
    return "category", {value: palette[i % len(palette)] for i, value in enumerate(sorted(values.unique(), key=str))}


def _marker(category: str, part: pd.DataFrame, color_by: str | None, spec: tuple[str, dict[Any, str]] | None) -> dict[str, Any]:
    style = _STYLE[category]
    marker: dict[str, Any] = {"symbol": style["symbol"], "size": style["size"], "opacity": style["opacity"], "color": style["color"]}
    if spec is not None and color_by is not None:
        kind, colours = spec
        if kind == "numeric":
            marker.update(color=part[color_by].to_numpy(), coloraxis="coloraxis")
        else:
            marker["color"] = [colours.get(v, "#999999") for v in part[color_by]]
    if category == FRONT:
        marker["line"] = {"width": 1.5, "color": "#0b2347"}
    return marker


def pareto_figure(
    frame: pd.DataFrame,
    objectives: Sequence[Objective],
    cost_column: str,
    budgets: Budgets | None = None,
    color_by: str | None = None,
    highlight: int | None = None,
    *,
    protocol: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Accuracy against `cost_column` for every measured trial.

    The Pareto front of accuracy versus that cost (within `budgets`) is drawn as a step line
    through its trials; dominated trials are faded, trials over the `budgets` are open
    diamonds and trials breaking the study's own constraints are crosses. `color_by` colours
    the points by a `knob_*` column; `highlight` (a trial number, e.g. the best pick) gets a
    star and its name. Hover shows trial number, knobs, every figure and the latency
    `protocol` (default: `frame.attrs["latency_protocol"]`, else the trial's device).
    """
    axes = axis_objectives(objectives, cost_column)
    accuracy = axes[0].column
    protocol = protocol if protocol is not None else frame.attrs.get("latency_protocol")
    categories = point_categories(frame, axes, budgets)
    spec = _color_spec(frame, color_by)
    fig = go.Figure()
    for category in (INFEASIBLE, OVER_BUDGET, DOMINATED, FRONT):
        part = frame[categories == category]
        if part.empty:
            continue
        if category == FRONT:
            ordered = part.sort_values([cost_column, "number"])
            fig.add_trace(go.Scatter(
                x=ordered[cost_column], y=ordered[accuracy], mode="lines", line={"shape": "hv", "color": "#1f4e9c", "width": 2},
                name="Pareto front", hoverinfo="skip", legendgroup="front", showlegend=False,
            ))
        fig.add_trace(go.Scatter(
            x=part[cost_column], y=part[accuracy], mode="markers", name=f"{category} ({len(part)})",
            marker=_marker(category, part, color_by, spec), text=hover_texts(part, protocol),
            customdata=part["number"].to_numpy(), hovertemplate="%{text}<extra></extra>",
            legendgroup="front" if category == FRONT else category,
        ))
    _add_budget_line(fig, cost_column, budgets)
    if highlight is not None and not frame[frame["number"] == highlight].empty:
        best = frame[frame["number"] == highlight].iloc[0]
        fig.add_trace(go.Scatter(
            x=[best[cost_column]], y=[best[accuracy]], mode="markers+text", name=f"best: trial {highlight}",
            marker={"symbol": "star", "size": 20, "color": "#f2c80f", "line": {"width": 1.5, "color": "#5a4a00"}},
            text=[f"best: trial {highlight}"], textposition="top left", hoverinfo="skip",
        ))
    if spec is not None and color_by is not None:
        _add_colour_legend(fig, color_by, spec)
    n_plotted = int(categories.notna().sum())
    fig.update_layout(
        template=_TEMPLATE, title=f"{label(accuracy)} vs {label(cost_column)} — {n_plotted} trials",
        xaxis_title=label(cost_column), yaxis_title=label(accuracy), hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}, margin={"l": 60, "r": 20, "t": 80, "b": 50},
    )
    if not n_plotted:
        _note(fig, "no measured trials to plot yet")
    return fig


def _add_budget_line(fig: go.Figure, cost_column: str, budgets: Budgets | None) -> None:
    limit = getattr(budgets, AXIS_BUDGET.get(cost_column, ""), None) if budgets is not None else None
    if limit is not None:
        fig.add_vline(x=limit, line={"dash": "dash", "color": "#ff7f0e"}, annotation_text=f"budget {human(limit, cost_column)}",
                      annotation_position="top right")


def _add_colour_legend(fig: go.Figure, color_by: str, spec: tuple[str, dict[Any, str]]) -> None:
    kind, colours = spec
    if kind == "numeric":
        fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": label(color_by)}}})
        return
    for value, colour in colours.items():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker={"color": colour, "size": 10},
                                 name=f"{label(color_by)}={value}", legendgroup=f"colour-{value}"))


def _note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16, "color": "#666"})


def pareto_3d_figure(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> go.Figure:
    """The three objectives of a three-objective study in 3-D: front opaque, dominated
    faded, over-budget and infeasible trials marked."""
    axes = list(objectives)[:3]
    categories = point_categories(frame, axes, budgets)
    symbols = {INFEASIBLE: "x", OVER_BUDGET: "diamond-open", DOMINATED: "circle", FRONT: "diamond"}
    fig = go.Figure()
    for category in (INFEASIBLE, OVER_BUDGET, DOMINATED, FRONT):
        part = frame[categories == category]
        if part.empty:
            continue
        style = _STYLE[category]
        fig.add_trace(go.Scatter3d(
            x=part[axes[0].column], y=part[axes[1].column], z=part[axes[2].column] if len(axes) > 2 else None,
            mode="markers", name=f"{category} ({len(part)})", text=hover_texts(part, frame.attrs.get("latency_protocol")),
            hovertemplate="%{text}<extra></extra>",
            marker={"symbol": symbols[category], "size": 6 if category == FRONT else 4, "color": style["color"], "opacity": style["opacity"]},
        ))
    scene = {f"{axis}axis_title": label(o.column) for axis, o in zip("xyz", axes)}
    fig.update_layout(template=_TEMPLATE, title="Three objectives — " + " / ".join(label(o.column) for o in axes),
                      scene=scene, margin={"l": 0, "r": 0, "t": 60, "b": 0}, legend={"orientation": "h"})
    return fig


def hypervolume_figure(history: pd.DataFrame) -> go.Figure:
    """Hypervolume after each trial (from `results.hypervolume_history`)."""
    fig = go.Figure()
    if history.empty:
        _note(fig, "no feasible trials yet")
    else:
        fig.add_trace(go.Scatter(x=history["number"], y=history["hypervolume"], mode="lines", line={"shape": "hv", "width": 2},
                                 name="hypervolume", hovertemplate="trial %{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(template=_TEMPLATE, title="Hypervolume of the feasible trials after each trial",
                      xaxis_title="trial number", yaxis_title="hypervolume", margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


def importance_figure(importances: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Knob importance per objective (grouped horizontal bars, one colour per objective)."""
    fig = go.Figure()
    knobs = sorted({k for values in importances.values() for k in values})
    for objective, values in importances.items():
        if values:
            fig.add_trace(go.Bar(y=knobs, x=[values.get(k, 0.0) for k in knobs], orientation="h", name=objective,
                                 hovertemplate=f"{objective}: %{{y}} %{{x:.3f}}<extra></extra>"))
    if not fig.data:
        _note(fig, "too few completed trials to rank the knobs")
    fig.update_layout(template=_TEMPLATE, barmode="group", title="Knob importance per objective (Optuna PED-ANOVA)",
                      xaxis_title="importance (sums to 1 per objective)", yaxis_title="knob",
                      margin={"l": 80, "r": 20, "t": 60, "b": 50}, height=max(320, 60 + 40 * len(knobs) * max(1, len(importances))))
    return fig


def macs_latency_figure(frame: pd.DataFrame) -> go.Figure:
    """Measured latency p50 against MACs with a least-squares line; the title gives the
    Pearson and Spearman correlations — where FLOPs stop predicting latency on this device."""
    corr = results.macs_latency_correlation(frame)
    both = frame.dropna(subset=[record.MACS, record.LATENCY_P50]) if not frame.empty else frame
    fig = go.Figure()
    if len(both):
        fig.add_trace(go.Scatter(
            x=both[record.MACS], y=both[record.LATENCY_P50], mode="markers", name="trials",
            marker={"size": 8, "color": both[record.ACCURACY] if record.ACCURACY in both else None, "colorscale": "Viridis",
                    "colorbar": {"title": {"text": "accuracy"}}, "opacity": 0.8},
            text=hover_texts(both, frame.attrs.get("latency_protocol")), hovertemplate="%{text}<extra></extra>",
        ))
    if len(both) >= 2 and both[record.MACS].nunique() > 1:
        slope, intercept = np.polyfit(both[record.MACS].to_numpy(float), both[record.LATENCY_P50].to_numpy(float), 1)
        xs = np.array([both[record.MACS].min(), both[record.MACS].max()], dtype=float)
        fig.add_trace(go.Scatter(x=xs, y=slope * xs + intercept, mode="lines", name="linear fit",
                                 line={"dash": "dot", "color": "#888"}, hoverinfo="skip"))
    if math.isnan(corr["pearson"]):
        title = f"MACs vs measured latency p50 — too few trials for a correlation (n={int(corr['n'])})"
    else:
        title = (f"MACs vs measured latency p50 — Pearson r = {corr['pearson']:.2f}, "
                 f"Spearman ρ = {corr['spearman']:.2f} (n={int(corr['n'])})")
    fig.update_layout(template=_TEMPLATE, title=title, xaxis_title="MACs", yaxis_title="latency p50 (ms)",
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.2})
    return fig


def compare_figure(fronts: Mapping[str, pd.DataFrame], cost_column: str) -> go.Figure:
    """The accuracy-versus-cost Pareto fronts of several studies on one chart."""
    fig = go.Figure()
    palette = qualitative.Plotly
    for i, (name, front) in enumerate(fronts.items()):
        if front.empty:
            continue
        ordered = front.sort_values([cost_column, "number"])
        fig.add_trace(go.Scatter(
            x=ordered[cost_column], y=ordered[record.ACCURACY], mode="lines+markers", name=f"{name} ({len(ordered)})",
            line={"shape": "hv", "color": palette[i % len(palette)]}, marker={"size": 9},
            text=[f"{name}: trial {int(n)}" for n in ordered["number"]], customdata=ordered["number"].to_numpy(),
            hovertemplate="%{text}<br>accuracy %{y:.4f}<br>" + label(cost_column) + " %{x:.4g}<extra></extra>",
        ))
    if not fig.data:
        _note(fig, "no feasible trials in the chosen studies")
    fig.update_layout(template=_TEMPLATE, title=f"Pareto fronts: accuracy vs {label(cost_column)}",
                      xaxis_title=label(cost_column), yaxis_title="accuracy", margin={"l": 60, "r": 20, "t": 60, "b": 50},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def validation_curve_figure(curve: Sequence[float]) -> go.Figure:
    """Validation accuracy after each proxy-training epoch."""
    fig = go.Figure()
    if curve:
        epochs = list(range(1, len(curve) + 1))
        fig.add_trace(go.Scatter(x=epochs, y=list(curve), mode="lines+markers", name="validation accuracy",
                                 hovertemplate="epoch %{x}: %{y:.4f}<extra></extra>"))
    else:
        _note(fig, "no validation curve recorded (zero-cost score or failed trial)")
    fig.update_layout(template=_TEMPLATE, title="Validation accuracy per epoch", xaxis_title="epoch",
                      yaxis_title="validation accuracy", margin={"l": 60, "r": 20, "t": 60, "b": 50}, height=320)
    return fig
