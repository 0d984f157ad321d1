"""The checks of a space that need what its names refer to, run before any trial.

`check_space` checks the knobs against the base architecture, objectives against the latency
section, the ladder and pre-screen against the rest of the space, the recipe and the proxy.
Budgets: no point of the space may be unable to meet them.

The cheapest corner of a space (smallest widths, depths and kernels, largest ratio, SE off,
every cheap-op choice) is built and counted when the file is loaded (`check_cost_budgets`:
params and MACs) and timed on the search device when the search starts
(`check_latency_budget`). A budget even that corner misses is refused, naming the field.
"""

from __future__ import annotations

import math
from typing import Any

from workbench.config.arch import MAX_KERNEL, ArchConfig
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.models.build import MAX_PARAMS, model_size
from workbench.profiling import count_model, profile_arch
from workbench.search.arch_sampling import arch_from_params, param_names
from workbench.search.ladder_spec import FidelitySpec, PrescreenSpec
from workbench.search.space import ATTENTION_CHOICES, GHOST_CHOICES, KNOB_TABLE, KnobSpec, SearchSpace
from workbench.search.space_resolve import ResolvedSpace, base_arch, latency_targets, proxy_recipe
from workbench.training import ZERO_COST_PROXIES

# The family knobs, and what they put into a network (for the refusal on a base without blocks).
_FAMILY_KNOBS = {"attention": "SE and DFC attention", "ghost": "RepGhost modules"}
# Knobs whose values must be odd kernel sizes.
_KERNEL_KNOBS = ("dw_size", "primary_kernel", "kernel")
# The most blocks a stage may grow to (GhostNet's deepest stage has 6): a bound, not a taste.
MAX_DEPTH = 32
# The dearer direction of each knob's cheaper one (KNOB_TABLE), for the space's largest corner.
_DEARER = {"low": "high", "high": "low", "false": "true", "any": "any"}


def cheapest_corners(space: SearchSpace, base: ArchConfig) -> list[dict[str, Any]]:
    """Knob assignments (as trial params) of the cheapest corner(s) of the space: smallest
    widths, depths and kernels, largest ratio, SE off; every cheap-op choice is tried."""
    corners: list[dict[str, Any]] = [{}]
    for name, spec in space.knobs.items():
        options = spec.values_for_corner(KNOB_TABLE[name][2])
        params = param_names(space, name, base)
        corners = [{**corner, **{p: value for p in params}} for corner in corners for value in options]
    return corners


def check_largest_corner(space: SearchSpace, base: ArchConfig) -> None:
    """Refuse a space whose largest corner (widest, deepest, largest kernels, smallest ratio)
    holds more than `MAX_PARAMS` values, counted without allocating, before any trial tries it."""
    corners: list[dict[str, Any]] = [{}]
    for name, spec in space.knobs.items():
        dearer = _DEARER[KNOB_TABLE[name][2]]
        options = ([True] if spec.choices and True in spec.choices else spec.values_for_corner("any")) \
            if dearer == "true" else spec.values_for_corner(dearer)
        params = param_names(space, name, base)
        corners = [{**corner, **{p: value for p in params}} for corner in corners for value in options]
    for params in corners:
        size = model_size(arch_from_params(space, params, base))
        if size > MAX_PARAMS:
            raise WorkbenchError(f"{space.source}: knobs: the space's largest corner ({_describe(params)}) would hold "
                                 f"{size:,} parameters and buffers, more than the {MAX_PARAMS:,} the workbench builds")


def check_cost_budgets(space: SearchSpace) -> list[dict[str, Any]]:
    """Refuse a params/MACs budget that even the cheapest corner exceeds; returns the
    counted corners (params, macs, knobs)."""
    budgets = space.budgets
    if budgets.max_params is None and budgets.max_macs is None:
        return []
    base = base_arch(space)
    counted = []
    for params in cheapest_corners(space, base):
        arch = arch_from_params(space, params, base)
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


def check_latency_budget(resolved: ResolvedSpace) -> None:
    """Refuse a latency budget that even the cheapest corner of the space misses (measured
    with the space's protocol on the search device)."""
    space, protocol, base = resolved.space, resolved.protocol, resolved.base
    limit = space.budgets.max_latency_ms
    if limit is None or isinstance(limit, dict) or protocol is None:
        return
    best = None
    for params in cheapest_corners(space, base):
        arch = arch_from_params(space, params, base)
        result = profile_arch(arch, protocol)
        if result.latency is not None and result.latency.available:
            best = result.latency.p50_ms if best is None else min(best, result.latency.p50_ms)
    if best is not None and best > limit:
        raise WorkbenchError(
            f"{space.source}: budgets.max_latency_ms: no point of the space can meet {limit:g} ms: its cheapest corner "
            f"measures {best:.3g} ms (batch {protocol.batch_size}, {protocol.device})"
        )


