"""BatchNorm recalibration: recompute running statistics from training batches before evaluating.

After a short proxy run the running mean and variance lag far behind the weights (momentum 0.1
averages over the last ~10 steps of a moving network), so eval-mode accuracy measures that lag
as much as the architecture. Recomputing them with the final weights (forward passes in train
mode, no gradient, cumulative averaging) removes the lag. The weights do not change.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterable

import torch
from torch import Tensor, nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of `model` that track running statistics."""
    return [m for m in model.modules() if isinstance(m, _NORMS) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Tensor | tuple[Tensor, ...]],
                          autocast: Callable[[], ContextManager[object]] = contextlib.nullcontext) -> int:
    """Replace every BatchNorm layer's running mean/var with their exact average over `batches`.

    Each batch is an image tensor or a tuple whose first item is one. Dropout and other
    train-mode layers stay in eval mode, so only the statistics change; the model's mode and
    the layers' momentum are restored afterwards. Returns the number of batches used (0 and no
    change when the model has no BatchNorm or `batches` is empty).

    Example:
        >>> bn = nn.BatchNorm2d(1); model = nn.Sequential(bn)
        >>> recalibrate_batchnorm(model, [torch.full((4, 1, 2, 2), 3.0)])
        1
        >>> float(bn.running_mean)
        3.0
    """
    norms = batchnorm_layers(model)
    if not norms:
        return 0
    was_training = model.training
    saved = [(m, m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # None = cumulative moving average: the exact mean over the batches
        m.train()
    used = 0
    try:
        for batch in batches:
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            with autocast():
                model(images)
            used += 1
    finally:
        for m, momentum, mean, var, tracked in saved:
            m.momentum = momentum
            if used == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(tracked)
        model.train(was_training)
    return used
