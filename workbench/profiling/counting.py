"""Parameters and multiply-accumulates with fvcore.

`macs` follows the GhostNet paper: multiply-accumulates of convolution and linear layers
only (fvcore counts one per multiply-accumulate for these ops).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError

# fvcore operator names whose counts are conv/linear multiply-accumulates.
MAC_OPERATORS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum")


@dataclass(frozen=True)
class CountResult:
    """What counting one model at one input size found."""

    params: int
    macs: int


def count_params(model: nn.Module) -> int:
    """All trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def example_input(arch: ArchConfig, batch_size: int = 1) -> torch.Tensor:
    """A random input of the architecture's shape."""
    return torch.randn(batch_size, arch.in_channels, arch.input_size, arch.input_size)


def check_input_size(arch: ArchConfig) -> None:
    """Refuse input sizes that the network's downsampling would shrink below one pixel."""
    stride = arch.output_stride()
    if arch.input_size < stride:
        raise WorkbenchError(
            f"input size {arch.input_size} is too small for '{arch.name}': its feature extractor "
            f"downsamples by {stride}, so the input must be at least {stride}x{stride}"
        )


def count_model(model: nn.Module, arch: ArchConfig) -> CountResult:
    """Count parameters and conv/linear MACs of `model` at the architecture's input size.

    Example:
        >>> from workbench.models import build_model, get_preset
        >>> arch = get_preset("ghostnet_100")
        >>> round(count_model(build_model(arch), arch).macs / 1e6)
        141
    """
    check_input_size(arch)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, example_input(arch))
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            by_operator = analysis.by_operator()
    finally:
        model.train(was_training)
    macs = sum(int(by_operator.get(op, 0)) for op in MAC_OPERATORS)
    return CountResult(params=count_params(model), macs=macs)
