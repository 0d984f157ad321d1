"""A search space resolved once: what its names refer to, looked up one time per run.

`SearchSpace` is a pure schema; `resolve_space` turns it into a `ResolvedSpace`: the base
architecture (a preset or an ArchConfig file next to the space), the proxy-training recipe, the
latency protocol on the search device and the run's base seed. The runner resolves the space
once and the trial context carries the result down, so nothing downstream reads the schema's
names again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from workbench.config.arch import ArchConfig
from workbench.config.io import format_validation_error, load_arch
from workbench.errors import WorkbenchError
from workbench.models.presets import PRESETS, apply_overrides, get_preset
from workbench.profiling import LatencyProtocol
from workbench.profiling.targets import LatencyTarget, parse_targets
from workbench.search.space import SearchSpace
from workbench.training import ProxyRecipe


@dataclass(frozen=True)
class ResolvedSpace:
    """A space with its base architecture, proxy recipe, latency targets and base seed.
    `protocol` is the first target's when that one is a PyTorch target (`profile_arch` times it
    with the counts), else None.

    Example:
        >>> from workbench.search import load_space
        >>> resolved = resolve_space(load_space("digits"), device="cpu")
        >>> resolved.base.input_size, resolved.recipe.epochs, resolved.protocol.device, resolved.trial_seeds(7)
        (12, 3.0, 'cpu', [7])
    """

    space: SearchSpace
    base: ArchConfig
    recipe: ProxyRecipe
    protocol: LatencyProtocol | None
    seed: int
    targets: tuple[LatencyTarget, ...] = ()
    predictors: dict[str, Any] = dataclasses.field(default_factory=dict)  # predicted targets' (predictor, entry)

    @property
    def int8_target(self) -> LatencyTarget | None:
        """The first int8 target (its calibration is the one int8 accuracy is scored with)."""
        return next((t for t in self.targets if t.is_int8 and not t.is_predicted), None)

    @property
    def accuracy_source(self) -> str:
        """The record's accuracy source: `proxy-train:<epochs>ep` or `zero-cost:<name>`."""
        return accuracy_source(self.space, self.recipe)

    def trial_seeds(self, number: int) -> list[int]:
        """The seeds trial `number` is scored with (`SearchSpace.trial_seeds` at this run's seed)."""
        return self.space.trial_seeds(number, self.seed)

    def fitted_to(self, data: Any) -> "ResolvedSpace":
        """A copy whose base architecture takes the dataset's classes, channels and input size."""
        update = {name: getattr(data, name, None) for name in ("num_classes", "in_channels", "input_size")}
        update = {name: value for name, value in update.items() if value is not None}
        if not update:
            return self
        return dataclasses.replace(self, base=ArchConfig.model_validate({**self.base.model_dump(), **update}))


def resolve_space(space: SearchSpace, *, device: str | None = None, seed: int | None = None) -> ResolvedSpace:
    """Resolve `space` for a run on `device` (the space's latency device, `auto` = CUDA when
    present) with base seed `seed` (the space's seed unless given).

    Raises:
        WorkbenchError: a base that is neither a preset nor a file, a bad recipe or latency section.
    """
    targets = latency_targets(space, device)
    protocol = targets[0].protocol if targets and targets[0].is_torch else None
    return ResolvedSpace(space=space, base=base_arch(space), recipe=proxy_recipe(space), protocol=protocol,
                         seed=space.seed if seed is None else int(seed), targets=tuple(targets),
                         predictors=_predictors(space, targets))


def base_arch(space: SearchSpace) -> ArchConfig:
    """The base architecture with the space's input size / channels / classes applied."""
    if space.base in PRESETS:
        arch = get_preset(space.base)
    else:
        found = next((path for path in _base_candidates(space.base, space.base_dir) if path.exists()), None)
        if found is None:
            raise WorkbenchError(f"{space.source}: base: '{space.base}' is neither a preset ({', '.join(PRESETS)}) "
                                 "nor an existing ArchConfig file")
        arch = load_arch(found)
    overrides = {k: v for k, v in (("input_size", space.input_size), ("in_channels", space.in_channels),
                                   ("num_classes", space.num_classes)) if v is not None}
    return apply_overrides(arch, overrides) if overrides else arch


