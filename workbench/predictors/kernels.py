"""The fused kernels of an architecture, nn-Meter's unit of latency (Zhang et al., MobiSys 2021).

A deployed model runs as a sequence of fused kernels: a conv with its folded BatchNorm and its
activation, a depthwise conv, the Ghost module's concat+slice, a squeeze-excite block (pool, two
1x1 convs, gate multiply), a pooling, a linear layer, a residual add. `kernels_of` walks the
BN-folded model with forward hooks on one batch-1 input (on PyTorch's meta device: shapes
propagate, nothing is computed) and lists them in execution order;
`kernel_features` sums them per kind into the fixed feature vector `FEATURE_NAMES` the latency
predictor learns from.

`macs` counts conv and linear multiply-accumulates only (the house convention, so the kernels'
total equals `count_model(...).macs`); the SE kernel carries its two convs' MACs. Elements are
tensor element counts at batch 1 (the input and output traffic of the kernel); activations,
dropout and identity modules fuse into the kernel before them and are not listed. (A ghostified
plain network keeps the BatchNorm after each Ghost module unfolded; it is not listed either.)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models import build_model, fold_batchnorm
from workbench.models.blocks import GhostBottleneck, GhostModule, SqueezeExcite
from workbench.models.plain import BasicBlock
from workbench.profiling.counting import check_input_size

KINDS = ("conv", "dwconv", "concat", "se", "pool", "linear", "add")
QUANTITIES = ("macs", "count", "elements", "weights")
FEATURE_NAMES: tuple[str, ...] = tuple(f"{kind}_{q}" for kind in KINDS for q in QUANTITIES)
_POOLS = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class Kernel:
    """One fused kernel at batch 1: its kind (one of `KINDS`), shape, MACs, weights and traffic."""

    kind: str
    cin: int
    cout: int
    kernel: int
    stride: int
    groups: int
    h_in: int
    w_in: int
    h_out: int
    w_out: int
    macs: int
    weights: int
    in_elements: int
    out_elements: int

    @property
    def elements(self) -> int:
        """Input plus output elements: the kernel's memory traffic."""
        return self.in_elements + self.out_elements


def kernels_of(arch: ArchConfig) -> list[Kernel]:
    """The fused kernels of `arch`'s deploy form (BN folded), in execution order.

    Args:
        arch: the architecture; its model is built fresh and run once on a zero input.

    Returns:
        One `Kernel` per fused kernel.

    Raises:
        WorkbenchError: an input size the network's downsampling cannot take.

    Example:
        >>> from workbench.models import get_preset
        >>> arch = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 32})
        >>> kernels = kernels_of(arch)
        >>> kernels[0].kind, kernels[0].cin, kernels[0].cout, kernels[0].h_out
        ('conv', 3, 8, 32)
        >>> sorted({k.kind for k in kernels})
        ['add', 'concat', 'conv', 'dwconv', 'linear', 'pool', 'se']
    """
    check_input_size(arch)
    model = fold_batchnorm(build_model(arch), inplace=True).to("meta")  # shapes only: no arithmetic
    inside_se = {id(m) for se in model.modules() if isinstance(se, SqueezeExcite) for m in se.modules() if m is not se}
    found: list[Kernel] = []
    handles = [module.register_forward_hook(_recorder(module, found)) for module in model.modules()
               if id(module) not in inside_se and _kind(module) is not None]
    try:
        with torch.no_grad():
            model(torch.zeros(1, arch.in_channels, arch.input_size, arch.input_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return found


def kernel_features(arch: ArchConfig) -> dict[str, float]:
    """Per kernel kind, the sum of MACs, the count, the elements moved and the weights.

    Args:
        arch: the architecture.

    Returns:
        `{name: value}` in the order of `FEATURE_NAMES` (kinds absent from `arch` give 0).

    Example:
        >>> from workbench.models import get_preset
        >>> features = kernel_features(get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 32}))
        >>> list(features) == list(FEATURE_NAMES), features["linear_count"], features["linear_macs"]
        (True, 1.0, 12800.0)
    """
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    for k in kernels_of(arch):
        for quantity, value in (("macs", k.macs), ("count", 1), ("elements", k.elements), ("weights", k.weights)):
            features[f"{k.kind}_{quantity}"] += float(value)
    return features


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d):
        depthwise = module.groups > 1 and module.groups == module.in_channels
        return "dwconv" if depthwise else "conv"
    if isinstance(module, GhostModule):
        return "concat" if module.cheap_operation is not None else None
    if isinstance(module, SqueezeExcite):
        return "se"
    if isinstance(module, _POOLS):
        return "pool"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (GhostBottleneck, BasicBlock)):
        return "add"
    return None


def _recorder(module: nn.Module, found: list[Kernel]) -> Any:
    kind = _kind(module)

    def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        found.append(_kernel(kind, module, inputs[0], output))
    return hook


def _kernel(kind: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Kernel:
    shape_in, shape_out = _hw(x), _hw(y)
    kernel, stride, groups, macs = 1, 1, 1, 0
    cin, in_elements = _channels(x), x.numel()
    if isinstance(module, nn.Conv2d):
        kernel, stride, groups = module.kernel_size[0], module.stride[0], module.groups
        macs = y.numel() * (module.in_channels // groups) * kernel * kernel
    elif isinstance(module, nn.Linear):
        macs = module.in_features * module.out_features
    elif isinstance(module, SqueezeExcite):
        macs = sum(conv.in_channels * conv.out_channels for conv in (module.conv_reduce, module.conv_expand))
    elif isinstance(module, GhostModule):  # concat reads the intrinsic and ghost maps, writes the slice
        made = module.primary_conv[0].out_channels + module.cheap_operation[0].out_channels
        cin, in_elements = made, made * prod(y.shape[2:])
    elif kind == "add":
        in_elements = 2 * y.numel()
    elif isinstance(module, _POOLS) and not isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        kernel, stride = _first(module.kernel_size), _first(module.stride)
    weights = 0 if kind in ("concat", "add") else sum(p.numel() for p in module.parameters())
    return Kernel(kind, cin, _channels(y), kernel, stride, groups, *shape_in, *shape_out, macs, weights,
                  in_elements, y.numel())


def _channels(t: torch.Tensor) -> int:
    return int(t.shape[1])


def _hw(t: torch.Tensor) -> tuple[int, int]:
    return (int(t.shape[2]), int(t.shape[3])) if t.dim() == 4 else (1, 1)


def _first(value: int | tuple[int, ...]) -> int:
    return int(value[0] if isinstance(value, tuple) else value)
