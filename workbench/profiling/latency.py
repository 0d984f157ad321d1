"""Latency of one forward pass, measured the way a deployed model runs.

The model is prepared for the protocol (eager, BatchNorm folded, or torch.compile'd; dtype;
memory format; device), warmed up, then timed per iteration: `time.perf_counter_ns` on the
CPU with a fixed thread count, CUDA events with synchronisation on a GPU.

The search times every trial, so both phases adapt to keep the cost low without hiding noise:
warm-up ends once `STABLE_WINDOW` consecutive iterations agree within `STABLE_REL` (or at
`warmup` iterations on the CPU, four times that on CUDA); sampling ends at `repeats` samples,
after `max_seconds` (never below `MIN_SAMPLES`), or once the mean is known to `PRECISION`
(relative standard error, judged from at least `MIN_PRECISE_SAMPLES`). A run whose
coefficient of variation exceeds the threshold is repeated up to `MAX_RETRIES` times while
time remains; the steadiest run is kept and, if still over the threshold, flagged noisy.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models.deploy import fold_batchnorm
from workbench.profiling.protocol import LatencyProtocol, check_device, recorded_protocol
from workbench.profiling.timing import (
    CpuTimer,
    CudaTimer,
    Timer,
    TimingStats,
    cpu_threads,
    cudnn_benchmark,
    summarize,
)

Clock = Callable[[], int]
MIN_SAMPLES = 5
# Early stop on precision needs this many samples, so the spread itself is trustworthy.
MIN_PRECISE_SAMPLES = 10
PRECISION = 0.02
MAX_RETRIES = 2
# Warm-up may use at most this share of the time cap.
WARMUP_SHARE = 0.25
STABLE_WINDOW, STABLE_REL = 3, 0.10


@dataclass
class LatencyResult:
    """Milliseconds per batch at the recorded protocol; `available=False` carries the reason."""

    p50_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    samples: int
    noisy: bool
    protocol: dict[str, Any]
    available: bool = True
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN figures of an unavailable result become None)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float) and value != value:
                data[key] = None
        return data

    @classmethod
    def unavailable(cls, protocol: dict[str, Any], reason: str) -> "LatencyResult":
        """A placeholder for a figure that could not be measured."""
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, 0, False, protocol, available=False, reason=reason)


def measure_latency(model: nn.Module, arch: ArchConfig, protocol: LatencyProtocol,
                    clock: Clock | None = None) -> LatencyResult:
    """Time `model` on random inputs of `arch`'s shape under `protocol`.

    The model itself is left untouched (a prepared copy is timed). `clock` returns
    nanoseconds (default `time.perf_counter_ns`); tests pass a fake one. A CUDA protocol on a
    host without a GPU raises `WorkbenchError`; a compile or CUDA-graph failure gives an
    unavailable result with the reason.

    Example:
        >>> from workbench.models import build_model, get_preset
        >>> arch = get_preset("ghostnet_cifar_050")
        >>> result = measure_latency(build_model(arch), arch, LatencyProtocol(repeats=5, warmup=1))
        >>> result.samples, result.protocol["mode"]
        (5, 'deploy')
    """
    check_device(protocol.device)
    clock = clock or time.perf_counter_ns
    pinned = protocol.threads if protocol.device == "cpu" else None
    with cpu_threads(pinned) as threads, cudnn_benchmark(protocol.device == "cuda"):
        record = recorded_protocol(protocol, arch.input_size, threads)
        try:
            prepared, inputs = prepare(model, arch, protocol)
            step = _step(prepared, inputs, protocol)
        except Exception as error:  # compile / graph capture failures are facts to report
            if protocol.mode != "compiled" and not protocol.cuda_graphs:
                raise
            return LatencyResult.unavailable(record, failure_reason(error))
        timer: Timer = CudaTimer(clock) if protocol.device == "cuda" else CpuTimer(clock)
        try:
            stats, facts = measure_step(step, timer, protocol)
        except Exception as error:
            if protocol.mode != "compiled":
                raise
            return LatencyResult.unavailable(record, failure_reason(error))
    record.update(timer=timer.name, **facts)
    return LatencyResult(
        p50_ms=stats.p50_ms, p90_ms=stats.p90_ms, mean_ms=stats.mean_ms, std_ms=stats.std_ms, cv=stats.cv,
        samples=stats.samples, noisy=stats.cv > protocol.cv_threshold, protocol=record,
    )


def prepare(model: nn.Module, arch: ArchConfig, protocol: LatencyProtocol) -> tuple[nn.Module, torch.Tensor]:
    """An eval-mode copy of `model` in the protocol's mode, dtype, device and memory format,
    and a matching random input batch."""
    prepared = copy.deepcopy(model).eval() if protocol.mode == "eager" else fold_batchnorm(model)
    memory_format = torch.channels_last if protocol.channels_last else torch.contiguous_format
    prepared = prepared.to(device=protocol.device, dtype=protocol.torch_dtype, memory_format=memory_format)
    for parameter in prepared.parameters():
        parameter.requires_grad_(False)
    inputs = torch.randn(
        protocol.batch_size, arch.in_channels, arch.input_size, arch.input_size,
        device=protocol.device, dtype=protocol.torch_dtype,
    ).contiguous(memory_format=memory_format)
    if protocol.mode == "compiled":
        prepared = torch.compile(prepared)
    return prepared, inputs


def _step(model: nn.Module, inputs: torch.Tensor, protocol: LatencyProtocol) -> Callable[[], Any]:
    def run() -> Any:
        with torch.inference_mode():
            return model(inputs)

    if protocol.mode == "compiled":
        run()  # compile now, so a failure is reported before timing starts
    if not protocol.cuda_graphs:
        return run
    return _cuda_graph(run)


def _cuda_graph(run: Callable[[], Any]) -> Callable[[], Any]:
    """Capture one forward pass in a CUDA graph; the returned step replays it and returns
    the graph's (static) output tensor."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # graph capture needs the allocator warmed (and cuDNN tuned) on a side stream
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = run()

    def replay() -> Any:
        graph.replay()
        return output

    return replay


