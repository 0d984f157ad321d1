"""`GhostNet`: stem, Ghost bottleneck stages and classifier head, read from an `ArchConfig`."""

from __future__ import annotations

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models.blocks import GhostBottleneck, conv_bn, make_divisible


class GhostNet(nn.Module):
    """The GhostNet family; channel counts are `make_divisible(c * width * stage_width, 4)`."""

    def __init__(self, arch: ArchConfig) -> None:
        super().__init__()
        self.arch = arch
        channels = make_divisible(arch.stem.channels * arch.width, 4)
        self.stem = conv_bn(arch.in_channels, channels, arch.stem.kernel, arch.stem.stride)
        stages: list[nn.Module] = []
        for s, stage in enumerate(arch.stages):
            scale = arch.width * stage.width
            blocks: list[nn.Module] = []
            for b, block in enumerate(stage.blocks):
                ghost = arch.resolved_ghost(s, b)
                out_ch = make_divisible(block.out * scale, 4)
                mid_ch = make_divisible(block.mid * scale, 4)
                blocks.append(
                    GhostBottleneck(
                        channels, mid_ch, out_ch, block.kernel, block.stride, block.se,
                        ghost.ratio, ghost.dw_size, ghost.primary_kernel, ghost.cheap_op,
                    )
                )
                channels = out_ch
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        last = make_divisible(arch.head.last_channels * arch.width, 4)
        self.head_conv = conv_bn(channels, last, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(last, arch.head.features, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(arch.head.dropout)
        self.classifier = nn.Linear(arch.head.features, arch.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv_head(self.pool(self.forward_features(x))))
        return self.classifier(self.dropout(torch.flatten(x, 1)))
