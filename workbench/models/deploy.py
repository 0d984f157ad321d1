"""The deploy transform: fuse RepGhost branches, then fold every BatchNorm into the convolution
just before it.

Inference then runs one conv with a bias instead of conv + BN (and one cheap conv instead of
RepGhost's conv-BN + identity-BN sum), which is what a deployed model costs. Only eval-mode
statistics are used, so the folded model is for inference only.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from workbench.models.repghost import RepGhostModule


def fold_batchnorm(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Return an eval-mode copy of `model` with each `RepGhostModule` re-parameterised (cheap
    conv-BN + identity BN -> one biased conv) and each Conv2d→BatchNorm2d pair inside a
    `nn.Sequential` fused into one biased Conv2d (the BN becomes `nn.Identity`).

    Example:
        >>> from workbench.models import build_model
        >>> from workbench.models.presets import get_preset
        >>> deployed = fold_batchnorm(build_model(get_preset("ghostnet_cifar_050")))
    """
    target = model if inplace else copy.deepcopy(model)
    target.eval()
    for module in target.modules():
        if isinstance(module, RepGhostModule):
            module.reparameterize()
    _fold_children(target)
    return target


def _fold_children(module: nn.Module) -> None:
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module._modules[first] = fuse_conv_bn_eval(conv, bn)
                module._modules[second] = nn.Identity()
    for child in module.children():
        _fold_children(child)


def count_batchnorms(model: nn.Module) -> int:
    """How many BatchNorm layers remain (0 after a full fold of a Ghost network)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
