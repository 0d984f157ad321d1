"""`GhostNet`: stem, Ghost bottleneck stages and classifier head, read from an `ArchConfig`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models.blocks import GhostBottleneck, conv_bn, make_divisible


@dataclass(frozen=True)
class Channels:
    """The channel counts of a GhostNet: the stem's output, each block's (in, mid, out) per
    stage, and the head's last conv."""

    stem: int
    stages: tuple[tuple[tuple[int, int, int], ...], ...]
    last: int


def channels(arch: ArchConfig) -> Channels:
    """The channel counts `GhostNet(arch)` builds: `make_divisible(c * width * stage_width, 4)`
    for every block, `make_divisible(c * width, 4)` for the stem and the head.

    Example:
        >>> from workbench.models import get_preset
        >>> plan = channels(get_preset("ghostnet_cifar_050"))
        >>> plan.stem, plan.stages[0][0], plan.last
        (8, (8, 8, 8), 480)
    """
    stem = make_divisible(arch.stem.channels * arch.width, 4)
    stages, current = [], stem
    for stage in arch.stages:
        scale = arch.width * stage.width
        blocks = []
        for block in stage.blocks:
            out = make_divisible(block.out * scale, 4)
            blocks.append((current, make_divisible(block.mid * scale, 4), out))
            current = out
        stages.append(tuple(blocks))
    return Channels(stem, tuple(stages), make_divisible(arch.head.last_channels * arch.width, 4))


class GhostNet(nn.Module):
    """The GhostNet family (V1, V2 with DFC blocks, RepGhostNet with `merge: rep`); channel counts
    are `channels(arch)`."""

    def __init__(self, arch: ArchConfig) -> None:
        super().__init__()
        self.arch = arch
        plan = channels(arch)
        self.stem = conv_bn(arch.in_channels, plan.stem, arch.stem.kernel, arch.stem.stride)
        stages: list[nn.Module] = []
        for s, (stage, widths) in enumerate(zip(arch.stages, plan.stages)):
            blocks: list[nn.Module] = []
            for b, (block, (in_ch, mid_ch, out_ch)) in enumerate(zip(stage.blocks, widths)):
                ghost = arch.resolved_ghost(s, b)
                blocks.append(
                    GhostBottleneck(
                        in_ch, mid_ch, out_ch, block.kernel, block.stride, block.se,
                        ghost.ratio, ghost.dw_size, ghost.primary_kernel, ghost.cheap_op, ghost.merge, block.dfc,
                    )
                )
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        last_in = next((block[2] for widths in reversed(plan.stages) for block in reversed(widths)), plan.stem)
        self.head_conv = conv_bn(last_in, plan.last, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(plan.last, arch.head.features, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(arch.head.dropout)
        self.classifier = nn.Linear(arch.head.features, arch.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv_head(self.pool(self.forward_features(x))))
        return self.classifier(self.dropout(torch.flatten(x, 1)))