def measure_step(step: Callable[[], Any], timer: Timer,
                 protocol: LatencyProtocol) -> tuple[TimingStats, dict[str, int]]:
    """Warm `step` up, then time it under `protocol`'s repeats, time cap and CV retries (the one
    timing loop every engine uses); returns the steadiest run's stats and the loop's facts."""
    deadline = timer.now() + int(protocol.max_seconds * 1e9)
    warmed = _warm_up(step, timer, protocol, timer.now() + int(protocol.max_seconds * WARMUP_SHARE * 1e9))
    best: TimingStats | None = None
    attempts = 0
    while attempts <= MAX_RETRIES:
        attempts += 1
        stats = summarize(_samples(step, timer, protocol.repeats, deadline))
        if best is None or stats.cv < best.cv:
            best = stats
        if best.cv <= protocol.cv_threshold or timer.now() >= deadline:
            break
    assert best is not None
    return best, {"attempts": attempts, "warmup_done": warmed}


def _warm_up(step: Callable[[], Any], timer: Timer, protocol: LatencyProtocol, deadline: int) -> int:
    """Run warm-up iterations until stable or a limit; return how many ran."""
    times: list[float] = []
    limit = protocol.warmup * 4 if timer.until_stable else protocol.warmup
    while len(times) < limit:
        times.append(timer.time(step))
        if _stable(times) or timer.now() >= deadline:
            break
    return len(times)


def _stable(times: list[float]) -> bool:
    """The last `STABLE_WINDOW` iterations agree with their median within `STABLE_REL`."""
    if len(times) < STABLE_WINDOW:
        return False
    window = sorted(times[-STABLE_WINDOW:])
    middle = window[STABLE_WINDOW // 2]
    return window[-1] - window[0] <= STABLE_REL * middle


def _samples(step: Callable[[], Any], timer: Timer, repeats: int, deadline: int) -> list[float]:
    samples: list[float] = []
    while len(samples) < repeats:
        if len(samples) >= MIN_SAMPLES and timer.now() >= deadline:
            break
        if len(samples) >= MIN_PRECISE_SAMPLES and _precise(samples):
            break
        samples.append(timer.time(step))
    return samples


def _precise(samples: list[float]) -> bool:
    stats = summarize(samples)
    return stats.cv / len(samples) ** 0.5 <= PRECISION


def failure_reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]
