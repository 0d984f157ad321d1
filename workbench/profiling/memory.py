"""Peak memory of one inference: measured on CUDA, estimated on the CPU."""

from __future__ import annotations

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.profiling.latency import prepare
from workbench.profiling.protocol import LatencyProtocol, check_device

CUDA_METHOD = "cuda.max_memory_allocated"
ESTIMATE_METHOD = "estimate: parameter bytes + fvcore activations x batch x element size"


def estimate_peak_memory(params: int, activations: int, protocol: LatencyProtocol) -> int:
    """Parameter bytes plus every conv/linear output of one batch (an upper bound, since
    a runtime frees activations as it goes).

    Example:
        >>> estimate_peak_memory(params=10, activations=5, protocol=LatencyProtocol(batch_size=2))
        80
    """
    element = torch.empty((), dtype=protocol.torch_dtype).element_size()
    return (params + activations * protocol.batch_size) * element


def cuda_peak_memory(model: nn.Module, arch: ArchConfig, protocol: LatencyProtocol) -> int:
    """`torch.cuda.max_memory_allocated` over one inference of the prepared model (weights,
    input and activations), less what was already allocated before the model was placed on
    the GPU: a search keeps its dataset there, which is no part of the model's footprint."""
    check_device(protocol.device)
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    prepared, inputs = prepare(model, arch, protocol)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        prepared(inputs)
    torch.cuda.synchronize()
    peak = int(torch.cuda.max_memory_allocated()) - baseline
    del prepared, inputs
    return peak


def peak_memory(model: nn.Module, arch: ArchConfig, protocol: LatencyProtocol, params: int,
                activations: int) -> tuple[int, str]:
    """Peak bytes of one inference and the method that produced the figure.

    Example:
        >>> from workbench.models import build_model, get_preset
        >>> arch = get_preset("ghostnet_cifar_050")
        >>> peak_memory(build_model(arch), arch, LatencyProtocol(), params=1, activations=1)[1].startswith("estimate")
        True
    """
    if protocol.device == "cuda":
        return cuda_peak_memory(model, arch, protocol), CUDA_METHOD
    return estimate_peak_memory(params, activations, protocol), ESTIMATE_METHOD
