"""The RepGhost module (Chen et al., 2022): ghost maps added, not concatenated, and folded away.

Training runs three branches on the primary conv's output `x1`: the cheap conv-BN (depthwise d x d,
or a dense 1x1 for `cheap_op="pw"`), an identity through its own BatchNorm, summed, then the
activation. Both branches are linear in `x1`, so `reparameterize()` fuses them into the cheap conv
alone (one conv with a bias): the deploy form runs exactly one conv per branch point and needs no
concat, which is RepGhost's point on mobile hardware.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.models.dfc import DFCAttention
from workbench.models.layers import conv_bn


class RepGhostModule(nn.Module):
    """Primary conv to `out_ch` maps, then cheap conv-BN + identity-BN, summed (ReLU if `relu`).

    Args:
        in_ch: input channels.
        out_ch: output channels (the primary conv already makes all of them).
        kernel: primary conv kernel.
        dw_size: cheap conv kernel (odd; any odd size fuses, the identity sits at its centre).
        stride: primary conv stride.
        relu: ReLU after the primary conv and after the sum.
        cheap_op: `"dw"` (depthwise dw_size x dw_size) or `"pw"` (dense 1x1).
        dfc: gate the output with DFC attention (GhostNetV2's, on this module's input).

    Raises:
        ValueError: an unknown `cheap_op`.

    Example:
        >>> module = RepGhostModule(8, 16).eval()
        >>> x = torch.randn(2, 8, 10, 10)
        >>> trained = module(x)
        >>> torch.allclose(module.reparameterize()(x), trained, atol=1e-5)
        True
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, dw_size: int = 3, stride: int = 1,
                 relu: bool = True, cheap_op: str = "dw", dfc: bool = False) -> None:
        super().__init__()
        if cheap_op not in ("dw", "pw"):
            raise ValueError(f"unknown cheap_op {cheap_op!r} (allowed: 'dw', 'pw')")
        self.primary_conv = conv_bn(in_ch, out_ch, kernel, stride, relu=relu)
        # Registered before the cheap op: timm's (and the paper code's) state-dict order.
        self.identity_bn: nn.BatchNorm2d | None = nn.BatchNorm2d(out_ch)
        groups, size = (out_ch, dw_size) if cheap_op == "dw" else (1, 1)
        self.cheap_operation = conv_bn(out_ch, out_ch, size, groups=groups, relu=False)
        self.act = nn.ReLU() if relu else nn.Identity()
        self.dfc = DFCAttention(in_ch, out_ch, kernel, stride) if dfc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary_conv(x)
        y = self.cheap_operation(intrinsic)
        if self.identity_bn is not None:
            y = y + self.identity_bn(intrinsic)
        y = self.act(y)
        return y if self.dfc is None else self.dfc(x, y)

    @torch.no_grad()
    def reparameterize(self) -> "RepGhostModule":
        """Fuse the cheap conv-BN and the identity BN into one biased conv (eval statistics; in
        place). Returns the module; a second call does nothing."""
        if self.identity_bn is None:
            return self
        conv, bn = self.cheap_operation[0], self.cheap_operation[1]
        weight, bias = _scaled(conv.weight.double(), bn)
        identity, identity_bias = _scaled(_identity_kernel(conv).double(), self.identity_bn)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          groups=conv.groups, bias=True).to(conv.weight)
        fused.weight.copy_(weight + identity)
        fused.bias.copy_(bias + identity_bias)
        self.cheap_operation = nn.Sequential(fused)
        self.identity_bn = None
        return self


def _scaled(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """`kernel` and a bias such that conv(kernel) + bias == bn(conv(original kernel)) in eval mode."""
    scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias.double() - bn.running_mean.double() * scale


def _identity_kernel(conv: nn.Conv2d) -> torch.Tensor:
    """The kernel of `conv`'s shape that copies each input channel to the same output channel."""
    kernel = torch.zeros_like(conv.weight)
    per_group = conv.in_channels // conv.groups
    centre_h, centre_w = conv.kernel_size[0] // 2, conv.kernel_size[1] // 2
    for channel in range(conv.out_channels):
        kernel[channel, channel % per_group, centre_h, centre_w] = 1.0
    return kernel
