"""Latency on every target of a space: PyTorch targets through `measure_latency`, ONNX Runtime
targets on the exported BN-folded graph (fp32, or int8 quantized with ORT's static
quantization), all under the same warm-up / repeats / CV / time-cap loop (`measure_step`).

A target that cannot run (an op the engine lacks, outputs that disagree with PyTorch, a
quantizer error) gives an unavailable `LatencyResult` with the reason; the other targets and the
trial go on. The graph is exported once per model and quantized once per calibration set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.engines import (
    export_graph,
    make_session,
    max_abs_diff,
    ort_facts,
    outputs_agree,
    quantize_int8,
    run_graph,
    torch_logits,
)
from workbench.engines.onnx_graph import ONNX_ATOL, ONNX_RTOL
from workbench.profiling.hostfacts import host_facts
from workbench.profiling.latency import Clock, LatencyResult, failure_reason, is_noisy, measure_latency, measure_step
from workbench.profiling.protocol import cpu_name
from workbench.profiling.reference import ort_reference
from workbench.profiling.targets import LatencyTarget
from workbench.profiling.timing import CpuTimer
from workbench.profiling.window import host_window

CHECK_BATCH = 4  # images the exported graph is checked against PyTorch on
CHECK_SEED = 0


@dataclass
class Graphs:
    """The graphs of one model, made on first use and reused by every target that needs them."""

    model: nn.Module
    arch: ArchConfig
    calibration: np.ndarray | None = None
    _fp32: dict[int, tuple[bytes, float]] = field(default_factory=dict)  # by opset
    _int8: dict[tuple[int, int], bytes] = field(default_factory=dict)    # by (opset, calibration images)
    seconds: dict[str, float] = field(default_factory=dict)

    def diff(self, opset: int) -> float | None:
        """max |ORT - PyTorch| of the fp32 graph at `opset` (None before it was exported)."""
        return self._fp32[opset][1] if opset in self._fp32 else None

    def fp32(self, opset: int) -> tuple[bytes, float]:
        """The fp32 graph and its max |ORT - PyTorch| on a fixed batch.

        Raises:
            ValueError: ONNX Runtime's outputs disagree with PyTorch's beyond tolerance.
        """
        if opset not in self._fp32:
            started = time.perf_counter()
            sample = check_batch(self.arch)
            with host_window().compute():
                graph = export_graph(self.model, sample, opset)
                got = run_graph(make_session(graph, threads=1), sample.numpy())
                want = torch_logits(self.model, sample)
            self._fp32[opset] = (graph if outputs_agree(got, want) else b"", max_abs_diff(got, want))
            self.seconds["export"] = self.seconds.get("export", 0.0) + time.perf_counter() - started
        graph, diff = self._fp32[opset]
        if not graph:
            raise ValueError(f"ONNX Runtime's outputs differ from PyTorch's (max |diff| {diff:.3g} > atol "
                             f"{ONNX_ATOL:g} + rtol {ONNX_RTOL:g})")
        return graph, diff

    def int8(self, target: LatencyTarget) -> bytes:
        """The graph quantized on the first `target.calibration` calibration images."""
        if self.calibration is None or len(self.calibration) == 0:
            raise ValueError("no calibration images were given for int8")
        key = (target.opset, min(target.calibration, len(self.calibration)))
        if key not in self._int8:
            graph, _ = self.fp32(target.opset)
            started = time.perf_counter()
            with host_window().compute():
                self._int8[key] = quantize_int8(graph, self.calibration[:key[1]], target.quantization)
            self.seconds["quantize"] = self.seconds.get("quantize", 0.0) + time.perf_counter() - started
        return self._int8[key]


def check_batch(arch: ArchConfig) -> torch.Tensor:
    """The fixed random batch an exported graph is compared with PyTorch on."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    return torch.randn(CHECK_BATCH, arch.in_channels, arch.input_size, arch.input_size, generator=generator)


