"""Zero-cost proxies: scores of an untrained network that predict its trained accuracy.

* `synflow` (Tanaka et al. 2020): the network with |weights|, BatchNorm in eval mode, in
  float64, fed an all-ones input; R = sum of outputs; score = sum |θ ⊙ ∂R/∂θ|. The raw score
  spans hundreds of orders of magnitude, so the **natural log** is returned.
* `naswot` (Mellor et al. 2021): binary ReLU codes of a minibatch, kernel
  K = c·cᵀ + (1-c)·(1-c)ᵀ summed over ReLUs, score = log|det K|.
* `grad_norm`: sum over parameters of the L2 norm of the cross-entropy gradient on one minibatch.
* `params`, `macs`: raw counts (trainable parameters; multiply-accumulates of one image from
  torch's FlopCounterMode / 2). They are baselines: the caller decides their direction.

Every proxy works on a deep copy, so the model (weights, BatchNorm statistics) is untouched,
and reads only the training split.
"""

from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from workbench.data.datasets import Dataset
from workbench.errors import WorkbenchError

ZERO_COST_PROXIES = ("synflow", "naswot", "grad_norm", "params", "macs")


def zero_cost_score(name: str, model: nn.Module, data: Dataset, batch_size: int = 64, seed: int = 0) -> float:
    """Score an untrained `model` with the proxy `name` (higher predicts better accuracy,
    except `params`/`macs`, which are raw counts).

    Example:
        >>> from workbench.data import load_dataset
        >>> from workbench.models import build_model, get_preset
        >>> model = build_model(get_preset("ghostnet_cifar_050"))
        >>> zero_cost_score("params", model, load_dataset("digits")) > 0
        True
    """
    if name not in _PROXIES:
        raise WorkbenchError(f"unknown zero-cost proxy '{name}' (allowed: {', '.join(ZERO_COST_PROXIES)})")
    images, labels = _minibatch(data, batch_size, seed)
    device = next(model.parameters()).device
    return float(_PROXIES[name](copy.deepcopy(model), images.to(device), labels.to(device)))


def _minibatch(data: Dataset, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(data.train_y), generator=generator)[:batch_size].to(data.train_y.device)
    return data.train_x[index], data.train_y[index]


@torch.no_grad()
def _linearise(model: nn.Module) -> None:
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            tensor.abs_()


def synflow(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """log of the SynFlow saliency sum (see the module docstring)."""
    model = model.double().eval()
    _linearise(model)
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
    model(ones).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return math.log(total) if total > 0 else -1e3


def naswot(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """log|det K| of the ReLU activation-pattern kernel over the minibatch."""
    count = len(images)
    kernel = torch.zeros((count, count), dtype=torch.float64, device=images.device)

    def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
        codes = (output.detach().flatten(1) > 0).double()
        kernel.add_(codes @ codes.T).add_((1.0 - codes) @ (1.0 - codes).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    try:
        with torch.no_grad():
            model.train()(images)
    finally:
        for handle in handles:
            handle.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) != 0 and math.isfinite(float(logdet)) else -1e3


def grad_norm(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Sum of per-parameter L2 gradient norms of the cross-entropy on the minibatch."""
    model.train().zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    return sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None)


def params(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Trainable parameters."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def macs(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Multiply-accumulates of one image (FlopCounterMode's FLOPs / 2)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.eval()(images[:1])
    return counter.get_total_flops() / 2


_PROXIES: dict[str, Callable[[nn.Module, Tensor, Tensor], float]] = {
    "synflow": synflow, "naswot": naswot, "grad_norm": grad_norm, "params": params, "macs": macs,
}
