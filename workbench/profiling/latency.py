"""Latency of one forward pass, measured the way a deployed model runs.

The model is prepared for the protocol (eager, BatchNorm folded, or torch.compile'd; dtype;
memory format; device), warmed up, then timed per iteration: `time.perf_counter_ns` on the
CPU with a fixed thread count, CUDA events with synchronisation on a GPU.

A figure must not change with the host's load. Three things keep it steady:

- The exclusive timing window (`profiling.window`): while this process times, the other
  processes of its search neither train nor time.
- The estimator, chosen by measurement (`benchmarks/bench_engines.py`, which writes the
  comparison into `reports/benchmarks/engines.md`): samples are taken in rounds and the figure
  is the median of the quietest round (`min-round-median`). Load only ever adds time, so the
  round least disturbed is the closest to what the model costs, and a round's median, unlike a
  single minimum, is not one lucky sample. Rounds go on until the two lowest round medians agree
  within `PRECISION` (at least `MIN_ROUNDS`), or the protocol's `rounds`, or its time cap.
- A reference model (`profiling.reference`) timed in every round of the same window: a window
  whose reference strays beyond `DRIFT_LIMIT` from its running median is timed again, and the
  reference's figure is recorded with every protocol.

Warm-up ends once `STABLE_WINDOW` consecutive iterations agree within `STABLE_REL` (or at
`warmup` iterations on the CPU, four times that on CUDA). A figure whose round spread or whose
rounds' disagreement exceeds `cv_threshold` is flagged noisy.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.models.deploy import fold_batchnorm
from workbench.profiling.hostfacts import load_average
from workbench.profiling.protocol import LatencyProtocol, check_device, recorded_protocol
from workbench.profiling.reference import Reference, torch_reference
from workbench.profiling.timing import (
    CpuTimer,
    CudaTimer,
    Timer,
    TimingStats,
    cpu_threads,
    cudnn_benchmark,
    summarize,
)
from workbench.profiling.window import host_window

Clock = Callable[[], int]
ESTIMATOR = "min-round-median"
MIN_SAMPLES = 5
# Rounds needed before two of them may be judged to agree.
MIN_ROUNDS = 3
PRECISION = 0.02
# A window whose reference figure strays this far from its running median is timed again.
DRIFT_LIMIT = 0.15
MAX_RETRIES = 2
# Warm-up may use at most this share of the time cap.
WARMUP_SHARE = 0.25
STABLE_WINDOW, STABLE_REL = 3, 0.10


@dataclass
class LatencyResult:
    """Milliseconds per batch at the recorded protocol; `available=False` carries the reason.

    `p50_ms`, `p90_ms`, `mean_ms`, `std_ms` and `cv` are the quietest round's (the estimator
    `min-round-median`, named in the protocol); `samples` counts every round's samples."""

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
        >>> result = measure_latency(build_model(arch), arch, LatencyProtocol(repeats=5, warmup=1, rounds=1))
        >>> result.samples, result.protocol["mode"], result.protocol["estimator"]
        (5, 'deploy', 'min-round-median')
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
        reference = torch_reference(protocol.device, threads) if protocol.reference else None
        try:
            stats, facts = measure_step(step, timer, protocol, reference)
        except Exception as error:
            if protocol.mode != "compiled":
                raise
            return LatencyResult.unavailable(record, failure_reason(error))
    record.update(timer=timer.name, **facts)
    return LatencyResult(
        p50_ms=stats.p50_ms, p90_ms=stats.p90_ms, mean_ms=stats.mean_ms, std_ms=stats.std_ms, cv=stats.cv,
        samples=stats.samples, noisy=is_noisy(stats, facts, protocol), protocol=record,
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


def measure_step(step: Callable[[], Any], timer: Timer, protocol: LatencyProtocol,
                 reference: Reference | None = None,
                 keep: list[list[float]] | None = None) -> tuple[TimingStats, dict[str, Any]]:
    """Warm `step` up and time it in rounds inside the host's exclusive timing window (the one
    timing loop every engine uses); returns the quietest round's stats and the loop's facts.

    Each round times `reference` (when given) and then `step`, `protocol.repeats` samples each.
    The figure is the quietest round's: the round with the lowest median (the module docstring
    says why). Rounds go on until `MIN_ROUNDS` were taken and the two lowest round medians agree
    within `PRECISION`, or `protocol.rounds`, or the time cap. When the reference's figure strays
    beyond `DRIFT_LIMIT` from its running median, the window is timed again (at most `MAX_RETRIES`
    times, while time remains). `keep`, when given, receives every round's samples.
    """
    window = host_window()
    attempts, drift, waited_total = 0, None, 0.0
    while True:
        attempts += 1
        with window.timing() as waited:
            # The cap counts from the window's start: waiting for another worker's step is not timing.
            started = timer.now()
            deadline = started + int(protocol.max_seconds * 1e9)
            load = load_average()
            warmed = _warm_up(step, timer, protocol, started + int(protocol.max_seconds * WARMUP_SHARE * 1e9))
            rounds, reference_rounds = _rounds(step, timer, protocol, deadline, reference)
        waited_total += waited
        if reference is None or not reference_rounds:
            break
        drift = reference.drift(min(reference_rounds))
        if drift is None or abs(drift) <= DRIFT_LIMIT or attempts > MAX_RETRIES:
            break
    if keep is not None:
        keep.extend(list(r) for r in rounds)
    medians = [float(np.median(r)) for r in rounds]
    quietest = summarize(rounds[int(np.argmin(medians))])
    facts: dict[str, Any] = {
        "estimator": ESTIMATOR, "attempts": attempts, "warmup_done": warmed, "rounds_done": len(rounds),
        "round_medians_ms": [round(m, 6) for m in medians], "round_minima_ms": [round(min(r), 6) for r in rounds],
        "round_spread": round(round_spread(medians), 4),
        "window_wait_s": round(waited_total, 4), "load_avg_1m": load,
    }
    if reference is not None and reference_rounds:
        reference.remember(min(reference_rounds))
        facts.update(reference_model=reference.name, reference_ms=round(min(reference_rounds), 6),
                     reference_drift=None if drift is None else round(drift, 4), retimed=attempts - 1)
    return replace(quietest, samples=sum(len(r) for r in rounds)), facts


def round_spread(medians: list[float]) -> float:
    """How far apart the two lowest round medians are, relative to the lowest (0 for one round).

    Example:
        >>> round(round_spread([1.10, 1.00, 1.50]), 6)
        0.1
    """
    if len(medians) < 2:
        return 0.0
    low, second = sorted(medians)[:2]
    return (second - low) / low if low > 0 else 0.0


def is_noisy(stats: TimingStats, facts: dict[str, Any], protocol: LatencyProtocol) -> bool:
    """A figure is noisy when its round's spread or the rounds' disagreement exceeds the threshold."""
    return stats.cv > protocol.cv_threshold or float(facts.get("round_spread", 0.0)) > protocol.cv_threshold


def _rounds(step: Callable[[], Any], timer: Timer, protocol: LatencyProtocol, deadline: int,
            reference: Reference | None) -> tuple[list[list[float]], list[float]]:
    rounds: list[list[float]] = []
    reference_rounds: list[float] = []
    while len(rounds) < protocol.rounds:
        if rounds and timer.now() >= deadline:
            break
        if reference is not None:
            reference_rounds.append(float(np.median(_samples(reference.step, timer, protocol.repeats, deadline))))
        rounds.append(_samples(step, timer, protocol.repeats, deadline))
        medians = [float(np.median(r)) for r in rounds]
        if len(rounds) >= MIN_ROUNDS and round_spread(medians) <= PRECISION:
            break
    return rounds, reference_rounds


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
        samples.append(timer.time(step))
    return samples


def failure_reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]
