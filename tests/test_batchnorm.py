"""BatchNorm recalibration before evaluation: wrong running statistics are restored to the
ones PyTorch computes from the data, the weights never change, and `bn_recalibration_batches:
0` keeps the statistics training left behind (proxy and full training)."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from workbench.data import load_dataset
from workbench.training import ProxyRecipe, evaluate, seed_everything, train_proxy
from workbench.training.batchnorm import batchnorm_layers
from workbench.training.loop import calibration_batches, recalibrate


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", input_size=8)


def small_cnn(width: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(width, 10),
    )


def spoil(model: nn.Module) -> None:
    """Running statistics far from anything the data produce."""
    for bn in batchnorm_layers(model):
        bn.running_mean.fill_(7.0)
        bn.running_var.fill_(1e-3)


def batch_statistics(model: nn.Module, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each BatchNorm layer's (mean, unbiased var) of `images` as one batch, by PyTorch itself:
    a train-mode pass with momentum 1 leaves exactly the batch's statistics behind."""
    clone = copy.deepcopy(model)
    for bn in batchnorm_layers(clone):
        bn.momentum = 1.0
    clone.train()
    for module in clone.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    with torch.no_grad():
        clone(images)
    return [(bn.running_mean.clone(), bn.running_var.clone()) for bn in batchnorm_layers(clone)]


def trained(digits, epochs: float = 3.0) -> nn.Module:
    seed_everything(0)
    model = small_cnn()
    train_proxy(model, digits, ProxyRecipe.for_dataset("digits", epochs=epochs, bn_recalibration_batches=0))
    return model


def test_recalibration_restores_the_statistics_of_the_data(digits) -> None:
    model = trained(digits)
    images = digits.train_x[:256]
    want = batch_statistics(model, images)
    weights = {k: v.clone() for k, v in model.named_parameters()}
    spoil(model)
    model.train()
    # One batch holding all 256 images: the recalibrated statistics are that batch's.
    used = recalibrate(model, images, ProxyRecipe(batch_size=256, bn_recalibration_batches=5))
    assert used == 1
    for bn, (mean, var) in zip(batchnorm_layers(model), want):
        torch.testing.assert_close(bn.running_mean, mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bn.running_var, var, rtol=1e-5, atol=1e-6)
    for name, value in model.named_parameters():
        assert torch.equal(value, weights[name]), name
    assert bn.momentum == 0.1 and model.training and model[8].training  # settings and mode restored


def test_equal_batches_average_to_the_mean_of_all_images(digits) -> None:
    model = trained(digits, epochs=0.3)
    images = digits.train_x[:256]
    first_layer = model[0]
    with torch.no_grad():
        want = first_layer(images).mean(dim=(0, 2, 3))
    spoil(model)
    assert recalibrate(model, images, ProxyRecipe(batch_size=64, bn_recalibration_batches=4)) == 4
    torch.testing.assert_close(batchnorm_layers(model)[0].running_mean, want, rtol=1e-4, atol=1e-5)


def test_recalibration_restores_eval_accuracy(digits) -> None:
    model = trained(digits)
    everything = digits.train_x  # statistics of the whole training split, by PyTorch
    reference = copy.deepcopy(model)
    for bn, (mean, var) in zip(batchnorm_layers(reference), batch_statistics(model, everything)):
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    want, _ = evaluate(reference, digits.val_x, digits.val_y)
    spoil(model)
    spoiled, _ = evaluate(model, digits.val_x, digits.val_y)
    recalibrate(model, everything, ProxyRecipe(batch_size=len(everything), bn_recalibration_batches=1))
    got, _ = evaluate(model, digits.val_x, digits.val_y)
    assert spoiled < 0.3 < want
    assert abs(got - want) <= 1 / len(digits.val_y)


def test_calibration_draw_is_seeded_and_leaves_the_random_state_alone() -> None:
    x = torch.arange(50.0).view(50, 1, 1, 1)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    first = [b.flatten().tolist() for b in calibration_batches(x, 8, 3, seed=1)]
    assert torch.equal(torch.get_rng_state(), state)
    assert first == [b.flatten().tolist() for b in calibration_batches(x, 8, 3, seed=1)]
    assert first != [b.flatten().tolist() for b in calibration_batches(x, 8, 3, seed=2)]
    assert [len(b) for b in first] == [8, 8, 8] and len({v for b in first for v in b}) == 24  # no repeats
    assert [len(b) for b in calibration_batches(x[:17], 8, 20, seed=0)] == [8, 8]  # a batch of one is dropped


def test_proxy_training_recalibrates_without_changing_the_training(digits) -> None:
    runs = {}
    for batches in (0, 20):
        seed_everything(0)
        model = small_cnn()
        result = train_proxy(model, digits,
                             ProxyRecipe(epochs=2, batch_size=64, lr=0.05, bn_recalibration_batches=batches))
        runs[batches] = (model, result)
    (plain, off), (recalibrated, on) = runs[0], runs[20]
    assert off.loss_curve == on.loss_curve  # same data order, same steps: only the statistics differ
    for (name, a), (_, b) in zip(plain.named_parameters(), recalibrated.named_parameters()):
        assert torch.equal(a, b), name
    steps = 2 * -(-len(digits.train_y) // 64)
    # 0 = today's behaviour: the statistics are training's running averages, and the recorded
    # accuracy is the model's eval accuracy as training left it.
    assert all(int(bn.num_batches_tracked) == steps for bn in batchnorm_layers(plain))
    assert off.val_accuracy == evaluate(plain, digits.val_x, digits.val_y)[0]
    available = -(-len(digits.train_y) // 64)  # fewer than 20 batches of 64 in 1,151 images: all of them
    assert all(int(bn.num_batches_tracked) == min(20, available) for bn in batchnorm_layers(recalibrated))
    assert on.val_accuracy == evaluate(recalibrated, digits.val_x, digits.val_y)[0]


def test_full_training_saves_recalibrated_statistics(tmp_path) -> None:
    from helpers.train import exported, tiny_arch

    from workbench.training.checkpoint import load_weights
    from workbench.training.full import train_full

    data = load_dataset("digits", input_size=16, seed=3)
    data = dataclasses.replace(data, train_x=data.train_x[:128], train_y=data.train_y[:128])
    config = exported(tiny_arch())
    states = {}
    for batches in (0, 2):
        recipe = config.train.model_copy(update={"epochs": 1, "bn_recalibration_batches": batches})
        out = tmp_path / f"bn{batches}"
        train_full(config.model_copy(update={"train": recipe}), out, data=data, device="cpu", progress=False)
        states[batches], saved = load_weights(out / "model.pt")
        assert saved["train"]["bn_recalibration_batches"] == batches  # the recipe records the setting
    tracked = [k for k in states[0] if k.endswith("num_batches_tracked")]
    assert tracked and all(int(states[0][k]) == 4 for k in tracked)   # 128 images / 32: training's 4 steps
    assert all(int(states[2][k]) == 2 for k in tracked)               # recomputed from 2 batches
    weights = [k for k in states[0] if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(torch.equal(states[0][k], states[2][k]) for k in weights)
