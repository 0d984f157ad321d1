"""The Engines charts: latency on one target against another, what int8 buys per architecture,
and the int8 front. Shared by the dashboard's Engines tab and the report.

What they show is computed by `workbench.results.engines` (Kendall tau, front changes, the int8
table); these functions only draw it. Only measured figures are drawn: an architecture a target
could not time is not a point at 0 ms but absent, and the speed-up axis keeps values below 1
(int8 slower than fp32) in their own colour.

Example:
    >>> import pandas as pd
    >>> from workbench.results import engines
    >>> frame = pd.DataFrame({"number": [0, 1, 2], "state": "COMPLETE", "status": "complete", "scored": True,
    ...                       "feasible": True, "accuracy": [0.90, 0.92, 0.95],
    ...                       "latency_p50_ms:torch": [1.0, 2.0, 3.0], "latency_p50_ms:ort": [0.8, 0.6, 1.5]})
    >>> changes = engines.front_changes(frame, "torch", "ort")
    >>> fig = latency_pair_figure(frame, changes, engines.latency_agreement(frame, "torch", "ort", resamples=50))
    >>> sorted(t.name for t in fig.data if t.customdata is not None)
    ['on both fronts (2)', "on torch's front only (1)"]
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import record, results
from workbench.figures.style import TEMPLATE, note
from workbench.record import Budgets
from workbench.results import engines, human, label
from workbench.results.engines import SPEEDUP, Agreement, FrontChanges

_BOTH, _NEITHER = "on both fronts", "on neither front"
_OUTSIDE = "not compared (never scored, over budget or infeasible)"
_COLOURS = {_BOTH: "#1f4e9c", _NEITHER: "#7aa6d6", _OUTSIDE: "#999999", "first": "#d62728", "second": "#2ca02c"}
_FASTER, _SLOWER = "#2ca02c", "#d62728"


def _plain(values: Iterable[Any]) -> list[float | None]:
    """Floats for plotly, None (a gap) for anything not measured: never 0."""
    out: list[float | None] = []
    for value in values:
        number = record.finite_number(value)
        out.append(None if number is None else float(number))
    return out


def _hover(part: pd.DataFrame, targets: Iterable[str]) -> list[str]:
    """Trial, status, accuracy and each target's p50/p90 (noisy flagged) for every row."""
    targets = list(targets)
    texts = []
    for row in part.to_dict("records"):
        lines = [f"<b>trial {int(row['number'])}</b> ({row.get('status')})",
                 f"accuracy {results.accuracy_text(row)}"]
        for target in targets:
            p90 = row.get(record.target_column(record.LATENCY_P90, target))
            noisy = row.get(record.target_column(record.LATENCY_NOISY, target)) is True
            lines.append(f"{target}: p50 {human(row.get(engines.p50(target)), record.LATENCY_P50)}, "
                         f"p90 {human(p90, record.LATENCY_P90)}" + (" (noisy)" if noisy else ""))
        texts.append("<br>".join(lines))
    return texts


def _membership(pool: pd.DataFrame, changes: FrontChanges) -> pd.Series:
    """Each row's front membership across the two targets (as `changes` found it)."""
    first, second = f"on {changes.first}'s front only", f"on {changes.second}'s front only"
    names = {**{n: _NEITHER for n in changes.compared}, **{n: _BOTH for n in changes.both},
             **{n: first for n in changes.only_first}, **{n: second for n in changes.only_second}}
    return pd.Series([names.get(int(n), _OUTSIDE) for n in pool["number"]], index=pool.index, dtype=object)


def latency_pair_figure(frame: pd.DataFrame, changes: FrontChanges, agreement: Agreement) -> go.Figure:
    """p50 on `changes.second` (y) against p50 on `changes.first` (x), log axes, one point per
    architecture timed on both; colour says on which target's accuracy-vs-latency front it is.
    The dotted diagonal is equal latency; the title carries Kendall tau and its interval."""
    first, second = changes.first, changes.second
    pool = engines.timed_on_both(frame, first, second)
    fig = go.Figure()
    if pool.empty:
        note(fig, f"no architecture was timed on both {first} and {second}")
    else:
        membership = _membership(pool, changes)
        order = [_OUTSIDE, _NEITHER, f"on {first}'s front only", f"on {second}'s front only", _BOTH]
        colours = {**_COLOURS, order[2]: _COLOURS["first"], order[3]: _COLOURS["second"]}
        for name in order:
            part = pool[membership == name]
            if part.empty:
                continue
            fig.add_trace(go.Scatter(
                x=_plain(part[engines.p50(first)]), y=_plain(part[engines.p50(second)]), mode="markers",
                name=f"{name} ({len(part)})", customdata=part["number"].to_numpy(),
                marker={"size": 11 if name != _OUTSIDE else 8, "color": colours[name],
                        "symbol": "x" if name == _OUTSIDE else "circle", "opacity": 0.9},
                text=_hover(part, [first, second]), hovertemplate="%{text}<extra></extra>"))
        values = pd.concat([pool[engines.p50(first)], pool[engines.p50(second)]]).astype(float)
        low, high = float(values.min()) / 1.2, float(values.max()) * 1.2
        fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="equal latency",
                                 line={"dash": "dot", "color": "#888"}, hoverinfo="skip"))
    tau = f"Kendall tau {agreement.tau:.2f} [{agreement.low:.2f}, {agreement.high:.2f}], n={agreement.n}" \
        if math.isfinite(agreement.tau) else f"n={agreement.n}, too few for a Kendall tau"
    fig.update_layout(template=TEMPLATE, title=f"Latency p50 on {second} vs on {first} — {tau}",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
                      margin={"l": 60, "r": 20, "t": 90, "b": 50}, hovermode="closest")
    fig.update_xaxes(type="log", title_text=label(engines.p50(first)))
    fig.update_yaxes(type="log", title_text=label(engines.p50(second)))
    return fig


