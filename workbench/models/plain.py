"""Plain CIFAR reference networks of the GhostNet paper's Table 3: VGG-16 and ResNet-56.

They are ordinary CNNs; `ghostify` turns their convolutions into Ghost modules.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.models.blocks import conv_bn, make_divisible

VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)


class VGG16Cifar(nn.Module):
    """VGG-16 with BatchNorm for 32x32 inputs: 13 3x3 convs, 5 max-pools, one linear layer."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = make_divisible(int(item) * width, 4)
                layers.append(conv_bn(channels, out, 3))
                channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, 1x1 conv-BN projection when the shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_ch, out_ch, 3, stride), conv_bn(out_ch, out_ch, 3, relu=False))
        self.shortcut: nn.Module = (
            nn.Identity() if stride == 1 and in_ch == out_ch else conv_bn(in_ch, out_ch, 1, stride, relu=False)
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNet56Cifar(nn.Module):
    """ResNet-56 for CIFAR: a 3x3 stem and three stages of nine basic blocks (16/32/64 wide)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0,
                 blocks_per_stage: int = 9) -> None:
        super().__init__()
        widths = [make_divisible(w * width, 4) for w in (16, 32, 64)]
        self.stem = conv_bn(in_channels, widths[0], 3)
        layers: list[nn.Module] = []
        channels = widths[0]
        for index, out in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, out, stride))
                channels = out
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.stages(self.stem(x))), 1))