def check_space(space: SearchSpace) -> None:
    """The checks that need the base architecture: knob/family fit, stage indices, kernel
    values, objective/latency/accuracy consistency, the recipe and the latency protocol."""
    src = space.source
    arch = base_arch(space)
    n_stages = len(arch.stages)
    ghosted = arch.family == "ghostnet" or arch.ghostify
    for name, spec in space.knobs.items():
        scopes, needs_blocks, _ = KNOB_TABLE[name]
        where = f"{src}: knobs.{name}"
        if name in _FAMILY_KNOBS and arch.family != "ghostnet":
            raise WorkbenchError(
                f"{where}: {_FAMILY_KNOBS[name]} attach to GhostNet bottlenecks; the base '{space.base}' is family "
                f"{arch.family}, which has none (use a GhostNet base, e.g. ghostnet_cifar_050)"
            )
        if name not in ("width",) and not ghosted:
            raise WorkbenchError(
                f"{where}: the base '{space.base}' is a plain network; ghost knobs need a Ghost base "
                "(e.g. ghost_vgg16_cifar)"
            )
        if needs_blocks and arch.family != "ghostnet":
            raise WorkbenchError(
                f"{where}: needs a GhostNet base (block table); '{space.base}' is family {arch.family}"
            )
        if spec.scope not in scopes:
            raise WorkbenchError(f"{where}.scope: '{spec.scope}' not allowed for {name} (allowed: {', '.join(scopes)})")
        if spec.scope == "global" and spec.stages is not None:
            raise WorkbenchError(f"{where}.stages: only per_stage knobs list stages (set scope: per_stage)")
        if spec.scope == "per_stage" and arch.family != "ghostnet":
            raise WorkbenchError(
                f"{where}.scope: per_stage needs a GhostNet base; '{space.base}' is family {arch.family}"
            )
        for index in spec.stages or []:
            if not 0 <= index < n_stages:
                raise WorkbenchError(
                    f"{where}.stages: stage {index} does not exist (the base has stages 0..{n_stages - 1})"
                )
        _check_knob_values(name, spec, where)
    check_largest_corner(space, arch)
    if space.scalarization is None:
        needed = space.objectives
    else:
        needed = list(space.scalarization.weights)
    latency_named = [name for name in needed if name.split(":")[0] == "latency_ms"]
    if latency_named and space.latency is None:
        raise WorkbenchError(f"{src}: objectives: {latency_named[0]} needs a latency protocol (latency: is null)")
    if space.budgets.max_latency_ms is not None and space.latency is None:
        raise WorkbenchError(f"{src}: budgets.max_latency_ms: needs a latency protocol (latency: is null)")
    latency_targets(space)
    if space.noise is not None and space.accuracy.source != "proxy":
        raise WorkbenchError(
            f"{src}: noise: measures proxy-training seed noise; accuracy.source is "
            f"'{space.accuracy.source}' (remove noise: or use source: proxy)"
        )
    check_fidelity(
        space.fidelity,
        space.prescreen,
        source=src,
        accuracy_source=space.accuracy.source,
        single_objective=space.single_objective,
        repeats=space.repeats,
        recipe_epochs=space.recipe.get("epochs"),
    )
    if space.accuracy.source == "proxy":
        proxy_recipe(space)
    elif space.accuracy.source == "supernet":
        from workbench.search.supernet_cover import check_supernet_source

        proxy_recipe(space)  # its recalibration batches
        check_supernet_source(space)
    elif space.accuracy.proxy not in ZERO_COST_PROXIES:
        raise WorkbenchError(
            f"{src}: accuracy.proxy: unknown zero-cost proxy '{space.accuracy.proxy}' "
            f"(allowed: {', '.join(ZERO_COST_PROXIES)})"
        )