def int8_figure(table: pd.DataFrame, fp32_target: str | None, int8_target: str) -> go.Figure:
    """Per architecture: the int8 speed-up on ONNX Runtime (fp32 p50 / int8 p50; below the line
    at 1 int8 is slower, drawn in red) above the int8 accuracy drop (fp32 - int8) with its 95%
    paired interval as error bars. Architectures without a figure have no bar or point."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=(f"int8 speed-up ({fp32_target} p50 / {int8_target} p50)" if fp32_target
                                        else "int8 speed-up: the study times no fp32 ONNX Runtime target",
                                        "int8 accuracy drop (fp32 - int8, 95% paired interval)"))
    if table.empty:
        note(fig, "no architecture has int8 figures")
    else:
        names = [f"trial {int(n)}" for n in table["number"]]
        speed = _plain(table[SPEEDUP])
        colours = [_SLOWER if s is not None and s < 1 else _FASTER for s in speed]
        fig.add_trace(go.Bar(x=names, y=speed, marker_color=colours, name="int8 speed-up", showlegend=False,
                             customdata=table["number"].to_numpy(),
                             text=[f"{s:.2f}×" if s is not None else "not timed" for s in speed],
                             hovertemplate="%{x}: %{text}<extra></extra>"), row=1, col=1)
        fig.add_hline(y=1.0, line={"dash": "dash", "color": "#555"}, row=1, col=1,
                      annotation_text="1× (below: int8 slower)", annotation_position="top left")
        drop, low, high = (_plain(table[c]) for c in ("int8_drop", "int8_drop_ci_low", "int8_drop_ci_high"))
        fig.add_trace(go.Scatter(
            x=names, y=drop, mode="markers", name="int8 accuracy drop", showlegend=False,
            customdata=table["number"].to_numpy(), marker={"size": 10, "color": "#1f4e9c"},
            error_y={"type": "data", "symmetric": False, "thickness": 1.2, "width": 4,
                     "array": [None if d is None or h is None else h - d for d, h in zip(drop, high)],
                     "arrayminus": [None if d is None or lo is None else d - lo for d, lo in zip(drop, low)]},
            hovertemplate="%{x}: drop %{y:.4f}<extra></extra>"), row=2, col=1)
        fig.add_hline(y=0.0, line={"dash": "dot", "color": "#555"}, row=2, col=1)
    fig.update_yaxes(title_text="speed-up (×)", row=1, col=1)
    fig.update_yaxes(title_text="accuracy drop", row=2, col=1)
    fig.update_layout(template=TEMPLATE, title=f"What int8 buys on ONNX Runtime — {len(table)} architectures",
                      margin={"l": 60, "r": 20, "t": 90, "b": 50}, height=560)
    return fig


def int8_front_figure(frame: pd.DataFrame, int8_target: str, budgets: Budgets | None = None) -> go.Figure:
    """int8 accuracy (95% Wilson interval) against p50 on `int8_target`: the front within the
    budgets as a step line, the other scored architectures faded; each architecture once."""
    column = engines.p50(int8_target)
    axes = [engines.INT8_OBJECTIVE, engines.latency_objective(int8_target)]
    pool = results.candidates(frame, axes) if column in frame and engines.INT8_ACCURACY in frame else frame.head(0)
    front = engines.int8_front(pool, int8_target, budgets)
    fig = go.Figure()
    groups = (("dominated or over budget", pool.drop(front.index), {"color": "#7aa6d6", "opacity": 0.5}),
              ("int8 front", front, {"color": "#1f4e9c", "opacity": 1.0}))
    for name, part, style in groups:
        if part.empty:
            continue
        if name == "int8 front":
            fig.add_trace(go.Scatter(x=_plain(part[column]), y=_plain(part[engines.INT8_ACCURACY]), mode="lines",
                                     line={"shape": "hv", "color": style["color"]}, hoverinfo="skip",
                                     showlegend=False))
        accuracy = np.asarray(_plain(part[engines.INT8_ACCURACY]), dtype=float)
        fig.add_trace(go.Scatter(
            x=_plain(part[column]), y=_plain(part[engines.INT8_ACCURACY]), mode="markers", name=f"{name} ({len(part)})",
            customdata=part["number"].to_numpy(), marker={"size": 11, **style},
            error_y={"type": "data", "symmetric": False, "thickness": 1,
                     "array": _plain(part["int8_ci_high"].astype(float) - accuracy),
                     "arrayminus": _plain(accuracy - part["int8_ci_low"].astype(float))},
            text=_hover(part, [int8_target]), hovertemplate="%{text}<br>int8 accuracy %{y:.4f}<extra></extra>"))
    if pool.empty:
        note(fig, "no scored architecture has an int8 accuracy and an int8 latency")
    fig.update_layout(template=TEMPLATE, title=f"int8 accuracy vs {label(column)} — {len(pool)} architectures",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
                      margin={"l": 60, "r": 20, "t": 80, "b": 50})
    fig.update_xaxes(title_text=label(column))
    fig.update_yaxes(title_text="int8 accuracy (95% interval)")
    return fig
