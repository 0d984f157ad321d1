"""The pieces of a training run, shared by proxy training and the full trainer: seeding,
optimizer and schedule from a recipe, one epoch with divergence checks, BatchNorm
recalibration and evaluation."""

from __future__ import annotations

import contextlib
import math
import random
from typing import Callable, ContextManager, Iterable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from workbench.profiling.window import host_window
from workbench.training.batchnorm import recalibrate_batchnorm
from workbench.training.recipe import ProxyRecipe

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDiverged(Exception):
    """The loss became NaN/inf or exceeded the recipe's `max_loss`; `reason` says where.

    Example:
        >>> str(TrainingDiverged("loss is nan at epoch 1, step 3"))
        'loss is nan at epoch 1, step 3'
    """

    def __init__(self, reason: str, epoch: int = -1, step: int = -1, loss: float = float("nan")) -> None:
        super().__init__(reason)
        self.reason, self.epoch, self.step, self.loss = reason, epoch, step, loss


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices). Call it before `build_model` so the
    initialisation is reproducible; `train_proxy` seeds its own data order and dropout.

    Example:
        >>> seed_everything(0); a = torch.rand(1); seed_everything(0); bool(a == torch.rand(1))
        True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(model: nn.Module, recipe: ProxyRecipe, *, graph_safe: bool = False) -> torch.optim.SGD:
    """SGD (Nesterov by default) with no weight decay on BatchNorm weights and biases.

    `graph_safe` builds the same optimiser for a captured step (`training.graphed`): the
    learning rate of each group is a tensor on the parameters' device, which the scheduler
    fills in place and a replayed graph reads, and the update is the fused kernel, which takes
    that tensor without a host sync (the default foreach update turns it into a Python number).

    Example:
        >>> make_optimizer(nn.Linear(2, 2), ProxyRecipe()).param_groups[1]["weight_decay"]
        0.0
        >>> make_optimizer(nn.Linear(2, 2), ProxyRecipe(lr=0.5), graph_safe=True).param_groups[0]["lr"]
        tensor(0.5000)
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups: list[dict[str, object]] = [{"params": decay, "weight_decay": recipe.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}]
    nesterov = recipe.nesterov and recipe.momentum > 0
    if not graph_safe:
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=nesterov)
    device = next(model.parameters()).device
    for group in groups:  # one tensor per group: a shared one would be filled once per group
        group["lr"] = torch.tensor(recipe.lr, device=device)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=nesterov, fused=True)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: ProxyRecipe,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step learning-rate schedule the recipe names, over `total_steps` steps.

    Example:
        >>> opt = make_optimizer(nn.Linear(2, 2), ProxyRecipe())
        >>> type(make_scheduler(opt, ProxyRecipe(), 10)).__name__
        'OneCycleLR'
    """
    total_steps = max(1, total_steps)
    if recipe.schedule == "onecycle":
        # Momentum stays the recipe's: cycling it would silently override `momentum`.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=total_steps, pct_start=max(recipe.warmup_fraction, 1e-3),
            anneal_strategy="cos", cycle_momentum=False, div_factor=25.0, final_div_factor=1e3)
    warmup = int(recipe.warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if recipe.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast_for(device: torch.device, amp: str) -> tuple[Callable[[], ContextManager[object]], str | None]:
    """A factory of autocast contexts for `amp` on `device`, and a note when it is ignored.

    On CPU only bf16 autocast is used; fp16 on CPU runs in float32 (the note says so).

    Example:
        >>> make, note = autocast_for(torch.device("cpu"), "fp16"); note
        'amp fp16 is not supported on CPU; trained in float32'
    """
    if amp == "none":
        return contextlib.nullcontext, None
    if device.type == "cpu" and amp == "fp16":
        return contextlib.nullcontext, "amp fp16 is not supported on CPU; trained in float32"
    dtype = AMP_DTYPES[amp]
    return (lambda: torch.autocast(device_type=device.type, dtype=dtype)), None


def train_epoch(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None, loss_fn: nn.Module, *,
                epoch: int = 0, max_loss: float = 1e4,
                autocast: Callable[[], ContextManager[object]] = contextlib.nullcontext,
                scaler: "torch.amp.GradScaler | None" = None, check_every: int = 1,
                train_step: Callable[[Tensor, Tensor], Tensor] | None = None) -> tuple[float, int]:
    """Train one pass over `batches`; returns (mean loss, images seen).

    The loss is summed on the device and checked every `check_every` steps (1 on CPU, where a
    check costs nothing; more on GPUs to avoid a sync per step). `train_step(images, labels)`,
    when given, does the forward, backward and optimiser step and returns the loss (e.g. a
    `training.graphed.GraphedStep`); by default `eager_step` with `autocast` and `scaler`.

    Raises:
        TrainingDiverged: the loss is NaN/inf or above `max_loss`.

    Example:
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> batches = [(torch.randn(8, 1, 2, 2), torch.zeros(8, dtype=torch.long))]
        >>> loss, seen = train_epoch(model, batches, opt, None, nn.CrossEntropyLoss())
        >>> seen
        8
    """
    model.train()
    total: Tensor | None = None
    worst: Tensor | None = None
    steps = seen = 0
    window = host_window()
    for step, (images, labels) in enumerate(batches):
        with window.compute():  # a search's timing waits for this step, and this step for a timing
            if train_step is None:
                loss = eager_step(model, images, labels, optimizer, loss_fn, autocast, scaler)
            else:
                loss = train_step(images, labels)
        if scheduler is not None:
            scheduler.step()
        detached = loss.detach().float()
        total = detached if total is None else total + detached
        worst = detached if worst is None else torch.maximum(worst, detached)  # maximum keeps NaNs
        steps, seen = steps + 1, seen + len(labels)
        if steps % check_every == 0:
            _check(worst, max_loss, epoch, step)
    if worst is None or total is None:
        return float("nan"), 0
    _check(worst, max_loss, epoch, steps - 1)
    return total.item() / steps, seen


def eager_step(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    autocast: Callable[[], ContextManager[object]] = contextlib.nullcontext,
    scaler: "torch.amp.GradScaler | None" = None,
) -> Tensor:
    """One training step as Python runs it, op by op: forward and loss under `autocast`, then
    backward and the optimiser step (through `scaler` for fp16). Returns the loss.

    Example:
        >>> model = nn.Linear(2, 2); opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> eager_step(model, torch.ones(4, 2), torch.zeros(4, dtype=torch.long), opt, nn.CrossEntropyLoss()).ndim
        0
    """
    with autocast():
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss


def _check(worst: Tensor, max_loss: float, epoch: int, step: int) -> None:
    value = worst.item()
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"loss is {value} at epoch {epoch}, step {step} (lower the learning rate)", epoch, step, value
        )
    if value > max_loss:
        raise TrainingDiverged(
            f"loss exploded to {value:.4g} (> max_loss {max_loss:g}) at epoch {epoch}, "
            f"step {step} (lower the learning rate)",
            epoch,
            step,
            value,
        )


