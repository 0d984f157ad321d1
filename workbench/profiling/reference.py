"""The reference model timed beside every measured model, in the same timing window.

It is one fixed small convolutional network (the same on every host and for every space), run by
the same engine, thread count and device as the model it accompanies. Its figure in a window says
what state the host was in: a window in which the reference strays beyond a threshold from its
running median was disturbed (another process, a frequency change) and is timed again, and every
protocol records the reference's figure so two studies' hosts can be compared.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from workbench.engines import export_graph, make_session

REFERENCE_NAME = "ref-convnet-16px"
REFERENCE_INPUT = (1, 3, 16, 16)
# Running history kept per process; the median of the last few figures is the baseline.
HISTORY = 15
MIN_HISTORY = 3


def reference_network() -> nn.Module:
    """The reference: conv 3x3 (3->16), ReLU, depthwise 3x3, pointwise 16->32, ReLU, global
    average pool, linear 32->10; fixed seeded weights, eval mode, no BatchNorm (nothing to fold)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 32, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).eval()
    torch.random.set_rng_state(generator_state)  # building the reference must not move the caller's seed
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net


@dataclass
class Reference:
    """A reference step and its running history of figures (milliseconds) in this process."""

    name: str
    step: Callable[[], Any]
    history: list[float] = field(default_factory=list)

    def drift(self, figure_ms: float) -> float | None:
        """The relative distance of `figure_ms` from the running median (None before
        `MIN_HISTORY` figures, or when the median is 0, as with a fake clock)."""
        if len(self.history) < MIN_HISTORY:
            return None
        median = statistics.median(self.history[-HISTORY:])
        return (figure_ms - median) / median if median > 0 else None

    def remember(self, figure_ms: float) -> None:
        """Add a window's figure to the history."""
        self.history.append(float(figure_ms))
        del self.history[:-HISTORY]


_torch_refs: dict[tuple[str, int], Reference] = {}
_ort_refs: dict[int, Reference] = {}


def torch_reference(device: str, threads: int) -> Reference:
    """The reference as PyTorch runs it on `device` (the caller has pinned `threads`)."""
    key = (device, threads)
    if key not in _torch_refs:
        net = reference_network().to(device)
        inputs = torch.randn(*REFERENCE_INPUT, generator=torch.Generator().manual_seed(0)).to(device)

        def step() -> Any:
            with torch.inference_mode():
                return net(inputs)

        _torch_refs[key] = Reference(f"{REFERENCE_NAME}:torch", step)
    return _torch_refs[key]


def ort_reference(threads: int) -> Reference:
    """The reference as ONNX Runtime runs it with `threads` intra-op threads."""
    if threads not in _ort_refs:
        net = reference_network()
        session = make_session(export_graph(net, torch.zeros(*REFERENCE_INPUT)), threads=threads)
        name = session.get_inputs()[0].name
        inputs = np.random.default_rng(0).standard_normal(REFERENCE_INPUT, dtype=np.float32)

        def step() -> Any:
            return session.run(None, {name: inputs})

        _ort_refs[threads] = Reference(f"{REFERENCE_NAME}:onnxruntime", step)
    return _ort_refs[threads]
