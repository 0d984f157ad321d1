"""The graphed training step (`training.graphed`) trains exactly like the eager one.

On the CPU the step is not captured; what runs is the rest of the graphed path: static input
buffers, warm-up, the short-batch fallback, the loss bookkeeping and the graph-safe optimiser
(tensor learning rates, fused SGD). The CUDA capture itself is tested in test_gpu.py.

Tolerances. The step plumbing changes no arithmetic, so with the same optimiser the weights
are compared bit for bit (tolerance 0). The graph-safe optimiser applies a tensor learning
rate, which rounds the update differently from a Python float by at most one float32 ulp per
step; a few steps of SGD on a BatchNorm network amplify any such change (measured: 4e-4
relative after 5 steps, and 6e-3 after 10, for eager itself when the learning rate moves by
one ulp). So that comparison is bounded by what the eager run does under a one-ulp change of
its learning rate: at most 4x that deviation (measured ratio 1.0 at 5 steps), and 1% absolute.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from workbench.data.batching import DeviceBatches
from workbench.models import build_model, get_preset
from workbench.training import ProxyRecipe, seed_everything
from workbench.training.graphed import GraphedStep, graph_autocast
from workbench.training.loop import make_optimizer, make_scheduler, train_epoch

ARCH = get_preset("ghostnet_cifar_050", input_size=12, in_channels=1, num_classes=10)


def _data(count: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return torch.randn(count, 1, 12, 12, generator=generator), torch.randint(0, 10, (count,), generator=generator)


def _train(graphed: bool, graph_safe: bool, *, steps: int, epochs: int = 1, lr: float = 0.05,
           count: int = 100) -> tuple[nn.Module, GraphedStep | None, list[float]]:
    """`epochs` passes of at most `steps` steps, batch 16, one-cycle schedule, crop augmentation."""
    x, y = _data(count)
    seed_everything(0)
    model = build_model(ARCH)
    recipe = ProxyRecipe(batch_size=16, lr=lr)
    batches = DeviceBatches(x, y, 16, augment=True, flip=True, seed=0)
    optimizer = make_optimizer(model, recipe, graph_safe=graph_safe)
    scheduler = make_scheduler(optimizer, recipe, epochs * min(steps, len(batches)))
    loss_fn = nn.CrossEntropyLoss()
    step = GraphedStep(model, optimizer, loss_fn) if graphed else None
    losses = []
    with torch.random.fork_rng():
        torch.manual_seed(1)  # dropout
        for epoch in range(epochs):
            loss, _ = train_epoch(model, batches.epoch(steps), optimizer, scheduler, loss_fn, epoch=epoch,
                                  train_step=step)
            losses.append(loss)
    return model, step, losses


def _relative_distance(a: nn.Module, b: nn.Module) -> float:
    def flat(model: nn.Module) -> torch.Tensor:
        return torch.cat([t.flatten().double() for t in model.state_dict().values() if t.is_floating_point()])

    return float((flat(a) - flat(b)).norm() / flat(a).norm())


def test_uncaptured_graphed_step_equals_eager_bit_for_bit() -> None:
    # 100 images at batch 16: 6 full batches and a short one (4 images), which takes the fallback.
    eager, _, eager_losses = _train(False, False, steps=100, epochs=2)
    graphed, step, graphed_losses = _train(True, False, steps=100, epochs=2)
    assert step is not None and not step.capture and step.eager_steps == 14
    assert graphed_losses == eager_losses
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values()):
        assert torch.equal(a, b), name


def test_graph_safe_optimizer_gives_the_eager_weights_within_one_ulp_of_learning_rate() -> None:
    steps = 5
    eager, _, _ = _train(False, False, steps=steps)
    one_ulp = float(np.nextafter(np.float32(0.05), np.float32(1.0)))
    perturbed, _, _ = _train(False, False, steps=steps, lr=one_ulp)
    graphed, _, _ = _train(True, True, steps=steps)
    noise = _relative_distance(eager, perturbed)
    assert 0.0 < noise < 1e-2, "the one-ulp reference should move the weights a little"
    assert _relative_distance(eager, graphed) <= min(4 * noise, 1e-2)


def test_graph_safe_optimizer_one_step_is_the_eager_update() -> None:
    # One step, before any amplification: every parameter within 1e-6 of its eager value.
    eager, _, _ = _train(False, False, steps=1)
    graphed, _, _ = _train(True, True, steps=1)
    for (name, a), b in zip(eager.named_parameters(), graphed.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6, msg=name)


def test_graph_safe_learning_rate_follows_the_schedule() -> None:
    model = nn.Linear(2, 2)
    recipe = ProxyRecipe(lr=0.2)
    plain, safe = make_optimizer(model, recipe), make_optimizer(model, recipe, graph_safe=True)
    schedules = [make_scheduler(opt, recipe, 10) for opt in (plain, safe)]
    for _ in range(6):
        assert [float(g["lr"]) for g in safe.param_groups] == pytest.approx([g["lr"] for g in plain.param_groups])
        for scheduler, opt in zip(schedules, (plain, safe)):
            opt.step()
            scheduler.step()
    assert all(isinstance(g["lr"], torch.Tensor) for g in safe.param_groups)


def test_capture_needs_a_cuda_model() -> None:
    with pytest.raises(ValueError, match="CUDA"):
        GraphedStep(nn.Linear(2, 2), torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1), nn.MSELoss(), capture=True)
    with pytest.raises(ValueError, match="fp16"):
        graph_autocast(torch.device("cpu"), "fp16")


def test_train_proxy_graphed_on_cpu_gives_the_eager_weights() -> None:
    from workbench.data import load_dataset
    from workbench.training import train_proxy

    data = load_dataset("digits", input_size=12, in_channels=1)
    recipe = ProxyRecipe.for_dataset("digits", epochs=0.14, bn_recalibration_batches=2)  # 6 steps of 36
    one_ulp = recipe.model_copy(update={"lr": float(np.nextafter(np.float32(recipe.lr), np.float32(1.0)))})
    models, results = [], []
    for graphed, changed in ((False, recipe), (False, one_ulp), (True, recipe)):
        seed_everything(0)
        models.append(build_model(ARCH))
        results.append(train_proxy(models[-1], data, changed, graphed=graphed))
    assert not results[2].notes and results[2].epochs_run == results[0].epochs_run
    noise = _relative_distance(models[0], models[1])
    assert 0.0 < noise < 0.1
    assert _relative_distance(models[0], models[2]) <= 4 * noise  # the bound of the 5-step comparison above
