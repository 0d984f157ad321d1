"""Start a model from weights made for another shape, as weight-sharing NAS does.

Each tensor of the model takes, from the same-named tensor of the source, what fits: the
leading channels (output and input dimensions), and the centre of a larger kernel. A tensor
the source lacks keeps its fresh initialisation. The classifier is re-initialised whole when
the number of classes differs (a slice of another task's classes means nothing). The report
says how much was inherited, so it is never silent.

Example:
    >>> from torch import nn
    >>> small, big = nn.Linear(2, 3), nn.Linear(4, 5)
    >>> report = inherit_weights(small, big.state_dict(), "big")
    >>> torch.equal(small.weight, big.weight[:3, :2]), report.fraction
    (True, 1.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.training.checkpoint import load_model_file

CLASSIFIER_KEYS = ("classifier.weight", "classifier.bias")


@dataclass
class InheritReport:
    """What `inherit_weights` copied: tensors whole / in part / left fresh, and parameters."""

    source: str
    whole: int
    partial: int
    fresh: int
    inherited_params: int
    total_params: int
    source_classes: int | None = None
    classes: int | None = None

    @property
    def fraction(self) -> float:
        """Share of the model's parameters that came from the source."""
        return self.inherited_params / self.total_params if self.total_params else 0.0

    @property
    def classifier_reinitialised(self) -> bool:
        return self.source_classes is not None and self.source_classes != self.classes

    def summary(self) -> str:
        """One line for people."""
        line = (f"initialised from {self.source}: inherited {100 * self.fraction:.1f}% of the parameters "
                f"({self.whole} tensors whole, {self.partial} in part, {self.fresh} fresh)")
        if self.classifier_reinitialised:
            line += f"; classifier re-initialised ({self.source_classes} classes in the weights, {self.classes} here)"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Plain data for metrics.json."""
        return {**asdict(self), "fraction": self.fraction}


def read_init(path: str | Path, arch: ArchConfig) -> dict[str, torch.Tensor]:
    """The state dict of the model file `path`, refused when it was made for another family
    than `arch` (a slice of a ResNet's tensors is no start for a GhostNet)."""
    payload = load_model_file(path)
    family = ((payload["config"] or {}).get("arch") or {}).get("family", "ghostnet")
    if family != arch.family:
        raise WorkbenchError(f"{path}: weights of a '{family}' network, but '{arch.name}' is a '{arch.family}'; "
                             "--init needs the same family")
    return payload["state_dict"]


def inherit_weights(model: nn.Module, source: dict[str, torch.Tensor], name: str) -> InheritReport:
    """Copy into `model`, in place, what fits of the `source` state dict (see the module docstring).

    Raises:
        WorkbenchError: nothing at all fits (the source is another family).
    """
    target = model.state_dict()
    params = dict(model.named_parameters())
    whole = partial = inherited = 0
    classes = {key: (source[key].shape[0], target[key].shape[0]) for key in CLASSIFIER_KEYS[:1]
               if key in source and key in target}
    with torch.no_grad():
        for key, tensor in target.items():
            src = source.get(key)
            if src is None or src.dim() != tensor.dim() or _reinit_classifier(key, classes):
                continue
            if src.shape == tensor.shape:
                tensor.copy_(src)
                whole += 1
                copied = tensor.numel()
            else:
                into, take = _overlap(tuple(tensor.shape), tuple(src.shape))
                tensor[into].copy_(src[take])
                partial += 1
                copied = tensor[into].numel()
            inherited += copied if key in params else 0
    if whole + partial == 0:
        raise WorkbenchError(f"{name}: none of its tensors fit this architecture (weights of another model family?)")
    source_classes, own_classes = classes.get(CLASSIFIER_KEYS[0], (None, None))
    return InheritReport(source=name, whole=whole, partial=partial, fresh=len(target) - whole - partial,
                         inherited_params=inherited, total_params=sum(p.numel() for p in params.values()),
                         source_classes=source_classes, classes=own_classes)


def _reinit_classifier(key: str, classes: dict[str, tuple[int, int]]) -> bool:
    counts = classes.get(CLASSIFIER_KEYS[0])
    return key in CLASSIFIER_KEYS and counts is not None and counts[0] != counts[1]


def _overlap(want: tuple[int, ...], have: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index of the shared block: leading entries of channel dims, centres of kernel dims."""
    into, take = [], []
    for dim, (w, h) in enumerate(zip(want, have)):
        size = min(w, h)
        if dim < 2:
            into.append(slice(0, size))
            take.append(slice(0, size))
        else:
            into.append(slice((w - size) // 2, (w - size) // 2 + size))
            take.append(slice((h - size) // 2, (h - size) // 2 + size))
    return tuple(into), tuple(take)
