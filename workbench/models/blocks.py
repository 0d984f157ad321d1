"""The Ghost building blocks (Han et al., CVPR 2020), in plain PyTorch; GhostNetV2's DFC
attention (`dfc.py`) and the RepGhost module (`repghost.py`) plug into the same bottleneck.

Every convolution that is followed by a BatchNorm sits with it inside an `nn.Sequential`,
so the deploy transform can fold the pair without knowing the module types.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.dfc import DFCAttention
from workbench.models.layers import conv_bn, make_divisible
from workbench.models.repghost import RepGhostModule

__all__ = ["DFCAttention", "GhostBottleneck", "GhostModule", "RepGhostModule", "SqueezeExcite", "conv_bn",
           "make_divisible"]


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """relu6(x + 3) / 6, the SE gate of GhostNet."""
    return F.relu6(x + 3.0) / 6.0


class HardSigmoid(nn.Module):
    """Module form of `hard_sigmoid` (a named module so profilers can attribute it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hard_sigmoid(x)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with a hard-sigmoid gate; reduced width rounded to 4."""

    def __init__(self, channels: int, se_ratio: float = 0.25, divisor: int = 4) -> None:
        super().__init__()
        reduced = make_divisible(channels * se_ratio, divisor)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.conv_expand(self.act(self.conv_reduce(self.pool(x)))))
        return x * scale


class GhostModule(nn.Module):
    """A primary conv makes ceil(out/s) intrinsic maps; a cheap op makes the ghost maps.

    `cheap_op="dw"` is the paper's depthwise d x d conv; `"pw"` is a dense 1x1 conv, which
    does more arithmetic but runs better on GPUs. With `ratio == 1` the module is a plain
    conv-BN(-ReLU). With `dfc` the output is gated by DFC attention (GhostNetV2's module).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 1,
        ratio: int = 2,
        dw_size: int = 3,
        stride: int = 1,
        relu: bool = True,
        cheap_op: str = "dw",
        dfc: bool = False,
    ) -> None:
        super().__init__()
        self.out_ch = out_ch
        init_ch = math.ceil(out_ch / ratio)
        ghost_ch = init_ch * (ratio - 1)
        self.primary_conv = conv_bn(in_ch, init_ch, kernel, stride, relu=relu)
        if ghost_ch == 0:
            self.cheap_operation = None
        elif cheap_op == "dw":
            self.cheap_operation = conv_bn(init_ch, ghost_ch, dw_size, groups=init_ch, relu=relu)
        elif cheap_op == "pw":
            self.cheap_operation = conv_bn(init_ch, ghost_ch, 1, relu=relu)
        else:
            raise ValueError(f"unknown cheap_op {cheap_op!r} (allowed: 'dw', 'pw')")
        self.dfc = DFCAttention(in_ch, out_ch, kernel, stride) if dfc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.primary_conv(x)
        if self.cheap_operation is not None:
            out = torch.cat([out, self.cheap_operation(out)], dim=1)[:, : self.out_ch]
        return out if self.dfc is None else self.dfc(x, out)


class GhostBottleneck(nn.Module):
    """Ghost module expand, [stride-2 depthwise conv], [SE], Ghost module project (no
    activation), plus an identity or depthwise+pointwise shortcut.

    `merge="concat"` builds `GhostModule`s (GhostNet, GhostNetV2), `"rep"` builds
    `RepGhostModule`s (RepGhostNet; `ratio` does not apply). `dfc` puts DFC attention on the
    expanding module, as GhostNetV2 does.
    """

    def __init__(
        self,
        in_ch: int,
        mid_ch: int,
        out_ch: int,
        dw_kernel: int = 3,
        stride: int = 1,
        se_ratio: float = 0.0,
        ratio: int = 2,
        dw_size: int = 3,
        primary_kernel: int = 1,
        cheap_op: str = "dw",
        merge: str = "concat",
        dfc: bool = False,
    ) -> None:
        super().__init__()
        ghost_cls, ghost = _ghost_module(merge, primary_kernel, ratio, dw_size, cheap_op)
        self.ghost1 = ghost_cls(in_ch, mid_ch, relu=True, dfc=dfc, **ghost)
        self.conv_dw = conv_bn(mid_ch, mid_ch, dw_kernel, stride, groups=mid_ch, relu=False) if stride > 1 else None
        self.se = SqueezeExcite(mid_ch, se_ratio) if se_ratio > 0 else None
        self.ghost2 = ghost_cls(mid_ch, out_ch, relu=False, **ghost)
        if in_ch == out_ch and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                conv_bn(in_ch, in_ch, dw_kernel, stride, groups=in_ch, relu=False),
                conv_bn(in_ch, out_ch, 1, relu=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ghost1(x)
        if self.conv_dw is not None:
            y = self.conv_dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.ghost2(y)
        return y + self.shortcut(x)


def _ghost_module(merge: str, kernel: int, ratio: int, dw_size: int, cheap_op: str) -> tuple[type[nn.Module], dict]:
    """The Ghost module class of a `merge` and its keyword arguments."""
    if merge == "concat":
        return GhostModule, dict(kernel=kernel, ratio=ratio, dw_size=dw_size, cheap_op=cheap_op)
    if merge == "rep":
        return RepGhostModule, dict(kernel=kernel, dw_size=dw_size, cheap_op=cheap_op)
    raise ValueError(f"unknown merge {merge!r} (allowed: 'concat', 'rep')")