def _base_candidates(base: str, folder: Path | None) -> list[Path]:
    """Where a `base:` that is not a preset may be: next to the space file first, then as given."""
    candidates = [Path(base)]
    if folder is not None and not candidates[0].is_absolute():
        candidates.insert(0, folder / base)
    return candidates


def proxy_recipe(space: SearchSpace) -> ProxyRecipe:
    """The proxy-training recipe; with an epochs ladder its top rung is the recipe's epochs
    (the full-fidelity score).

    Raises:
        WorkbenchError: a recipe field that does not validate, named as `<file>: recipe.<field>`.
    """
    data = dict(space.recipe)
    if space.fidelity is not None and space.fidelity.unit == "epochs":
        data["epochs"] = space.fidelity.top
    try:
        return ProxyRecipe.model_validate({"seed": space.seed, **data})
    except ValidationError as error:
        raise WorkbenchError(
            _prefixed(format_validation_error(error, ProxyRecipe, "\0"), space.source, "recipe")
        ) from None


def latency_targets(space: SearchSpace, device: str | None = None) -> list[LatencyTarget]:
    """The space's latency targets (none when latency is not measured); `device` replaces the
    PyTorch targets' device; `auto` (the default) is CUDA when present. On CUDA a PyTorch target
    replays a CUDA graph unless it says otherwise: eager batch-1 GPU latency measures the host's
    Python launch overhead, not the network (bench_gpu: two passes disagree by ~30%).

    Raises:
        WorkbenchError: `<file>: latency...: ...` naming the field and the allowed values, or the
        install command when an onnxruntime target is named and onnxruntime is missing.
    """
    try:
        targets = parse_targets(space.latency, device)
    except WorkbenchError as error:
        raise WorkbenchError(f"{space.source}: {error}") from None
    if any(target.engine == "onnxruntime" for target in targets):
        from workbench.engines import require_onnxruntime

        require_onnxruntime()
    return targets


def _predictors(space: SearchSpace, targets: list[LatencyTarget]) -> dict[str, Any]:
    from workbench.search.predicted import load_predictors

    try:
        return load_predictors(targets)
    except WorkbenchError as error:
        raise WorkbenchError(f"{space.source}: {error}") from None


def latency_protocol(space: SearchSpace, device: str | None = None) -> LatencyProtocol | None:
    """The first latency target's protocol when it is a PyTorch target, else None."""
    targets = latency_targets(space, device)
    return targets[0].protocol if targets and targets[0].is_torch else None


def accuracy_source(space: SearchSpace, recipe: ProxyRecipe) -> str:
    """The record's accuracy source: `proxy-train:<epochs>ep`, `zero-cost:<name>` or
    `supernet-inherited:<file> (not trained)`."""
    if space.accuracy.source == "zero_cost":
        return f"zero-cost:{space.accuracy.proxy}"
    if space.accuracy.source == "supernet":
        return f"supernet-inherited:{Path(str(space.accuracy.path)).name} (not trained)"
    if space.fidelity is not None and space.fidelity.unit == "train_fraction":
        return f"proxy-train:{recipe.epochs:g}ep@{space.fidelity.top:g}data"
    return f"proxy-train:{recipe.epochs:g}ep"


def _prefixed(message: str, source: str, prefix: str) -> str:
    """Turn `\\0: field: msg` (from format_validation_error) into `source: prefix.field: msg`."""
    body = message[len("\0: ") :] if message.startswith("\0: ") else message
    if body.startswith("(top level)"):
        return f"{source}: {prefix}{body[len('(top level)') :]}"
    return f"{source}: {prefix}.{body}"
