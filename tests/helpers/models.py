"""Model helpers shared by the model and GPU tests."""

from __future__ import annotations

import torch
from torch import nn


def randomise_bn(model: nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics so folding is really exercised."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
