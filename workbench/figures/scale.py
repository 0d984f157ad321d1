"""What keeps a chart of 10,000 trials quick: WebGL traces past a few hundred points, and a
seeded sample of the dominated cloud (never of the front), said on the chart.

Example:
    >>> import pandas as pd
    >>> scatter_type(100).__name__, scatter_type(5000).__name__
    ('Scatter', 'Scattergl')
    >>> parts = {"dominated": pd.DataFrame({"number": range(900)}), "over budget": pd.DataFrame({"number": range(100)})}
    >>> {k: len(v) for k, v in sample_parts(parts, 500).items()}
    {'dominated': 450, 'over budget': 50}
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.graph_objects as go

# SVG draws a few hundred markers as fast as WebGL; past that WebGL is the norm (SVG slows with every node).
WEBGL_MIN_POINTS = 300
# The most dominated / over-budget / infeasible / never-scored points one chart draws.
MAX_CLOUD_POINTS = 2000
SEED = 0


def scatter_type(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    """`go.Scattergl` for a chart of more than `WEBGL_MIN_POINTS` points, else `go.Scatter`."""
    return go.Scattergl if n_points > WEBGL_MIN_POINTS else go.Scatter


def sample_parts(parts: Mapping[str, pd.DataFrame], cap: int | None = MAX_CLOUD_POINTS) -> dict[str, pd.DataFrame]:
    """At most `cap` rows over all `parts`, each part keeping its share (at least one row),
    drawn with a fixed seed and kept in their original order; every part whole when they fit."""
    total = sum(len(p) for p in parts.values())
    if cap is None or total <= cap:
        return dict(parts)
    out = {}
    for name, part in parts.items():
        keep = min(len(part), max(1, cap * len(part) // total))
        out[name] = part if keep >= len(part) else part.sample(n=keep, random_state=SEED).sort_index()
    return out

