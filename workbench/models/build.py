"""`build_model(arch)`: the only constructor the rest of the workbench calls."""

from __future__ import annotations

from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models.ghostify import ghostify
from workbench.models.ghostnet import GhostNet
from workbench.models.plain import ResNet56Cifar, VGG16Cifar


def build_model(arch: ArchConfig) -> nn.Module:
    """Build the PyTorch model an `ArchConfig` describes (train mode, fresh initialisation).

    Example:
        >>> from workbench.models.presets import get_preset
        >>> model = build_model(get_preset("ghostnet_cifar_050"))
    """
    if arch.family == "ghostnet":
        return GhostNet(arch)
    plain_cls = VGG16Cifar if arch.family == "vgg16_cifar" else ResNet56Cifar
    model = plain_cls(in_channels=arch.in_channels, num_classes=arch.num_classes, width=arch.width)
    if arch.ghostify:
        ghostify(model, arch.ghost.ratio, arch.ghost.dw_size, arch.ghost.cheap_op)
    return model