def calibration_batches(x: Tensor, batch_size: int, count: int, seed: int) -> Iterator[Tensor]:
    """Up to `count` un-augmented batches of `batch_size` images of `x`, a fixed seeded draw.

    The draw uses its own generator, so the training data order, the augmentation and the
    global random state are untouched, and every call with the same seed yields the same
    images (a resumed run recalibrates exactly like an uninterrupted one). A trailing batch
    of a single image is dropped (BatchNorm cannot average one).

    Example:
        >>> [len(b) for b in calibration_batches(torch.randn(10, 3, 4, 4), 4, 20, seed=0)]
        [4, 4, 2]
    """
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: count * batch_size]
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        if len(index) >= 2:
            yield x[index.to(x.device)]


def recalibrate(
    model: nn.Module,
    train_x: Tensor,
    recipe: ProxyRecipe,
    autocast: Callable[[], ContextManager[object]] = contextlib.nullcontext,
) -> int:
    """Recompute `model`'s BatchNorm running statistics from `recipe.bn_recalibration_batches`
    training batches (none when 0); the weights do not change. Returns the batches used.

    Example:
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
        >>> recalibrate(model, torch.randn(64, 1, 4, 4), ProxyRecipe(batch_size=16, bn_recalibration_batches=2))
        2
    """
    if recipe.bn_recalibration_batches <= 0:
        return 0
    batches = calibration_batches(train_x, recipe.batch_size, recipe.bn_recalibration_batches, recipe.seed)
    with host_window().compute():
        return recalibrate_batchnorm(model, batches, autocast=autocast)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int = 512,
    autocast: Callable[[], ContextManager[object]] = contextlib.nullcontext,
) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy) of `model` on `x`, `y`, in eval mode.

    The model's train/eval mode is restored afterwards.

    Example:
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> acc, loss = evaluate(model, torch.randn(10, 1, 2, 2), torch.zeros(10, dtype=torch.long))
        >>> 0.0 <= acc <= 1.0
        True
    """
    was_training = model.training
    model.eval()
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float32)
    window = host_window()
    for start in range(0, len(y), batch_size):
        images, labels = x[start : start + batch_size], y[start : start + batch_size]
        with window.compute(), autocast():
            logits = model(images)
        logits = logits.float()
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(dim=1) == labels).sum()
    model.train(was_training)
    count = max(1, len(y))
    return correct.item() / count, loss_sum.item() / count
