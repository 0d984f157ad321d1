"""What a supernet must cover for a space: its corner architectures, random subnets, the hash
a supernet file is matched by, and the checks of a `source: supernet` space.

Search owns the knobs (how params become an `ArchConfig`); `workbench.supernet` only sees the
architectures. The cover hash is over what decides the architectures and the data a supernet was
trained on (base, knobs, dataset, split and its seed), not the objectives, budgets or the
accuracy source, so the space that trained a supernet and the one that searches it with
`accuracy: {source: supernet}` match.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.search.arch_sampling import arch_from_params, param_names
from workbench.search.space import KNOB_TABLE, KnobSpec, SearchSpace
from workbench.search.space_resolve import base_arch

# Knobs a Ghost supernet is elastic in; cheap_op, attention and ghost change the module type.
ELASTIC_KNOBS = ("ratio", "dw_size", "primary_kernel", "kernel", "width", "stage_width", "se", "depth")
_COVER_FIELDS = ("base", "dataset", "input_size", "in_channels", "num_classes", "val_fraction", "seed")


def check_supernet_space(space: SearchSpace, base: ArchConfig | None = None) -> None:
    """Refuse a space a Ghost supernet cannot cover, in one line naming the knob or the base.

    Raises:
        WorkbenchError: a knob outside `ELASTIC_KNOBS`, or a base without Ghost bottleneck blocks.
    """
    from workbench.supernet import check_ghost_blocks

    base = base if base is not None else base_arch(space)
    try:
        check_ghost_blocks(base)
    except WorkbenchError as error:
        raise WorkbenchError(f"{space.source}: base: {error}") from None
    for name, _ in space.knobs.items():
        if name not in ELASTIC_KNOBS:
            raise WorkbenchError(f"{space.source}: knobs.{name}: a supernet is elastic in {', '.join(ELASTIC_KNOBS)} "
                                 f"only ({name} changes the module type; fix it in the base)")


def cover_hash(space: SearchSpace) -> str:
    """sha256 of what a supernet of `space` covers (see the module docstring).

    Example:
        >>> from workbench.search import load_space
        >>> space = load_space("digits")
        >>> cover_hash(space) == cover_hash(space.replace(objectives=["accuracy", "params"]))
        True
    """
    data: dict[str, Any] = {key: getattr(space, key) for key in _COVER_FIELDS}
    data["knobs"] = space.knobs.model_dump(mode="json", exclude_none=True)
    data["base_arch"] = base_arch(space).model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def end_value(spec: KnobSpec, largest: bool, cheaper: str) -> Any:
    """The knob's value at the largest (or smallest) network: the far end from `cheaper`."""
    if cheaper == "false":
        return largest if True in (spec.choices or []) else spec.values_for_corner("false")[0]
    want_low = (cheaper == "low") != largest
    return spec.values_for_corner("low" if want_low else "high")[0]


def corner_params(space: SearchSpace, base: ArchConfig, *, largest: bool,
                  ratio: str | None = None) -> dict[str, Any]:
    """The params of the largest (or smallest) subnet; `ratio` "low"/"high" pins the ratio's end
    instead (the supernet's envelope needs the widest net at both ends of the ratio)."""
    params: dict[str, Any] = {}
    for knob, spec in space.knobs.items():
        cheaper = KNOB_TABLE[knob][2]
        value = end_value(spec, largest, cheaper)
        if knob == "ratio" and ratio is not None:
            value = spec.values_for_corner(ratio)[0]
        params.update({name: value for name in param_names(space, knob, base)})
    return params


def random_params(space: SearchSpace, base: ArchConfig, rng: random.Random) -> dict[str, Any]:
    """Params drawn uniformly from every knob's values (its choices, or its step grid, or the range).

    Example:
        >>> from workbench.search import load_space
        >>> space = load_space("digits")
        >>> sorted(random_params(space, base_arch(space), random.Random(0)))
        ['depth_s6', 'depth_s8', 'dw_size', 'ratio', 'width']
    """
    params: dict[str, Any] = {}
    for knob, spec in space.knobs.items():
        for name in param_names(space, knob, base):
            params[name] = _draw(spec, rng)
    return params


def _draw(spec: KnobSpec, rng: random.Random) -> Any:
    if spec.choices is not None:
        return rng.choice(list(spec.choices))
    low, high = float(spec.low), float(spec.high)
    if spec.type == "int":
        return rng.randrange(int(low), int(high) + 1, int(spec.step or 1))
    if spec.step:
        return round(low + spec.step * rng.randint(0, int((high - low) / spec.step + 1e-9)), 6)
    return rng.uniform(low, high)


def corner_archs(space: SearchSpace, base: ArchConfig) -> list[ArchConfig]:
    """The widest, deepest, largest-kernel subnet at the smallest and the largest ratio: together
    they ask every layer's largest size (`workbench.supernet.envelope_of`)."""
    return [arch_from_params(space, corner_params(space, base, largest=True, ratio=end), base)
            for end in ("low", "high")]


def check_params(space: SearchSpace, base: ArchConfig, params: dict[str, Any]) -> None:
    """Refuse params outside the space's knob ranges, naming the first one.

    Raises:
        WorkbenchError: a missing param, or a value outside its knob's choices or range.
    """
    for knob, spec in space.knobs.items():
        for name in param_names(space, knob, base):
            if name not in params:
                raise WorkbenchError(f"subnet outside the supernet: no value for '{name}'")
            value = params[name]
            inside = value in spec.choices if spec.choices is not None else (
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and float(spec.low) <= float(value) <= float(spec.high))
            if not inside:
                allowed = spec.choices if spec.choices is not None else f"{spec.low:g}..{spec.high:g}"
                raise WorkbenchError(f"subnet outside the supernet: {name} = {value!r} is outside its range "
                                     f"({allowed})")


def supernet_path(space: SearchSpace) -> Path:
    """The supernet file a `source: supernet` space names: next to the space file first, then as given."""
    path = Path(str(space.accuracy.path))
    if not path.is_absolute() and space.base_dir is not None and (space.base_dir / path).exists():
        return space.base_dir / path
    return path


def check_supernet_source(space: SearchSpace) -> None:
    """The checks of `accuracy: {source: supernet, path: FILE}` before any trial: the space can
    have a supernet, and FILE is a readable supernet of this space.

    Raises:
        WorkbenchError: one line naming the file or the field.
    """
    from workbench.supernet.files import read_header

    check_supernet_space(space)
    path = supernet_path(space)
    header = read_header(path)
    if header["cover_hash"] != cover_hash(space):
        raise WorkbenchError(f"{path}: a supernet of another space ('{header.get('space_name')}', cover hash "
                             f"{header['cover_hash'][:12]}); {space.source} has cover hash {cover_hash(space)[:12]} "
                             "(train one for this space with `workbench supernet train`)")
