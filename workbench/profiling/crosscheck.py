"""A second opinion on MACs from `torch.utils.flop_counter.FlopCounterMode`.

FlopCounterMode counts two FLOPs per multiply-accumulate and only matrix-multiply and
convolution ops, so half its total is directly comparable with fvcore's conv/linear MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

TOLERANCE = 0.01


@dataclass(frozen=True)
class CrossCheck:
    """FlopCounterMode's MACs, their relative difference to fvcore's, and whether they agree."""

    macs: int
    rel_diff: float
    ok: bool


def flop_counter_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """Conv and matmul multiply-accumulates of one forward pass, by FlopCounterMode.

    Example:
        >>> flop_counter_macs(nn.Linear(4, 3), torch.ones(2, 4))
        24
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(inputs)
    return int(counter.get_total_flops()) // 2


def cross_check(model: nn.Module, inputs: torch.Tensor, fvcore_macs: int, tolerance: float = TOLERANCE) -> CrossCheck:
    """Compare fvcore's MACs with FlopCounterMode's; `ok` when within `tolerance` (relative).

    Example:
        >>> cross_check(nn.Linear(4, 3), torch.ones(2, 4), fvcore_macs=24).ok
        True
    """
    macs = flop_counter_macs(model, inputs)
    rel_diff = abs(macs - fvcore_macs) / max(fvcore_macs, macs, 1)
    return CrossCheck(macs=macs, rel_diff=rel_diff, ok=rel_diff <= tolerance)
