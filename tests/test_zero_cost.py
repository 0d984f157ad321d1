"""Every zero-cost proxy gives a finite score and ranks a sound network above a crippled one."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workbench.data import load_dataset
from workbench.errors import WorkbenchError
from workbench.training import ZERO_COST_PROXIES, seed_everything, zero_cost_score


def cnn(bottleneck: int | None = None, width: int = 16) -> nn.Module:
    mid = bottleneck or width
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
        nn.Conv2d(mid, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10),
    )


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", input_size=8)


@pytest.mark.parametrize("name", ZERO_COST_PROXIES)
def test_proxy_is_finite_and_prefers_the_sound_network(name: str, digits) -> None:
    seed_everything(0)
    sound = cnn()
    seed_everything(0)
    crippled = cnn(bottleneck=1)
    state = {k: v.clone() for k, v in sound.state_dict().items()}
    good, bad = (zero_cost_score(name, sound, digits, batch_size=32),
                 zero_cost_score(name, crippled, digits, batch_size=32))
    assert math.isfinite(good) and math.isfinite(bad)
    assert good > bad
    assert all(torch.equal(v, sound.state_dict()[k]) for k, v in state.items())  # the model is untouched


def test_macs_of_a_known_layer(digits) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    assert zero_cost_score("macs", model, digits) == 3 * 4 * 64 + 256 * 10
    assert zero_cost_score("params", model, digits) == 12 + 2570


def test_unknown_proxy(digits) -> None:
    with pytest.raises(WorkbenchError, match="synflow, naswot, grad_norm, params, macs"):
        zero_cost_score("jacov", cnn(), digits)
