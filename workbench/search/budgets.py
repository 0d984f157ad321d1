"""Budgets checked before a search: no point of the space may be unable to meet them.

The cheapest corner of a space (smallest widths, depths and kernels, largest ratio, SE off,
every cheap-op choice) is built and counted when the file is loaded (`check_cost_budgets`:
params and MACs) and timed on the search device when the search starts
(`check_latency_budget`). A budget even that corner misses is refused, naming the field.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import WorkbenchError
from workbench.search.sampling import arch_from_params, param_names
from workbench.search.space import KNOB_TABLE, SearchSpace


def cheapest_corners(space: SearchSpace) -> list[dict[str, Any]]:
    """Knob assignments (as trial params) of the cheapest corner(s) of the space: smallest
    widths, depths and kernels, largest ratio, SE off; every cheap-op choice is tried."""
    corners: list[dict[str, Any]] = [{}]
    for name, spec in space.knobs.items():
        options = spec.values_for_corner(KNOB_TABLE[name][2])
        params = param_names(space, name)
        corners = [{**corner, **{p: value for p in params}} for corner in corners for value in options]
    return corners


def check_cost_budgets(space: SearchSpace) -> list[dict[str, Any]]:
    """Refuse a params/MACs budget that even the cheapest corner exceeds; returns the
    counted corners (params, macs, knobs)."""
    budgets = space.budgets
    if budgets.max_params is None and budgets.max_macs is None:
        return []
    from workbench.models import build_model
    from workbench.profiling import count_model

    counted = []
    for params in cheapest_corners(space):
        arch = arch_from_params(space, params)
        counts = count_model(build_model(arch), arch)
        counted.append({"params": counts.params, "macs": counts.macs, "knobs": params})
    for key, field in (("params", "max_params"), ("macs", "max_macs")):
        limit = getattr(budgets, field)
        best = min(counted, key=lambda c: c[key])
        if limit is not None and best[key] > limit:
            raise WorkbenchError(
                f"{space.source}: budgets.{field}: no point of the space can meet {limit:g}: its cheapest corner "
                f"({_describe(best['knobs'])}) has {best[key]:,} {key}"
            )
    return counted


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "the base architecture"


def check_latency_budget(space: SearchSpace, protocol: Any) -> None:
    """Refuse a latency budget that even the cheapest corner of the space misses (measured
    with the space's protocol on the search device)."""
    limit = space.budgets.max_latency_ms
    if limit is None or protocol is None:
        return
    from workbench.profiling import profile_arch

    best = None
    for params in cheapest_corners(space):
        arch = arch_from_params(space, params)
        result = profile_arch(arch, protocol)
        if result.latency is not None and result.latency.available:
            best = result.latency.p50_ms if best is None else min(best, result.latency.p50_ms)
    if best is not None and best > limit:
        raise WorkbenchError(
            f"{space.source}: budgets.max_latency_ms: no point of the space can meet {limit:g} ms: its cheapest corner "
            f"measures {best:.3g} ms (batch {protocol.batch_size}, {protocol.device})"
        )
