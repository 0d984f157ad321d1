"""The two helpers every Ghost block shares: channel rounding and conv-BN(-ReLU).

Example:
    >>> make_divisible(72 * 0.58), conv_bn(8, 16, 3)[0].padding
    (40, (1, 1))
"""

from __future__ import annotations

from torch import nn


def make_divisible(value: float, divisor: int = 4, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of `divisor`, never more than 10% below `value`
    (the rounding of the reference GhostNet and MobileNet code)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BatchNorm, optionally followed by ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
