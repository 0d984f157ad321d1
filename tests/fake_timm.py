"""Deterministic stand-ins for timm GhostNet checkpoints, shared by the tests and by
`tools/make_timm_ghostnet_reference.py` (which ran real timm on the same tensors).

Every value is a closed-form function of the tensor's position and of its key, computed in
float64, so the checked-in timm logits can be reproduced without timm and without relying on
torch's random number generator staying the same across versions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

REFERENCE = Path(__file__).parent / "data" / "timm_ghostnet_reference.json"
VARIANTS = ("ghostnet_050", "ghostnet_100", "ghostnet_130")
INPUT_SHAPE = (2, 3, 224, 224)


def reference() -> dict:
    """The checked-in record: per variant, timm's keys and shapes in order and its logits."""
    return json.loads(REFERENCE.read_text())


def fake_tensor(name: str, shape: list[int], index: int) -> torch.Tensor:
    """A well-scaled tensor for one state entry (BatchNorm variances positive, weights ~1/sqrt(fan_in))."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.tensor(7, dtype=torch.long)
    count = math.prod(shape)
    wave = torch.sin(torch.arange(count, dtype=torch.float64) * 0.618034 + index * 1.7)
    if leaf == "running_var":
        values = 1.0 + 0.25 * (wave + 1.0)
    elif leaf == "running_mean":
        values = 0.1 * wave
    elif leaf == "bias":
        values = 0.05 * wave
    elif len(shape) == 1:  # a BatchNorm scale
        values = 1.0 + 0.1 * wave
    else:
        values = wave * math.sqrt(3.0 / (count // shape[0]))
    return values.to(torch.float32).reshape(shape)


def fake_state(entries: list[list]) -> dict[str, torch.Tensor]:
    """A timm-named state dict from `[[key, shape], ...]` (the reference's `keys`)."""
    return {name: fake_tensor(name, shape, index) for index, (name, shape) in enumerate(entries)}


def fake_input() -> torch.Tensor:
    """The fixed batch the reference logits were computed on."""
    count = math.prod(INPUT_SHAPE)
    return torch.sin(torch.arange(count, dtype=torch.float64) * 0.01).to(torch.float32).reshape(INPUT_SHAPE)
