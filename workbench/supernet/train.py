"""Supernet training by the sandwich rule (BigNAS; Yu et al., 2020), with in-place distillation.

Each step trains the largest subnet on the labels, then the smallest and `randoms` random subnets
on the largest one's softened predictions (detached), and takes one optimiser step on the summed
gradients. Why the sandwich rule and not Once-for-All's progressive shrinking: it has one phase
and one schedule, so a short run on a small CPU budget trains every subnet from the first epoch
(progressive shrinking spends its first phase on the largest net alone and needs a phase per
knob), and the largest and smallest subnets bound every other's gradient scale each step. The
comparison was not measured here (see the README's supernet section).

A run is deterministic for its seed: data order from its own generator (kept in the checkpoint),
random subnets and dropout reseeded per epoch, so a resumed run continues the same sequence.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.data.batching import DeviceBatches
from workbench.supernet.net import GhostSupernet
from workbench.training.loop import TrainingDiverged, evaluate, make_optimizer, make_scheduler, recalibrate
from workbench.training.recipe import ProxyRecipe


@dataclass
class SandwichPlan:
    """The subnets of each step: the largest, the smallest and a sampler of random ones."""

    largest: ArchConfig
    smallest: ArchConfig
    sample: Callable[[random.Random], ArchConfig]
    randoms: int = 2


def train_supernet(net: GhostSupernet, data: Any, recipe: ProxyRecipe, plan: SandwichPlan, epochs: int, *,
                   device: str = "cpu", resume: dict[str, Any] | None = None,
                   on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
                   progress: bool = True) -> list[dict[str, Any]]:
    """Train `net` for `epochs` epochs on `data.train_*` by the sandwich rule.

    `resume` is a checkpoint (`training_state` of an earlier run of the same recipe): training
    continues after its epoch. `on_epoch(epoch, state)` receives `training_state` after every
    epoch (the caller writes the file). Returns the per-epoch history.

    Raises:
        TrainingDiverged: a NaN/inf loss or one over `recipe.max_loss`.
    """
    from tqdm.auto import tqdm

    dev = torch.device(device)
    net.to(dev).train()
    data = data.to(dev)
    batches = DeviceBatches(data.train_x, data.train_y, recipe.batch_size, augment=recipe.augment,
                            flip=recipe.flip, seed=recipe.seed)
    steps = len(batches)
    optimizer = make_optimizer(net, recipe)
    scheduler = make_scheduler(optimizer, recipe, steps * epochs)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        batches.generator.set_state(resume["batches_rng"])
        history, start_epoch = list(resume["history"]), int(resume["epoch"])
    hard = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        rng = random.Random(recipe.seed * 1_000_003 + epoch)
        torch.manual_seed(recipe.seed * 1_000_003 + epoch)
        total = 0.0
        bar = tqdm(batches.epoch(steps), total=steps, desc=f"supernet epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=False)
        for step, (images, labels) in enumerate(bar):
            loss = _sandwich_step(net, images, labels, plan, rng, hard)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            value = float(loss)
            if not math.isfinite(value) or value > recipe.max_loss:
                raise TrainingDiverged(f"supernet loss {value:.4g} at epoch {epoch + 1}, step {step} (lower the "
                                       "learning rate)", epoch, step, value)
            total += value
        bar.close()
        largest = subnet_accuracy(net, plan.largest, data, recipe)
        smallest = subnet_accuracy(net, plan.smallest, data, recipe)
        net.train()
        history.append({"epoch": epoch + 1, "loss": total / steps, "largest_accuracy": largest,
                        "smallest_accuracy": smallest, "seconds": time.perf_counter() - started})
        if on_epoch is not None:
            on_epoch(epoch + 1, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                 "batches_rng": batches.generator.get_state(), "history": list(history),
                                 "epoch": epoch + 1})
    return history


def _sandwich_step(net: GhostSupernet, images: torch.Tensor, labels: torch.Tensor, plan: SandwichPlan,
                   rng: random.Random, hard: nn.Module) -> torch.Tensor:
    """Backward the largest subnet on the labels and the others on its detached soft predictions."""
    logits = net(images, plan.largest)
    loss = hard(logits, labels)
    loss.backward()
    teacher = logits.detach().softmax(dim=1)
    for arch in [plan.smallest, *(plan.sample(rng) for _ in range(plan.randoms))]:
        student = net(images, arch).log_softmax(dim=1)
        (-(teacher * student).sum(dim=1).mean()).backward()
    return loss.detach()


def subnet_accuracy(net: GhostSupernet, arch: ArchConfig, data: Any, recipe: ProxyRecipe,
                    seed: int | None = None) -> float:
    """Validation accuracy of subnet `arch` with inherited weights, BatchNorm recalibrated on
    `recipe.bn_recalibration_batches` fixed training batches drawn with `seed` (the recipe's by default).

    Example:
        >>> from workbench.data import load_dataset
        >>> from workbench.models import get_preset
        >>> from workbench.supernet import envelope_of
        >>> data = load_dataset("digits", input_size=12, in_channels=1)
        >>> arch = get_preset("ghostnet_cifar_050", input_size=12, in_channels=1)
        >>> 0.0 <= subnet_accuracy(GhostSupernet(envelope_of([arch])), arch, data, ProxyRecipe()) <= 1.0
        True
    """
    model = net.extract(arch)
    return inherited_accuracy(model, data, recipe, recipe.seed if seed is None else seed)


def inherited_accuracy(model: nn.Module, data: Any, recipe: ProxyRecipe, seed: int) -> float:
    """Recalibrate `model`'s BatchNorm on fixed seeded training batches, then its validation accuracy."""
    recalibrate(model, data.train_x, recipe.model_copy(update={"seed": seed}))
    accuracy, _ = evaluate(model, data.val_x, data.val_y, recipe.eval_batch_size)
    return accuracy
