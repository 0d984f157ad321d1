"""`build_model(arch)`: the only constructor the rest of the workbench calls.

A model is counted on PyTorch's meta device (shapes, no memory) before it is built, and one
larger than `MAX_PARAMS` is refused: a config with a huge kernel, width or channel count would
otherwise ask for tens of GB and take the machine with it.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.models.ghostify import ghostify
from workbench.models.ghostnet import GhostNet
from workbench.models.plain import ResNet56Cifar, VGG16Cifar

# Parameters and buffers a buildable model may hold: 4 GB of float32, some 200 times GhostNet 1.0x.
MAX_PARAMS = 1_000_000_000


def build_model(arch: ArchConfig) -> nn.Module:
    """Build the PyTorch model an `ArchConfig` describes (train mode, fresh initialisation).

    Example:
        >>> from workbench.models.presets import get_preset
        >>> model = build_model(get_preset("ghostnet_cifar_050"))

    Raises:
        WorkbenchError: the model would hold more than `MAX_PARAMS` values (nothing is allocated).
    """
    size = model_size(arch)
    if size > MAX_PARAMS:
        raise WorkbenchError(f"architecture '{arch.name}' would hold {size:,} parameters and buffers, more than the "
                             f"{MAX_PARAMS:,} the workbench builds (lower its width, kernels, channels or classes)")
    return _construct(arch)


def model_size(arch: ArchConfig) -> int:
    """How many values (parameters and buffers) the model of `arch` holds, counted on the meta
    device without allocating them.

    Example:
        >>> from workbench.models.presets import get_preset
        >>> model_size(get_preset("ghostnet_100"))
        5204556
    """
    with torch.device("meta"):
        model = _construct(arch)
    return sum(tensor.numel() for tensor in itertools.chain(model.parameters(), model.buffers()))


def _construct(arch: ArchConfig) -> nn.Module:
    if arch.family == "ghostnet":
        return GhostNet(arch)
    plain_cls = VGG16Cifar if arch.family == "vgg16_cifar" else ResNet56Cifar
    model = plain_cls(in_channels=arch.in_channels, num_classes=arch.num_classes, width=arch.width)
    if arch.ghostify:
        ghostify(model, arch.ghost.ratio, arch.ghost.dw_size, arch.ghost.cheap_op)
    return model
