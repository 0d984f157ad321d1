"""`ghostify`: the paper's CIFAR recipe, every `Conv2d` of a plain CNN becomes a Ghost module.

Each convolution is replaced by a `GhostModule` with the same kernel (for the primary conv),
stride and output width; the BatchNorm and ReLU that followed it stay where they were, so the
module itself ends without an activation.
"""

from __future__ import annotations

from torch import nn

from workbench.models.blocks import GhostModule


def ghostify(model: nn.Module, ratio: int = 2, dw_size: int = 3, cheap_op: str = "dw") -> nn.Module:
    """Replace, in place, every ungrouped `Conv2d` with a Ghost module and return the model.

    Grouped (depthwise) convolutions are already cheap and are kept as they are.

    Example:
        >>> from workbench.models.plain import VGG16Cifar
        >>> net = ghostify(VGG16Cifar(), ratio=2, dw_size=3)
    """
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Conv2d) and child.groups == 1:
            setattr(
                model,
                name,
                GhostModule(
                    child.in_channels,
                    child.out_channels,
                    kernel=child.kernel_size[0],
                    ratio=ratio,
                    dw_size=dw_size,
                    stride=child.stride[0],
                    relu=False,
                    cheap_op=cheap_op,
                ),
            )
        else:
            ghostify(child, ratio, dw_size, cheap_op)
    return model
