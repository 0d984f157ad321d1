"""`GraphedStep`: the whole training step (forward, loss, backward, optimiser) replayed as one
CUDA graph, so a small network's step costs its kernels, not Python's launches of them.

A proxy-training step of a CIFAR GhostNet launches a few hundred small kernels; on a GPU the
host cannot launch them as fast as the GPU runs them (bench_gpu: a step cost the same at batch
128 and 512). Captured once and replayed, the step is one launch.

How it stays the same computation as `loop.eager_step`:

- Static shapes: every batch is copied into one input and one label buffer that the graph
  reads. A batch of another shape, dtype or layout (an epoch's short last batch) runs the
  eager step instead, on the same weights and optimiser state.
- The first `warmup` steps run eagerly on those buffers (on a side stream on CUDA, as capture
  requires): they are real training steps, and they create the momentum buffers and let
  cuDNN pick its kernels before capture. The next step is captured and then replayed; capture
  itself computes nothing, so no step is skipped or doubled.
- The optimiser comes from `make_optimizer(..., graph_safe=True)`: tensor learning rates that
  the scheduler fills in place (outside the graph), and the fused SGD update that reads them.
- Autocast runs with its weight-cast cache off (a cached cast would outlive the capture).
- fp16 needs a GradScaler, whose step syncs with the host; it is not graphed (`train_proxy`
  falls back to the eager step and says so).

Without CUDA (`capture=False`) the same code runs the step eagerly on the static buffers: the
CPU tests prove the plumbing equal to the eager loop; the GPU tests prove the capture.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import torch
from torch import Tensor, nn

from workbench.training.loop import eager_step


def graph_autocast(device: torch.device, amp: str) -> Callable[[], ContextManager[object]]:
    """Autocast contexts for a captured step: as `loop.autocast_for`, with the cast cache off.

    Example:
        >>> graph_autocast(torch.device("cpu"), "none")() is not None
        True
    """
    if amp == "none":
        return contextlib.nullcontext
    if amp == "fp16" and device.type == "cpu":
        raise ValueError("amp fp16 is not supported on CPU")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return lambda: torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=False)


class GraphedStep:
    """A training step on static buffers: `warmup` eager steps, then one CUDA graph replayed.

    Call it like `loop.eager_step` without the model and optimiser: `step(images, labels)`
    trains one step and returns the loss (a fresh tensor, safe to keep). `capture` defaults to
    whether the model's parameters are on a CUDA device. `replays` counts graphed steps and
    `eager_steps` the others.

    Example:
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> step = GraphedStep(model, opt, nn.CrossEntropyLoss())
        >>> loss = step(torch.randn(8, 1, 2, 2), torch.zeros(8, dtype=torch.long))
        >>> step.capture, step.eager_steps, loss.ndim
        (False, 1, 0)
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, *,
                 autocast: Callable[[], ContextManager[object]] = contextlib.nullcontext,
                 capture: bool | None = None, warmup: int = 3) -> None:
        self.model, self.optimizer, self.loss_fn, self.autocast = model, optimizer, loss_fn, autocast
        device = next(model.parameters()).device
        self.capture = device.type == "cuda" if capture is None else capture
        if self.capture and device.type != "cuda":
            raise ValueError("capturing a CUDA graph needs the model on a CUDA device")
        self.warmup = max(1, warmup)  # >= 1: capture needs the optimiser state the first step creates
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[Tensor, Tensor] | None = None
        self.static_loss: Tensor | None = None
        self.replays = self.eager_steps = 0

    def __call__(self, images: Tensor, labels: Tensor) -> Tensor:
        if self.static is None:
            self.static = (torch.empty_like(images), torch.empty_like(labels))
        if not all(_same_layout(new, old) for new, old in zip((images, labels), self.static)):
            self.eager_steps += 1
            return self._eager(images, labels).detach()
        self.static[0].copy_(images)
        self.static[1].copy_(labels)
        if self.graph is None and self.capture and self.eager_steps >= self.warmup:
            self._capture()
        if self.graph is None:
            self.eager_steps += 1
            if not self.capture:
                return self._eager(*self.static).detach()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager(*self.static).detach()
            torch.cuda.current_stream().wait_stream(side)
            return loss
        self.graph.replay()
        self.replays += 1
        assert self.static_loss is not None
        return self.static_loss.clone()  # the next replay overwrites the static loss

    def _eager(self, images: Tensor, labels: Tensor) -> Tensor:
        return eager_step(self.model, images, labels, self.optimizer, self.loss_fn, self.autocast)

    def _capture(self) -> None:
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        assert self.static is not None
        with torch.cuda.graph(graph):
            self.static_loss = self._eager(*self.static).detach()
        self.graph = graph


def _same_layout(new: Tensor, old: Tensor) -> bool:
    return (new.shape == old.shape and new.dtype == old.dtype and new.device == old.device
            and new.stride() == old.stride())
