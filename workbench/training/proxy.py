"""`train_proxy`: a short, seeded training run whose validation accuracy ranks candidates."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from workbench.data.batching import DeviceBatches
from workbench.data.datasets import Dataset
from workbench.training.graphed import GraphedStep, graph_autocast
from workbench.training.loop import autocast_for, evaluate, make_optimizer, make_scheduler, recalibrate, train_epoch
from workbench.training.recipe import ProxyRecipe


@dataclass
class ProxyResult:
    """What a proxy run measured. Accuracies are on the validation split, in [0, 1]."""

    val_accuracy: float
    best_val_accuracy: float
    val_curve: list[float]
    loss_curve: list[float]
    train_seconds: float
    eval_seconds: float
    images_per_second: float
    epochs_run: float
    stopped_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


def epoch_plan(epochs: float, steps_per_epoch: int) -> list[int]:
    """Steps of each epoch: whole epochs, then the fraction of one (at least one step).

    Example:
        >>> epoch_plan(2.5, 10)
        [10, 10, 5]
    """
    whole = int(math.floor(epochs + 1e-9))
    plan = [steps_per_epoch] * whole
    rest = epochs - whole
    if rest > 1e-9:
        plan.append(max(1, math.ceil(rest * steps_per_epoch)))
    return plan


def train_proxy(model: nn.Module, data: Dataset, recipe: ProxyRecipe, device: str = "cpu",
                on_epoch: Callable[[int, float], None] | None = None, graphed: bool = False) -> ProxyResult:
    """Train `model` on `data.train_*` with `recipe`, scoring `data.val_*` after every epoch.

    The caller builds (and so initialises) the model: call `seed_everything(seed)` before
    `build_model` for a reproducible run. Data order, augmentation and dropout are seeded here
    from `recipe.seed` without touching the caller's global random state. Before every
    evaluation the BatchNorm statistics are recomputed from `recipe.bn_recalibration_batches`
    training batches (time counted in `eval_seconds`); this changes no weight, so the training
    itself is the same with or without it. `on_epoch(index,
    val_accuracy)` runs after each epoch; whatever it raises (e.g. `optuna.TrialPruned`)
    propagates unchanged. The test split is never touched. `graphed` trains with
    `training.graphed.GraphedStep` (on CUDA the whole step replayed as one CUDA graph; on the
    CPU the same static-buffer step, uncaptured); fp16 on CUDA needs a GradScaler, so it is
    trained eagerly and a note says so.

    Raises:
        TrainingDiverged: NaN/inf loss or loss above `recipe.max_loss`.

    Example:
        >>> from workbench.data import load_dataset
        >>> from workbench.models import build_model, get_preset
        >>> data = load_dataset("digits")
        >>> model = build_model(get_preset("ghostnet_cifar_050"))
        >>> train_proxy(model, data, ProxyRecipe.for_dataset("digits", epochs=0.1)).epochs_run  # doctest: +SKIP
        0.1111111111111111
    """
    dev = torch.device(device)
    notes: list[str] = []
    data = data.to(dev, channels_last=recipe.channels_last)
    model.to(dev)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    autocast, note = autocast_for(dev, recipe.amp)
    notes += [note] if note else []
    scaler = torch.amp.GradScaler("cuda") if recipe.amp == "fp16" and dev.type == "cuda" else None
    batches = DeviceBatches(data.train_x, data.train_y, recipe.batch_size, augment=recipe.augment,
                            flip=recipe.flip, seed=recipe.seed, channels_last=recipe.channels_last)
    plan = epoch_plan(recipe.epochs, len(batches))
    if graphed and scaler is not None:
        graphed = False
        notes.append("amp fp16 needs a GradScaler, which syncs with the host; trained without a CUDA graph")
    optimizer = make_optimizer(model, recipe, graph_safe=graphed)
    scheduler = make_scheduler(optimizer, recipe, sum(plan))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    train_step = None
    if graphed:
        step_autocast = graph_autocast(dev, "none" if note else recipe.amp)
        train_step = GraphedStep(model, optimizer, loss_fn, autocast=step_autocast)
    check_every = 1 if dev.type == "cpu" else 25
    val_curve: list[float] = []
    loss_curve: list[float] = []
    train_seconds = eval_seconds = 0.0
    images = 0
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(recipe.seed)
        for epoch, steps in enumerate(plan):
            start = time.perf_counter()
            loss, seen = train_epoch(model, batches.epoch(steps), optimizer, scheduler, loss_fn, epoch=epoch,
                                     max_loss=recipe.max_loss, autocast=autocast, scaler=scaler,
                                     check_every=check_every, train_step=train_step)
            _synchronize(dev)
            middle = time.perf_counter()
            recalibrate(model, data.train_x, recipe, autocast)
            accuracy, _ = evaluate(model, data.val_x, data.val_y, recipe.eval_batch_size, autocast)
            eval_seconds += time.perf_counter() - middle
            train_seconds += middle - start
            images += seen
            loss_curve.append(loss)
            val_curve.append(accuracy)
            if on_epoch is not None:
                on_epoch(epoch, accuracy)
    return ProxyResult(
        val_accuracy=val_curve[-1], best_val_accuracy=max(val_curve), val_curve=val_curve, loss_curve=loss_curve,
        train_seconds=train_seconds, eval_seconds=eval_seconds,
        images_per_second=images / train_seconds if train_seconds > 0 else 0.0,
        epochs_run=sum(plan) / len(batches), notes=notes,
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
