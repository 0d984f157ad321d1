"""An accuracy inherited from a supernet: the subnet's weights are gathered from the shared
tensors, BatchNorm is recalibrated on fixed seeded training batches, and the validation split is
scored. Nothing is trained. A supernet file is read once per process (keyed by path, size and
modification time), so a search pays for it once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from workbench.config.arch import ArchConfig
from workbench.supernet.files import load_supernet
from workbench.supernet.net import GhostSupernet
from workbench.supernet.train import inherited_accuracy
from workbench.training.recipe import ProxyRecipe

_LOADED: dict[tuple[str, int, int], tuple[GhostSupernet, dict[str, Any]]] = {}


def cached_supernet(path: str | Path) -> tuple[GhostSupernet, dict[str, Any]]:
    """`load_supernet(path)`, read once per process while the file is unchanged."""
    path = Path(path)
    stat = path.stat() if path.is_file() else None
    key = (str(path.resolve()), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)
    if key not in _LOADED:
        _LOADED.clear()  # one supernet per search; an older version of the file is stale
        _LOADED[key] = load_supernet(path)
    return _LOADED[key]


def score_inherited(path: str | Path, arch: ArchConfig, data: Any, recipe: ProxyRecipe, seeds: list[int], *,
                    device: str = "cpu") -> tuple[list[float], nn.Module]:
    """Validation accuracies of subnet `arch` with inherited weights, one per recalibration seed,
    and the model (recalibrated with the first seed) for the int8 figures.

    Raises:
        WorkbenchError: the file is not a finished supernet, or `arch` is outside it.
    """
    net, _ = cached_supernet(path)
    samples: list[float] = []
    first: nn.Module | None = None
    for seed in seeds:
        model = net.extract(arch).to(device)
        samples.append(inherited_accuracy(model, data, recipe, seed))
        first = first if first is not None else model
    assert first is not None  # seeds is never empty (repeats >= 1)
    return samples, first
