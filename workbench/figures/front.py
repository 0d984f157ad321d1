"""The accuracy-versus-cost charts: only what was measured, with its uncertainty.

Scored trials are points with their 95% interval as error bars; the band of accuracies
that cannot be told from the best under the budgets is shaded and named in the legend;
never-scored trials (rejected, failed) sit in their own strip under the plot, on the cost
axis only; each architecture is drawn once; the accuracy axis spans the measured figures.

As Optuna's visualization does (`_get_pareto_front_info`, then plot), what a chart shows is
computed once (`front_info`: the axes, each point's category, the front, the sampled cloud, the
never-scored strip, the tie band) and then drawn (`draw_front`); the dashboard reads the same
`FrontInfo` for its captions and tables.

Example:
    >>> import pandas as pd
    >>> from workbench.record import OBJECTIVES
    >>> # accuracy ^   0 (0.9, 2M)  front        1 (0.8, 3M)  dominated by 0
    >>> #         |   2 (0.7, 1M)  front        3 rejected: never scored, on the cost axis only
    >>> frame = pd.DataFrame({"number": [0, 1, 2, 3], "state": "COMPLETE", "status": ["complete"] * 3 + ["rejected"],
    ...                       "scored": [True, True, True, False], "feasible": [True, True, True, False],
    ...                       "accuracy": [0.9, 0.8, 0.7, None], "macs": [2e6, 3e6, 1e6, 5e5]})
    >>> info = front_info(frame, [OBJECTIVES["accuracy"], OBJECTIVES["macs"]], "macs")
    >>> info.front["number"].tolist(), info.categories.dropna().to_dict(), info.strip["number"].tolist()
    ([2, 0], {0: 'Pareto front', 1: 'dominated', 2: 'Pareto front'}, [3])
    >>> [t.name for t in draw_front(info).data if t.customdata is not None]
    ['dominated (1)', 'Pareto front (2)', 'rejected, never scored (1)']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from workbench import record, results
from workbench.errors import WorkbenchError
from workbench.figures import scale
from workbench.figures.style import TEMPLATE, hover_texts, note
from workbench.record import OBJECTIVES, Budgets, Objective
from workbench.results import human, label
from workbench.stats import Z95, tie_band

# Which budget bounds which axis (p90 has no budget of its own: budgets bound p50); a target's
# p50 (`latency_p50_ms:<target>`) is bounded by `max_latency_ms:<target>` (`axis_budget`).
AXIS_BUDGET: dict[str, str] = {record.MACS: "max_macs", record.PARAMS: "max_params",
                               record.LATENCY_P50: "max_latency_ms"}

# Point categories, in drawing order (later ones on top).
INFEASIBLE, OVER_BUDGET, DOMINATED, FRONT = "infeasible", "over budget", "dominated", "Pareto front"
STYLE: dict[str, dict[str, Any]] = {
    INFEASIBLE: {"symbol": "x", "color": "#d62728", "opacity": 0.55, "size": 8},
    OVER_BUDGET: {"symbol": "diamond-open", "color": "#ff7f0e", "opacity": 0.6, "size": 9},
    DOMINATED: {"symbol": "circle", "color": "#7aa6d6", "opacity": 0.35, "size": 8},
    FRONT: {"symbol": "circle", "color": "#1f4e9c", "opacity": 1.0, "size": 11},
}
# The never-scored strip: its y label and a marker per status.
NEVER_SCORED = "never scored"
_STRIP_STYLE: dict[str, dict[str, Any]] = {
    "rejected": {"symbol": "x", "color": "#d62728", "size": 8, "opacity": 0.7},
    "failed": {"symbol": "triangle-down", "color": "#555555", "size": 8, "opacity": 0.7},
}
_STRIP_KEY = "never scored: "  # the strip's parts among the sampled cloud, by status
_STRIP_DEFAULT = {"symbol": "circle-open", "color": "#888888", "size": 8, "opacity": 0.7}
BAND_NAME = "indistinguishable from the best"
_BAND_COLOUR = "#2ca02c"


def cost_objective(cost_column: str) -> Objective:
    """The minimised objective for a cost column (latency p90 has none registered); a
    target's p50 is that target's objective.

    Example:
        >>> cost_objective("latency_p50_ms:ort-int8").name, cost_objective("macs").name
        ('latency_ms:ort-int8', 'macs')
    """
    base, target = record.split_target(cost_column)
    if target is not None and base == record.LATENCY_P50:
        return record.objective(f"latency_ms{record.TARGET_SEP}{target}")
    for objective in OBJECTIVES.values():
        if objective.column == cost_column:
            return objective
    return Objective(cost_column, cost_column, "minimize")


def axis_budget(cost_column: str) -> str | None:
    """The budget that bounds a cost axis (`AXIS_BUDGET`, per target for a target's p50), or None.

    Example:
        >>> axis_budget("latency_p50_ms:ort-int8"), axis_budget("macs"), axis_budget("latency_p90_ms")
        ('max_latency_ms:ort-int8', 'max_macs', None)
    """
    base, target = record.split_target(cost_column)
    budget = AXIS_BUDGET.get(base)
    return None if budget is None else f"{budget}{record.TARGET_SEP}{target}" if target else budget


def axis_limit(budgets: Budgets | None, cost_column: str, first_target: str | None = None) -> float | None:
    """The budget on a cost axis, or None. The plain latency budget bounds the first target, so
    with `first_target` it also bounds that target's axis, and that target's budget the plain axis.

    Example:
        >>> budgets = Budgets(max_latency_ms=2.0)
        >>> axis_limit(budgets, "latency_p50_ms"), axis_limit(budgets, "latency_p50_ms:ort", "ort")
        (2.0, 2.0)
        >>> axis_limit(Budgets(max_latency_ms={"ort": 1.5}), "latency_p50_ms:int8", "ort") is None
        True
    """
    budget = axis_budget(cost_column)
    if budgets is None or budget is None:
        return None
    limits = budgets.limits()
    if budget in limits or not first_target:
        return limits.get(budget)
    plain, first = record.CONSTRAINT_LATENCY, f"{record.CONSTRAINT_LATENCY}{record.TARGET_SEP}{first_target}"
    return limits.get({plain: first, first: plain}.get(budget, budget))


def axis_objectives(objectives: Sequence[Objective], cost_column: str, by: str = "proxy") -> list[Objective]:
    """The 2-D objectives of an accuracy-versus-cost chart: the study's maximised objective
    (accuracy; the confirmed accuracy with `by="confirmed"`) and the chosen cost column."""
    accuracy = next((o for o in objectives if o.direction == "maximize"), OBJECTIVES["accuracy"])
    if by != "proxy":
        accuracy = results.accuracy_axis(by)[0]
    return [accuracy, cost_objective(cost_column)]


def point_categories(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> pd.Series:
    """For each scored trial with all `objectives` measured, one per architecture: front,
    dominated, over budget or infeasible (breaks a constraint stored with the study); NaN
    for trials not plotted (never scored, a `reused` copy, unfinished)."""
    categories = pd.Series(np.nan, index=frame.index, dtype=object)
    if frame.empty:
        return categories
    measured = frame["state"].eq("COMPLETE") & results.scored_mask(frame)
    for objective in objectives:
        measured &= frame[objective.column].notna()
    measured &= frame.index.isin(results.dedupe_architectures(frame[measured]).index)
    feasible = measured & frame["feasible"].astype(bool)
    within = feasible & (budgets.mask(frame) if budgets is not None else True)
    categories[measured] = INFEASIBLE
    categories[feasible] = OVER_BUDGET
    categories[within] = DOMINATED
    categories[results.pareto_front(frame, objectives, budgets).index] = FRONT
    return categories


def never_scored(frame: pd.DataFrame, cost_column: str) -> pd.DataFrame:
    """The trials that were never scored but have the cost figure (one per architecture):
    what the strip under the chart shows."""
    if frame.empty or cost_column not in frame:
        return frame.head(0)
    return results.dedupe_architectures(frame[~results.scored_mask(frame) & frame[cost_column].notna()])


def _color_spec(frame: pd.DataFrame, color_by: str | None) -> tuple[str, dict[Any, str]] | None:
    """('numeric', {}) or ('category', {value: colour}) for a knob column, None if absent."""
    if not color_by or color_by not in frame.columns:
        return None
    values = frame[color_by].dropna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return "numeric", {}
    palette = qualitative.Plotly
    return "category", {value: palette[i % len(palette)] for i, value in enumerate(sorted(values.unique(), key=str))}


def _marker(category: str, part: pd.DataFrame, color_by: str | None,
            spec: tuple[str, dict[Any, str]] | None) -> dict[str, Any]:
    style = STYLE[category]
    marker: dict[str, Any] = {key: style[key] for key in ("symbol", "size", "opacity", "color")}
    if spec is not None and color_by is not None:
        kind, colours = spec
        if kind == "numeric":
            marker.update(color=part[color_by].to_numpy(), coloraxis="coloraxis")
        else:
            marker["color"] = [colours.get(v, "#999999") for v in part[color_by]]
    if category == FRONT:
        marker["line"] = {"width": 1.5, "color": "#0b2347"}
    return marker


def interval(part: pd.DataFrame, by: str = "proxy") -> tuple[pd.Series, pd.Series]:
    """The (low, high) 95% interval of each row's accuracy: the stored Wilson interval of the
    proxy accuracy, or the confirmed mean ± 1.96 se. NaN where unknown."""
    if by == "proxy":
        nan = pd.Series(np.nan, index=part.index)
        return (part[record.ACCURACY_CI_LOW].astype(float) if record.ACCURACY_CI_LOW in part else nan,
                part[record.ACCURACY_CI_HIGH].astype(float) if record.ACCURACY_CI_HIGH in part else nan)
    accuracy = part[record.CONFIRMED_ACCURACY].astype(float)
    half = Z95 * part[results.CONFIRMED_SE].astype(float)
    return accuracy - half, accuracy + half


def _error_bars(part: pd.DataFrame, accuracy: str, by: str, colour: str) -> dict[str, Any] | None:
    low, high = interval(part, by)
    if low.isna().all() and high.isna().all():
        return None
    values = part[accuracy].astype(float)

    def plain(series: pd.Series) -> list[float | None]:
        return [None if not math.isfinite(v) else float(v) for v in series]

    return {"type": "data", "symmetric": False, "array": plain(high - values), "arrayminus": plain(values - low),
            "thickness": 1, "width": 0, "color": colour}


def tie_shading(frame: pd.DataFrame, budgets: Budgets | None, by: str = "proxy") -> tuple[float, float, int] | None:
    """(low, high, trials) of the band of accuracies indistinguishable from the best under the
    budgets: from the best's accuracy down by the tie band of two trials with its standard
    error; None when nothing is feasible or the noise is unknown."""
    try:
        tied = results.indistinguishable_from_best(frame, budgets, by=by)
    except WorkbenchError:
        return None
    if tied.empty:
        return None
    accuracy, se_column = results.accuracy_axis(by)
    best = tied.iloc[0]
    se = float(best[se_column]) if se_column in best else math.nan
    if not math.isfinite(se) or se <= 0:
        return None
    top = float(best[accuracy.column])
    return top - tie_band(se, se), top, len(tied)


def _y_range(plotted: pd.DataFrame, accuracy: str, by: str,
             band: tuple[float, float, int] | None) -> list[float] | None:
    """An accuracy axis that spans the measured accuracies, their intervals and the tie band."""
    if plotted.empty:
        return None
    low, high = interval(plotted, by)
    values = pd.concat([plotted[accuracy].astype(float), low, high]).dropna()
    if band is not None:
        values = pd.concat([values, pd.Series(band[:2])])
    lo, hi = float(values.min()), float(values.max())
    pad = 0.08 * (hi - lo) if hi > lo else max(0.005, 0.05 * abs(hi))
    return [lo - pad, hi + pad]


@dataclass(frozen=True)
class FrontInfo:
    """What an accuracy-versus-cost chart shows, computed once (`front_info`).

    `categories` names each plotted row's category (NaN: not plotted); `front` is the Pareto
    front within the budgets, sorted by cost; `cloud` holds every other drawn group whole (by
    category, and `never scored: <status>` for the strip) and `drawn` what of it is drawn (a
    seeded sample past `max_cloud`); `band` is the tie band `(low, high, trials)`."""

    frame: pd.DataFrame
    axes: list[Objective]
    cost_column: str
    budgets: Budgets | None
    by: str
    categories: pd.Series
    front: pd.DataFrame
    strip: pd.DataFrame
    cloud: dict[str, pd.DataFrame]
    drawn: dict[str, pd.DataFrame]
    band: tuple[float, float, int] | None

    @property
    def accuracy(self) -> str:
        """The column of the accuracy axis."""
        return self.axes[0].column

    @property
    def plotted(self) -> pd.DataFrame:
        """The rows drawn on the accuracy axis (scored, each architecture once)."""
        return self.frame[self.categories.notna()]


def front_info(frame: pd.DataFrame, objectives: Sequence[Objective], cost_column: str, budgets: Budgets | None = None,
               *, by: str = "proxy", max_cloud: int | None = scale.MAX_CLOUD_POINTS) -> FrontInfo:
    """Everything an accuracy-versus-`cost_column` chart shows, computed once (see `FrontInfo`)."""
    axes = axis_objectives(objectives, cost_column, by)
    accuracy = axes[0].column
    has_accuracy = accuracy in frame
    categories = point_categories(frame, axes, budgets) if has_accuracy else \
        pd.Series(np.nan, index=frame.index, dtype=object)
    strip = never_scored(frame, cost_column)
    cloud = {c: frame[categories == c] for c in (INFEASIBLE, OVER_BUDGET, DOMINATED)}
    cloud.update({_STRIP_KEY + str(status): part for status, part in strip.groupby("status", sort=True)})
    cloud = {k: v for k, v in cloud.items() if not v.empty}
    front = frame[categories == FRONT].sort_values([cost_column, "number"])
    return FrontInfo(frame=frame, axes=axes, cost_column=cost_column, budgets=budgets, by=by, categories=categories,
                     front=front, strip=strip, cloud=cloud, drawn=scale.sample_parts(cloud, max_cloud),
                     band=tie_shading(frame, budgets, by) if has_accuracy else None)


def pareto_figure(
    frame: pd.DataFrame,
    objectives: Sequence[Objective],
    cost_column: str,
    budgets: Budgets | None = None,
    color_by: str | None = None,
    highlight: int | None = None,
    *,
    protocol: Mapping[str, Any] | None = None,
    by: str = "proxy",
    max_cloud: int | None = scale.MAX_CLOUD_POINTS,
) -> go.Figure:
    """Accuracy against `cost_column`: each scored architecture once, never-scored trials in
    a strip below (`draw_front` of `front_info`).

    The Pareto front of accuracy versus that cost (within `budgets`) is a step line through
    its trials; dominated trials are faded, trials over the `budgets` are open diamonds and
    trials breaking the study's own constraints are crosses. Each point carries its 95%
    interval as an error bar; the accuracies indistinguishable from the best within the
    budgets are shaded (legend: "indistinguishable from the best"). Rejected and failed
    trials never had an accuracy: they are marked on the cost axis in a strip labelled
    "never scored". `by="confirmed"` plots `workbench confirm`'s accuracy instead (trials
    without a confirmation are left out). `color_by` colours the points by a `knob_*`
    column; `highlight` (a trial number, e.g. the best pick) gets a star and its name.
    Hover shows trial number, knobs, every figure and the latency `protocol` (default:
    `frame.attrs["latency_protocol"]`, else the trial's device).

    Past `scale.WEBGL_MIN_POINTS` points the markers are WebGL (`scattergl`). The front is
    always drawn whole; past `max_cloud` other points (dominated, over budget, infeasible,
    never scored) a seeded sample of them is drawn, and the title and legend say so.
    """
    info = front_info(frame, objectives, cost_column, budgets, by=by, max_cloud=max_cloud)
    return draw_front(info, color_by, highlight, protocol=protocol)


def draw_front(info: FrontInfo, color_by: str | None = None, highlight: int | None = None, *,
               protocol: Mapping[str, Any] | None = None) -> go.Figure:
    """The chart of a `FrontInfo` (see `pareto_figure`)."""
    frame, cost_column, accuracy, front, drawn = info.frame, info.cost_column, info.accuracy, info.front, info.drawn
    protocol = protocol if protocol is not None else frame.attrs.get("latency_protocol")
    strip = info.strip
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.86, 0.14], vertical_spacing=0.03) \
        if not strip.empty else make_subplots(rows=1, cols=1)
    spec = _color_spec(frame, color_by)
    trace = scale.scatter_type(len(front) + sum(len(p) for p in drawn.values()))
    for category in (INFEASIBLE, OVER_BUDGET, DOMINATED, FRONT):
        part = front if category == FRONT else drawn.get(category, front.head(0))
        if part.empty:
            continue
        if category == FRONT:
            fig.add_trace(go.Scatter(
                x=part[cost_column], y=part[accuracy], mode="lines",
                line={"shape": "hv", "color": "#1f4e9c", "width": 2},
                name="Pareto front", hoverinfo="skip", legendgroup="front", showlegend=False,
            ), row=1, col=1)
        fig.add_trace(trace(
            x=part[cost_column], y=part[accuracy], mode="markers",
            name=f"{category} ({_count(part, info.cloud.get(category))})",
            marker=_marker(category, part, color_by, spec), text=hover_texts(part, protocol),
            error_y=_error_bars(part, accuracy, info.by, STYLE[category]["color"]),
            customdata=part["number"].to_numpy(), hovertemplate="%{text}<extra></extra>",
            legendgroup="front" if category == FRONT else category,
        ), row=1, col=1)
    _add_strip(fig, drawn, info.cloud, cost_column, protocol, trace)
    _add_band(fig, info.band)
    _add_budget_line(fig, cost_column, info.budgets, rows=2 if not strip.empty else 1,
                     targets=frame.attrs.get("latency_targets") or ())
    plotted = info.plotted
    if highlight is not None and highlight in set(plotted["number"]):
        best = plotted[plotted["number"] == highlight].iloc[0]
        fig.add_trace(go.Scatter(
            x=[best[cost_column]], y=[best[accuracy]], mode="markers+text", name=f"best: trial {highlight}",
            marker={"symbol": "star", "size": 20, "color": "#f2c80f", "line": {"width": 1.5, "color": "#5a4a00"}},
            text=[f"best: trial {highlight}"], textposition="top left", hoverinfo="skip",
        ), row=1, col=1)
    if spec is not None and color_by is not None:
        _add_colour_legend(fig, color_by, spec)
    _layout(fig, accuracy, cost_column, len(plotted), len(strip), _y_range(plotted, accuracy, info.by, info.band),
            info.by, results.frame_label(frame)(cost_column))
    _say_sampled(fig, len(front), sum(len(p) for p in drawn.values()), sum(len(p) for p in info.cloud.values()))
    if plotted.empty and strip.empty:
        note(fig, "no measured trials to plot yet")
    return fig


def _count(part: pd.DataFrame, whole: pd.DataFrame | None) -> str:
    """'12' for a part drawn whole, '7,950; 1,200 drawn' for a sampled one."""
    total = len(part) if whole is None else len(whole)
    return f"{total}" if len(part) >= total else f"{total:,}; {len(part):,} drawn"


def _say_sampled(fig: go.Figure, n_front: int, n_drawn: int, n_cloud: int) -> None:
    """Name the sampling in the title: the front is whole, the rest is a sample."""
    if n_drawn < n_cloud:
        fig.update_layout(title_text=f"{fig.layout.title.text}<br><sup>All {n_front} front trials drawn; "
                                     f"the other points are a seeded sample of {n_drawn:,} of {n_cloud:,} "
                                     "(the legend gives each group's full count)</sup>")


def _layout(fig: go.Figure, accuracy: str, cost_column: str, n_plotted: int, n_strip: int, y_range: list[float] | None,
            by: str, cost_label: str | None = None) -> None:
    which = "confirmed" if by == "confirmed" else "scored"
    cost_label = cost_label or label(cost_column)
    title = f"{label(accuracy)} vs {cost_label} — {n_plotted} {which} trials"
    if n_strip:
        title += f", {n_strip} never scored"
    fig.update_layout(
        template=TEMPLATE, title=title, hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
    )
    fig.update_yaxes(title_text=label(accuracy) + (" (95% interval)" if n_plotted else ""), range=y_range, row=1, col=1)
    fig.update_xaxes(title_text=cost_label, row=2 if n_strip else 1, col=1)
    if n_strip:
        fig.update_yaxes(type="category", categoryarray=[NEVER_SCORED], showgrid=False, fixedrange=True, row=2, col=1)


def _add_strip(fig: go.Figure, drawn: Mapping[str, pd.DataFrame], whole: Mapping[str, pd.DataFrame], cost_column: str,
               protocol: Mapping[str, Any] | None, trace: type[go.Scatter] | type[go.Scattergl]) -> None:
    """The never-scored trials on the cost axis, one trace per status, in the lower row."""
    for key, part in drawn.items():
        if not key.startswith(_STRIP_KEY):
            continue
        status = key[len(_STRIP_KEY):]
        style = _STRIP_STYLE.get(str(status), _STRIP_DEFAULT)
        fig.add_trace(trace(
            x=part[cost_column], y=[NEVER_SCORED] * len(part), mode="markers",
            name=f"{status}, {NEVER_SCORED} ({_count(part, whole.get(key))})",
            marker=dict(style), text=hover_texts(part, protocol), customdata=part["number"].to_numpy(),
            hovertemplate="%{text}<extra></extra>", legendgroup=NEVER_SCORED,
        ), row=2, col=1)


def _add_band(fig: go.Figure, band: tuple[float, float, int] | None) -> None:
    if band is None:
        return
    low, high, n = band
    fig.add_hrect(y0=low, y1=high, row=1, col=1, fillcolor=_BAND_COLOUR, opacity=0.13, line_width=0, layer="below",
                  name=f"{BAND_NAME} ({n} trial{'s' if n != 1 else ''})", showlegend=True)


def _add_budget_line(fig: go.Figure, cost_column: str, budgets: Budgets | None, rows: int = 1,
                     targets: Sequence[str] = ()) -> None:
    """The budget as a dashed line through the chart (named once) and the strip below it."""
    limit = axis_limit(budgets, cost_column, next(iter(targets), None))
    if limit is None:
        return
    line = {"dash": "dash", "color": "#ff7f0e"}
    fig.add_vline(x=limit, line=line, annotation_text=f"budget {human(limit, cost_column)}",
                  annotation_position="top right",
                  row=1, col=1, exclude_empty_subplots=False)
    if rows > 1:
        fig.add_vline(x=limit, line=line, row=2, col=1, exclude_empty_subplots=False)


def _add_colour_legend(fig: go.Figure, color_by: str, spec: tuple[str, dict[Any, str]]) -> None:
    kind, colours = spec
    if kind == "numeric":
        fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": label(color_by)}}})
        return
    for value, colour in colours.items():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker={"color": colour, "size": 10},
                                 name=f"{label(color_by)}={value}", legendgroup=f"colour-{value}"), row=1, col=1)


def pareto_3d_figure(frame: pd.DataFrame, objectives: Sequence[Objective], budgets: Budgets | None = None) -> go.Figure:
    """The three objectives of a three-objective study in 3-D: front opaque, dominated
    faded, over-budget and infeasible trials marked; scored trials only, each architecture once."""
    axes = list(objectives)[:3]
    categories = point_categories(frame, axes, budgets)
    symbols = {INFEASIBLE: "x", OVER_BUDGET: "diamond-open", DOMINATED: "circle", FRONT: "diamond"}
    fig = go.Figure()
    for category in (INFEASIBLE, OVER_BUDGET, DOMINATED, FRONT):
        part = frame[categories == category]
        if part.empty:
            continue
        style = STYLE[category]
        fig.add_trace(go.Scatter3d(
            x=part[axes[0].column], y=part[axes[1].column], z=part[axes[2].column] if len(axes) > 2 else None,
            mode="markers", name=f"{category} ({len(part)})",
            text=hover_texts(part, frame.attrs.get("latency_protocol")),
            hovertemplate="%{text}<extra></extra>",
            marker={"symbol": symbols[category], "size": 6 if category == FRONT else 4, "color": style["color"],
                    "opacity": style["opacity"]},
        ))
    scene = {f"{axis}axis_title": label(o.column) for axis, o in zip("xyz", axes)}
    title = "Three objectives (scored trials) — " + " / ".join(label(o.column) for o in axes)
    fig.update_layout(template=TEMPLATE, title=title,
                      scene=scene, margin={"l": 0, "r": 0, "t": 60, "b": 0}, legend={"orientation": "h"})
    return fig
