"""The study's other charts: hypervolume history, knob importance, MACs against latency, several
studies' fronts, a trial's validation curve. Each takes plain pandas data from
`workbench.results` and returns a `go.Figure`; none reads storage.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"number": range(4), "macs": [1.0, 2.0, 3.0, 4.0], "latency_p50_ms": [1.0, 3.0, 2.0, 4.0]})
    >>> macs_latency_figure(frame).layout.title.text
    'MACs vs measured latency p50 — Pearson r = 0.80, Spearman ρ = 0.80 (n=4)'
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from workbench import record, results
from workbench.figures import scale
from workbench.figures.style import TEMPLATE, hover_texts, note
from workbench.results import label


def hypervolume_figure(history: pd.DataFrame) -> go.Figure:
    """Hypervolume after each trial (from `results.hypervolume_history`)."""
    fig = go.Figure()
    if history.empty:
        note(fig, "no feasible trials yet")
    else:
        fig.add_trace(go.Scatter(x=history["number"], y=history["hypervolume"], mode="lines",
                                 line={"shape": "hv", "width": 2},
                                 name="hypervolume", hovertemplate="trial %{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title="Hypervolume of the scored feasible trials after each trial",
                      xaxis_title="trial number", yaxis_title="hypervolume",
                      margin={"l": 60, "r": 20, "t": 60, "b": 50})
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
        note(fig, "too few scored trials to rank the knobs")
    fig.update_layout(template=TEMPLATE, barmode="group",
                      title="Knob importance per objective (Optuna PED-ANOVA, scored trials only)",
                      xaxis_title="importance (sums to 1 per objective)", yaxis_title="knob",
                      margin={"l": 80, "r": 20, "t": 60, "b": 50},
                      height=max(320, 60 + 40 * len(knobs) * max(1, len(importances))))
    return fig


def macs_latency_figure(frame: pd.DataFrame) -> go.Figure:
    """Measured latency p50 against MACs with a least-squares line; the title gives the
    Pearson and Spearman correlations — where FLOPs stop predicting latency on this device."""
    corr = results.macs_latency_correlation(frame)
    both = frame.dropna(subset=[record.MACS, record.LATENCY_P50]) if not frame.empty else frame
    fig = go.Figure()
    if len(both):
        fig.add_trace(scale.scatter_type(len(both))(
            x=both[record.MACS], y=both[record.LATENCY_P50], mode="markers", name="trials",
            marker={"size": 8, "color": both[record.ACCURACY] if record.ACCURACY in both else None,
                    "colorscale": "Viridis",
                    "colorbar": {"title": {"text": "accuracy"}}, "opacity": 0.8},
            text=hover_texts(both, frame.attrs.get("latency_protocol")), hovertemplate="%{text}<extra></extra>",
        ))
    if len(both) >= 2 and both[record.MACS].nunique() > 1:
        slope, intercept = np.polyfit(both[record.MACS].to_numpy(float), both[record.LATENCY_P50].to_numpy(float), 1)
        xs = np.array([both[record.MACS].min(), both[record.MACS].max()], dtype=float)
        fig.add_trace(go.Scatter(x=xs, y=slope * xs + intercept, mode="lines", name="linear fit",
                                 line={"dash": "dot", "color": "#888"}, hoverinfo="skip"))
    if math.isnan(corr["pearson"]):
        title = ("MACs vs measured latency p50 — too few trials, or too little spread, for a correlation "
                 f"(n={int(corr['n'])})")
    else:
        title = (f"MACs vs measured latency p50 — Pearson r = {corr['pearson']:.2f}, "
                 f"Spearman ρ = {corr['spearman']:.2f} (n={int(corr['n'])})")
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title="MACs", yaxis_title="latency p50 (ms)",
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
        note(fig, "no feasible trials in the chosen studies")
    fig.update_layout(template=TEMPLATE, title=f"Pareto fronts: accuracy vs {label(cost_column)}",
                      xaxis_title=label(cost_column), yaxis_title="accuracy",
                      margin={"l": 60, "r": 20, "t": 60, "b": 50},
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
        note(fig, "no validation curve recorded (zero-cost score or failed trial)")
    fig.update_layout(template=TEMPLATE, title="Validation accuracy per epoch", xaxis_title="epoch",
                      yaxis_title="validation accuracy", margin={"l": 60, "r": 20, "t": 60, "b": 50}, height=320)
    return fig