def measure_targets(model: nn.Module, arch: ArchConfig, targets: Sequence[LatencyTarget], *,
                    calibration: np.ndarray | None = None, known: dict[str, LatencyResult] | None = None,
                    graphs: Graphs | None = None, clock: Clock | None = None) -> dict[str, LatencyResult]:
    """Each target's latency of `model`, by target name (`known` results are kept as given).

    Example:
        >>> from workbench.models import build_model, get_preset
        >>> from workbench.profiling.targets import parse_targets
        >>> arch = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 16})
        >>> quick = {"warmup": 1, "repeats": 3, "max_seconds": 0.1}
        >>> targets = parse_targets({**quick, "targets": {"t": {"engine": "torch", "device": "cpu"},
        ...                                               "o": {"engine": "onnxruntime"}}})
        >>> results = measure_targets(build_model(arch), arch, targets)
        >>> results["o"].available, results["o"].protocol["engine"], results["o"].protocol["threads"]
        (True, 'onnxruntime', 1)
    """
    graphs = graphs or Graphs(model, arch, calibration)
    results: dict[str, LatencyResult] = {}
    for target in targets:
        if known and target.name in known:
            results[target.name] = known[target.name]
        elif target.is_torch:
            results[target.name] = labelled(measure_latency(model, arch, target.protocol, clock), target)
        else:
            results[target.name] = measure_ort(graphs, target, clock)
    return results


def labelled(result: LatencyResult, target: LatencyTarget) -> LatencyResult:
    """A PyTorch result with its target's name and engine written into its protocol."""
    result.protocol.update(target=target.name, engine="torch", precision="fp32",
                           engine_version=torch.__version__)
    return result


def measure_ort(graphs: Graphs, target: LatencyTarget, clock: Clock | None = None) -> LatencyResult:
    """One onnxruntime target's latency on `graphs`' model (unavailable, with the reason, when
    the graph cannot be exported, checked, quantized or run)."""
    protocol = target.protocol
    record: dict[str, Any] = {
        **protocol.to_dict(), "target": target.name, "engine": "onnxruntime", "precision": target.precision,
        "device_name": cpu_name(), "input_size": graphs.arch.input_size, "opset": target.opset,
        "graph_optimization": target.graph_optimization, "inter_op_threads": 1, "execution_mode": "sequential",
        **host_facts(),
    }
    try:
        graph, diff = graphs.fp32(target.opset)
        record["max_abs_diff"] = diff
        if target.is_int8:
            graph = graphs.int8(target)
            record.update(quantization=target.quantization.to_dict(),
                          calibration_images=min(target.calibration, len(graphs.calibration)))
        threads = protocol.threads or 1
        session = make_session(graph, threads=threads, optimization=target.graph_optimization)
        record.update(ort_facts(session))
        inputs = np.random.default_rng(CHECK_SEED).standard_normal(
            (protocol.batch_size, graphs.arch.in_channels, graphs.arch.input_size, graphs.arch.input_size),
            dtype=np.float32)
        name = session.get_inputs()[0].name

        def step() -> Any:
            return session.run(None, {name: inputs})

        reference = ort_reference(threads) if protocol.reference else None
        stats, facts = measure_step(step, CpuTimer(clock or time.perf_counter_ns), protocol, reference)
    except Exception as error:  # noqa: BLE001 - one engine failing is a fact about that target, not the trial
        record.setdefault("max_abs_diff", graphs.diff(target.opset))
        return LatencyResult.unavailable(record, failure_reason(error))
    record.update(timer=CpuTimer.name, **facts)
    return LatencyResult(p50_ms=stats.p50_ms, p90_ms=stats.p90_ms, mean_ms=stats.mean_ms, std_ms=stats.std_ms,
                         cv=stats.cv, samples=stats.samples, noisy=is_noisy(stats, facts, protocol), protocol=record)
