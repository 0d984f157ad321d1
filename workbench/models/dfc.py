"""DFC attention (GhostNetV2, Tang et al., NeurIPS 2022): decoupled fully-connected attention.

A Ghost module sees only a d x d neighbourhood; DFC adds a gate with a long-range view at little
cost. On the input average-pooled 2x, a conv-BN (the primary conv's kernel and stride) reaches the
output width, then a 1 x k and a k x 1 depthwise conv-BN mix along rows and columns (the
"horizontal" and "vertical" fully-connected layers, decoupled); a sigmoid and nearest upsampling to
the output size give the gate that multiplies the module's output. Every conv is followed by its
BatchNorm inside an `nn.Sequential`, so `fold_batchnorm` folds all three.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.layers import conv_bn


def _strip_conv_bn(channels: int, kernel: tuple[int, int]) -> nn.Sequential:
    padding = (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, 1, padding, groups=channels, bias=False),
                         nn.BatchNorm2d(channels))


class DFCAttention(nn.Module):
    """The DFC gate of a Ghost module that maps `in_ch` to `out_ch` channels.

    Args:
        in_ch: channels of the Ghost module's input.
        out_ch: channels of its output (the gate's width).
        kernel: the primary conv's kernel (the compressing conv uses the same).
        stride: the primary conv's stride.
        long_kernel: length k of the horizontal (1 x k) and vertical (k x 1) depthwise convs.

    Example:
        >>> dfc = DFCAttention(8, 16)
        >>> dfc(torch.randn(1, 8, 14, 14), torch.ones(1, 16, 14, 14)).shape
        torch.Size([1, 16, 14, 14])
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, long_kernel: int = 5) -> None:
        super().__init__()
        self.compress = conv_bn(in_ch, out_ch, kernel, stride, relu=False)
        self.horizontal = _strip_conv_bn(out_ch, (1, long_kernel))
        self.vertical = _strip_conv_bn(out_ch, (long_kernel, 1))

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """`features` (the Ghost module's output for input `x`) times the gate computed from `x`."""
        gate = self.vertical(self.horizontal(self.compress(F.avg_pool2d(x, kernel_size=2, stride=2))))
        return features * F.interpolate(torch.sigmoid(gate), size=features.shape[-2:], mode="nearest")
