"""The plotly figures and tables a study is shown with, shared by the dashboard and the HTML report.

Every builder takes plain pandas data from `workbench.results` (a trials frame, a front, a
hypervolume history) and returns a `go.Figure` or a table; none of them reads storage.

* `front` — the accuracy-versus-cost charts: `front_info` computes what one shows, once;
  `draw_front` (or `pareto_figure`, both steps) draws it; the 3-D front;
* `engines` — latency on one target against another, int8 speed-up and drop, the int8 front;
* `charts` — hypervolume, knob importance, MACs against latency, several fronts, a curve;
* `tables` — one architecture stage by stage, and its per-layer MACs and parameters;
* `style` — the template, the hover text of a trial, the note on an empty figure;
* `scale` — WebGL past a few hundred points, a labelled sample of the dominated cloud.

The sentences (labels, numbers, accuracies with their intervals) are `workbench.results.text`'s.
"""

from workbench.figures.charts import (
    compare_figure,
    hypervolume_figure,
    importance_figure,
    macs_latency_figure,
    validation_curve_figure,
)
from workbench.figures.engines import int8_figure, int8_front_figure, latency_pair_figure
from workbench.figures.front import (
    AXIS_BUDGET,
    BAND_NAME,
    DOMINATED,
    FRONT,
    INFEASIBLE,
    NEVER_SCORED,
    OVER_BUDGET,
    FrontInfo,
    axis_budget,
    axis_limit,
    axis_objectives,
    cost_objective,
    draw_front,
    front_info,
    interval,
    never_scored,
    pareto_3d_figure,
    pareto_figure,
    point_categories,
    tie_shading,
)
from workbench.figures.style import TEMPLATE, hover_texts, note
from workbench.figures.tables import architecture_table, layer_table

__all__ = [
    "AXIS_BUDGET", "BAND_NAME", "DOMINATED", "FRONT", "INFEASIBLE", "NEVER_SCORED", "OVER_BUDGET", "TEMPLATE",
    "FrontInfo", "architecture_table", "axis_budget", "axis_limit", "axis_objectives", "compare_figure",
    "cost_objective", "draw_front", "front_info", "hover_texts", "hypervolume_figure", "importance_figure",
    "interval", "layer_table", "macs_latency_figure", "never_scored", "note", "pareto_3d_figure", "pareto_figure",
    "point_categories", "tie_shading", "validation_curve_figure", "int8_figure", "int8_front_figure",
    "latency_pair_figure",
]
