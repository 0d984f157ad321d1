"""`profile_arch`: every cost figure of one architecture in one call."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models.build import build_model
from workbench.profiling.counting import check_input_size, count_model
from workbench.profiling.latency import LatencyResult, measure_latency
from workbench.profiling.memory import peak_memory
from workbench.profiling.protocol import LatencyProtocol, check_device
from workbench.profiling.window import host_window


@dataclass
class ProfileResult:
    """Cost figures of one architecture. `macs` are conv/linear multiply-accumulates (the
    GhostNet paper's "FLOPs"); `flops_fvcore` is fvcore's total with the extra handles;
    counts are at batch 1, latency and peak memory at the protocol's batch size."""

    params: int
    macs: int
    flops_fvcore: int
    activations: int
    unsupported_ops: dict[str, int]
    latency: LatencyResult | None
    peak_memory_bytes: int
    peak_memory_method: str
    profile_seconds: float
    crosscheck_macs: int | None = None
    crosscheck_rel_diff: float | None = None
    crosscheck_ok: bool | None = None
    latency_seconds: float | None = None  # time the latency measurement itself took

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; `latency` is its own dict or None."""
        data = asdict(self)
        data["latency"] = self.latency.to_dict() if self.latency else None
        return data


def profile_arch(
    arch: ArchConfig,
    latency: LatencyProtocol | None = LatencyProtocol(),
    model: nn.Module | None = None,
    crosscheck: bool = False,
) -> ProfileResult:
    """Count, time and size `arch` (or the given `model` built from it).

    `latency=None` skips timing (peak memory is then estimated for the default protocol).
    `crosscheck=True` verifies the MACs against FlopCounterMode. Raises `WorkbenchError` for
    an input size the network cannot take, a CUDA protocol without a GPU, or an untraceable model.

    Example:
        >>> from workbench.models import get_preset
        >>> result = profile_arch(get_preset("ghostnet_cifar_050"), LatencyProtocol(repeats=5, warmup=1))
        >>> result.macs > 0, result.latency.p50_ms > 0
        (True, True)
    """
    started = time.perf_counter()
    check_input_size(arch)
    protocol = latency or LatencyProtocol()
    check_device(protocol.device)
    model = model if model is not None else build_model(arch)
    with host_window().compute():
        counts = count_model(model, arch, crosscheck=crosscheck)
    timing_started = time.perf_counter()
    timed = measure_latency(model, arch, latency) if latency is not None else None
    latency_seconds = time.perf_counter() - timing_started if latency is not None else None
    memory, method = peak_memory(model, arch, protocol, counts.params, counts.activations)
    return ProfileResult(
        params=counts.params,
        macs=counts.macs,
        flops_fvcore=counts.flops_fvcore,
        activations=counts.activations,
        unsupported_ops=dict(counts.unsupported_ops),
        latency=timed,
        peak_memory_bytes=memory,
        peak_memory_method=method,
        profile_seconds=time.perf_counter() - started,
        crosscheck_macs=counts.crosscheck_macs,
        crosscheck_rel_diff=counts.crosscheck_rel_diff,
        crosscheck_ok=counts.crosscheck_ok,
        latency_seconds=latency_seconds,
    )
