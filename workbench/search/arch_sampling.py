"""From an Optuna trial to an `ArchConfig`: suggest every knob of a space, apply it to the base.

Parameter names: a global knob is suggested under its own name (`ratio`), a per-stage knob
once per listed stage as `<knob>_s<stage>` (`kernel_s3`). `arch_from_params` is pure: the
same params always give the same architecture (the dedupe and the budget check rely on it).
"""

from __future__ import annotations

from typing import Any

import optuna

from workbench.config.arch import ArchConfig
from workbench.config.io import parse_model
from workbench.errors import WorkbenchError
from workbench.search.space import KnobSpec, SearchSpace

# SE ratio given to a block switched on by the `se` knob when the base block has none.
DEFAULT_SE = 0.25


def stage_indices(spec: KnobSpec, base: ArchConfig) -> list[int]:
    """The stages of `base` a per-stage knob applies to (all of them unless it lists some)."""
    return list(spec.stages) if spec.stages is not None else list(range(len(base.stages)))


def param_names(space: SearchSpace, knob: str, base: ArchConfig) -> list[str]:
    """The Optuna parameter names one knob is suggested under."""
    spec: KnobSpec = getattr(space.knobs, knob)
    if spec.scope == "global":
        return [knob]
    return [f"{knob}_s{index}" for index in stage_indices(spec, base)]


def suggest(trial: optuna.Trial, name: str, spec: KnobSpec) -> Any:
    """Suggest one parameter according to its spec."""
    if spec.type == "categorical":
        return trial.suggest_categorical(name, list(spec.choices))
    if spec.type == "int":
        step = int(spec.step) if spec.step else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)
    return trial.suggest_float(name, float(spec.low), float(spec.high), step=spec.step, log=spec.log)


def sample_params(trial: optuna.Trial, space: SearchSpace, base: ArchConfig) -> dict[str, Any]:
    """Suggest every knob of the space on `trial`; returns {param name: value}.

    Example:
        >>> from workbench.search import load_space
        >>> from workbench.search.space_resolve import base_arch
        >>> space = load_space("digits")
        >>> params = sample_params(optuna.create_study().ask(), space, base_arch(space))
        >>> sorted(params)[:2]
        ['depth_s6', 'depth_s8']
    """
    params: dict[str, Any] = {}
    for knob, spec in space.knobs.items():
        for name in param_names(space, knob, base):
            params[name] = suggest(trial, name, spec)
    return params


def arch_from_params(space: SearchSpace, params: dict[str, Any], base: ArchConfig, *, num_classes: int | None = None,
                     in_channels: int | None = None) -> ArchConfig:
    """Apply sampled knob values to the space's base architecture.

    Per-stage depth keeps the first blocks of a stage (the first carries the stride) or
    repeats the stage's last block with stride 1 to grow it. `attention: none` switches SE and
    DFC off, `se` switches SE on (the base block's ratio, else 0.25), `dfc` puts DFC attention on
    every block and keeps the base block's SE (GhostNetV2's layout); `ghost` sets `merge`.
    """
    data = base.model_dump()
    if num_classes is not None:
        data["num_classes"] = num_classes
    if in_channels is not None:
        data["in_channels"] = in_channels
    for knob, spec in space.knobs.items():
        if spec.scope == "global":
            _apply_global(data, knob, params[knob])
        else:
            for index in stage_indices(spec, base):
                _apply_stage(data["stages"][index], knob, params[f"{knob}_s{index}"])
    return parse_model(ArchConfig, data, source=f"space '{space.name}' sample")


_GHOST_FIELDS = ("ratio", "dw_size", "cheap_op", "primary_kernel")


def _apply_global(data: dict[str, Any], knob: str, value: Any) -> None:
    if knob in _GHOST_FIELDS:
        data["ghost"][knob] = value
    elif knob == "width":
        data["width"] = round(float(value), 6)
    elif knob == "ghost":
        data["ghost"]["merge"] = value
    elif knob in ("kernel", "se", "attention"):
        for stage in data["stages"]:
            _apply_stage(stage, knob, value)
    else:  # stage_width and depth are per-stage only (the space check refuses global)
        raise WorkbenchError(f"knob '{knob}' cannot be global")


def _apply_stage(stage: dict[str, Any], knob: str, value: Any) -> None:
    if knob in _GHOST_FIELDS:
        stage["ghost"] = {**(stage.get("ghost") or {}), knob: value}
    elif knob == "stage_width":
        stage["width"] = round(float(value), 6)
    elif knob == "kernel":
        for block in stage["blocks"]:
            block["kernel"] = int(value)
    elif knob == "se":
        for block in stage["blocks"]:
            block["se"] = (block["se"] or DEFAULT_SE) if value else 0.0
    elif knob == "attention":
        for block in stage["blocks"]:
            block["se"] = (block["se"] or DEFAULT_SE) if value == "se" else (block["se"] if value == "dfc" else 0.0)
            block["dfc"] = value == "dfc"
    elif knob == "ghost":
        stage["ghost"] = {**(stage.get("ghost") or {}), "merge": value}
    elif knob == "depth":
        blocks = stage["blocks"]
        depth = int(value)
        if depth <= len(blocks):
            stage["blocks"] = blocks[:depth]
        else:
            # Repeats of the last block keep the stage's output width and resolution.
            extra = {**blocks[-1], "stride": 1}
            stage["blocks"] = blocks + [dict(extra) for _ in range(depth - len(blocks))]
    else:
        raise WorkbenchError(f"knob '{knob}' cannot be per stage")
