"""Deterministic stand-ins for timm GhostNet checkpoints, shared by the tests and by
`tools/make_timm_ghostnet_reference.py` and `tools/make_timm_ghost_family_reference.py` (which ran
real timm on the same tensors).

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
# GhostNetV2 and RepGhostNet: one key list per family, shapes per variant, logits on a small input.
FAMILY_REFERENCE = Path(__file__).parent / "data" / "timm_ghost_family_reference.json"
FAMILY_VARIANTS = {
    "ghostnetv2": ("ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160"),
    "repghostnet": tuple(f"repghostnet_{tag}" for tag in ("050", "058", "080", "100", "111", "130", "150", "200")),
}
FAMILY_INPUT_SHAPE = (2, 3, 64, 64)
# How many leading logits of each image the family reference keeps.
FAMILY_LOGITS = 16


def reference() -> dict:
    """The checked-in record: per variant, timm's keys and shapes in order and its logits."""
    return json.loads(REFERENCE.read_text())


def family_reference() -> dict:
    """The checked-in GhostNetV2/RepGhostNet record (see `family_entries`)."""
    return json.loads(FAMILY_REFERENCE.read_text())


def family_entries(record: dict, variant: str) -> list[list]:
    """`[[key, shape], ...]` of one variant of the family record, in timm's order."""
    family = next(name for name, variants in FAMILY_VARIANTS.items() if variant in variants)
    return [[key, shape] for key, shape in zip(record["keys"][family], record["variants"][variant]["shapes"])]


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


def fake_input(shape: tuple[int, ...] = INPUT_SHAPE) -> torch.Tensor:
    """The fixed batch the reference logits were computed on (`FAMILY_INPUT_SHAPE` for the families)."""
    count = math.prod(shape)
    return torch.sin(torch.arange(count, dtype=torch.float64) * 0.01).to(torch.float32).reshape(shape)
