"""Proxy training: loss goes down, determinism, fractional epochs, divergence, pruning hook."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workbench.data import load_dataset
from workbench.training import ProxyRecipe, TrainingDiverged, evaluate, seed_everything, train_proxy
from workbench.training.proxy import epoch_plan


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", input_size=8)


def small_cnn(channels: int = 3, width: int = 16, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes),
    )


def test_training_lowers_the_loss_and_learns(digits) -> None:
    seed_everything(0)
    model = small_cnn()
    before, _ = evaluate(model, digits.val_x, digits.val_y)
    result = train_proxy(model, digits, ProxyRecipe.for_dataset("digits", epochs=3))
    assert result.loss_curve[-1] < result.loss_curve[0]
    assert result.best_val_accuracy > max(0.5, before)
    assert len(result.val_curve) == 3 and result.epochs_run == 3
    assert result.images_per_second > 0 and result.train_seconds > 0
    assert set(result.to_dict()) >= {"val_accuracy", "best_val_accuracy", "val_curve", "loss_curve",
                                     "train_seconds", "eval_seconds", "images_per_second", "epochs_run",
                                     "stopped_reason"}


def test_same_seed_same_result(digits) -> None:
    runs = []
    for _ in range(2):
        seed_everything(3)
        runs.append(train_proxy(small_cnn(), digits, ProxyRecipe(epochs=1, batch_size=64, seed=3, lr=0.05)))
    assert runs[0].loss_curve == runs[1].loss_curve and runs[0].val_curve == runs[1].val_curve


def test_fractional_epochs(digits) -> None:
    assert epoch_plan(2.5, 10) == [10, 10, 5] and epoch_plan(0.01, 10) == [1]
    result = train_proxy(small_cnn(), digits, ProxyRecipe(epochs=1.5, batch_size=128, schedule="cosine"))
    assert len(result.val_curve) == 2 and 1.4 < result.epochs_run < 1.6


def test_exploding_loss_raises(digits) -> None:
    seed_everything(0)
    with pytest.raises(TrainingDiverged, match=r"loss (is nan|is inf|exploded).*epoch 0, step \d+"):
        train_proxy(small_cnn(), digits, ProxyRecipe(epochs=1, lr=1e6, schedule="constant", warmup_fraction=0.0))


class _NaNModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(2, 3))) * float("nan")


def test_nan_forward_raises_at_first_step(digits) -> None:
    with pytest.raises(TrainingDiverged) as info:
        train_proxy(_NaNModel(), digits, ProxyRecipe(epochs=1))
    assert info.value.epoch == 0 and info.value.step == 0 and "nan" in info.value.reason


class _Prune(Exception):
    pass


def test_on_epoch_exceptions_propagate(digits) -> None:
    calls = []

    def on_epoch(index: int, accuracy: float) -> None:
        calls.append((index, accuracy))
        raise _Prune()

    with pytest.raises(_Prune):
        train_proxy(small_cnn(), digits, ProxyRecipe(epochs=3, batch_size=256), on_epoch=on_epoch)
    assert len(calls) == 1 and 0.0 <= calls[0][1] <= 1.0


def test_amp_fp16_on_cpu_is_noted(digits) -> None:
    result = train_proxy(small_cnn(), digits, ProxyRecipe(epochs=0.2, amp="fp16", batch_size=256))
    assert any("fp16" in note for note in result.notes)


def test_recipe_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ValueError):
        ProxyRecipe(epochs=0)
    with pytest.raises(ValueError):
        ProxyRecipe(optimizer="adam")
    assert ProxyRecipe.for_dataset("digits").flip is False and ProxyRecipe.for_dataset("cifar10").flip is True
    assert ProxyRecipe().bn_recalibration_batches == 20
    with pytest.raises(ValueError):
        ProxyRecipe(bn_recalibration_batches=-1)