def _check_knob_values(name: str, spec: KnobSpec, where: str) -> None:
    values: list[Any] = list(spec.choices) if spec.choices is not None else [spec.low, spec.high]
    if name == "cheap_op":
        bad = [v for v in values if v not in ("dw", "pw")]
        if bad or spec.choices is None:
            raise WorkbenchError(f"{where}.choices: cheap_op takes choices from dw, pw (got {_shown(values)})")
        return
    if name in ("attention", "ghost"):
        allowed = ATTENTION_CHOICES if name == "attention" else GHOST_CHOICES
        if spec.choices is None or any(v not in allowed for v in values):
            raise WorkbenchError(f"{where}.choices: {name} takes choices from {', '.join(allowed)} "
                                 f"(got {_shown(values)})")
        return
    if name == "se":
        if spec.choices is None or any(not isinstance(v, bool) for v in values):
            raise WorkbenchError(f"{where}.choices: se takes choices from true, false (got {_shown(values)})")
        return
    field = "choices" if spec.choices is not None else "low"
    if any(isinstance(v, (bool, str)) for v in values):
        raise WorkbenchError(f"{where}.{field}: {name} takes numbers (got {_shown(values)})")
    if any(not math.isfinite(v) for v in values):
        raise WorkbenchError(f"{where}.{field}: {name} takes finite numbers (got {_shown(values)})")
    if name in _KERNEL_KNOBS and any(not float(v).is_integer() or not 1 <= v <= MAX_KERNEL or int(v) % 2 == 0
                                     for v in values):
        raise WorkbenchError(f"{where}.{_field(spec, values, 1, MAX_KERNEL)}: kernel sizes must be positive odd "
                             f"integers up to {MAX_KERNEL} (got {_shown(values)})")
    if name in _KERNEL_KNOBS and spec.type == "float":
        raise WorkbenchError(f"{where}.type: {name} is an integer knob")
    if name == "ratio" and (min(values) < 1 or max(values) > 16 or spec.type == "float"):
        raise WorkbenchError(f"{where}.{_field(spec, values, 1, 16)}: ratio must be an integer in 1..16 "
                             f"(got {_shown(values)})")
    if name == "depth" and (min(values) < 1 or max(values) > MAX_DEPTH or spec.type == "float"):
        raise WorkbenchError(f"{where}.{_field(spec, values, 1, MAX_DEPTH)}: depth must be an integer in "
                             f"1..{MAX_DEPTH} (got {_shown(values)})")
    if name in ("width", "stage_width") and (min(values) <= 0 or max(values) > 8):
        raise WorkbenchError(f"{where}.{_field(spec, values, 1e-300, 8)}: width multipliers must be in (0, 8] "
                             f"(got {_shown(values)})")


def _field(spec: KnobSpec, values: list[Any], low: float, high: float) -> str:
    """The field to blame: `choices`, else `high` when only the upper end is out of range, else `low`."""
    if spec.choices is not None:
        return "choices"
    return "high" if low <= float(values[0]) <= high else "low"


def _shown(values: list[Any]) -> str:
    """Values as the user wrote them (integral floats as integers), at most ten, each cut to 20
    characters: a message never prints an unbounded value."""
    shown = [int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 1e18 else v for v in values[:10]]
    more = f", ... {len(values)} values" if len(values) > 10 else ""
    return "[" + ", ".join(str(v)[:20] for v in shown) + more + "]"


def check_fidelity(
    fidelity: FidelitySpec | None,
    prescreen: PrescreenSpec | None,
    *,
    source: str,
    accuracy_source: str,
    single_objective: bool,
    repeats: int,
    recipe_epochs: float | None,
) -> None:
    """The checks that need the rest of the space; raises `WorkbenchError` naming the field.

    `recipe_epochs` is the epochs the space's recipe states explicitly (None when it does not).
    """
    if prescreen is not None:
        if prescreen.proxy not in ZERO_COST_PROXIES or prescreen.proxy in ("params", "macs"):
            allowed = [p for p in ZERO_COST_PROXIES if p not in ("params", "macs")]
            raise WorkbenchError(
                f"{source}: prescreen.proxy: unknown zero-cost proxy '{prescreen.proxy}' "
                f"(allowed: {', '.join(allowed)})"
            )
        if accuracy_source != "proxy":
            raise WorkbenchError(
                f"{source}: prescreen: screens candidates before proxy training; accuracy.source "
                f"is '{accuracy_source}' (remove prescreen: or use source: proxy)"
            )
        if single_objective:
            raise WorkbenchError(
                f"{source}: prescreen: ranks candidates on accuracy against cost and needs a "
                "multi-objective study (remove scalarization:)"
            )
    if fidelity is None:
        return
    if accuracy_source != "proxy":
        raise WorkbenchError(
            f"{source}: fidelity.unit: zero-cost scoring has no {fidelity.unit} to vary "
            f"(accuracy.source is '{accuracy_source}'; use source: proxy or remove fidelity:)"
        )
    if single_objective:
        raise WorkbenchError(
            f"{source}: fidelity: a ladder promotes on accuracy against cost and needs a "
            "multi-objective study; a scalarised study prunes with pruner: median"
        )
    if repeats != 1:
        raise WorkbenchError(
            f"{source}: fidelity: a ladder scores one seed per rung; set repeats: 1 "
            f"(got {repeats}), and measure the seed noise with noise:"
        )
    if fidelity.unit == "epochs":
        if any(float(r) != int(r) for r in fidelity.rungs):
            raise WorkbenchError(f"{source}: fidelity.rungs: epochs rungs must be whole epochs, got {fidelity.rungs}")
        if recipe_epochs is not None and float(recipe_epochs) != fidelity.top:
            raise WorkbenchError(
                f"{source}: fidelity.rungs: the top rung ({fidelity.top:g} epochs) is the full "
                f"proxy training, but recipe.epochs says {recipe_epochs:g}; make them equal or "
                "remove recipe.epochs"
            )
    elif fidelity.top > 1:
        raise WorkbenchError(
            f"{source}: fidelity.rungs: train_fraction rungs are shares of the training split "
            f"in (0, 1], got {fidelity.rungs}"
        )
