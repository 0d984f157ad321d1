"""Latency: statistics on a fake clock, adaptive sampling, the recorded protocol, modes,
peak memory and `profile_arch`. CUDA tests run only where a GPU is present."""

from __future__ import annotations

import json
from dataclasses import fields
from itertools import cycle
from typing import Iterable

import numpy as np
import pytest
import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models import build_model, get_preset
from workbench.profiling import LatencyProtocol, LatencyResult, ProfileResult, measure_latency, profile_arch, summarize
from workbench.profiling import latency as latency_module
from workbench.profiling.memory import ESTIMATE_METHOD, estimate_peak_memory
from workbench.profiling.reference import Reference
from workbench.profiling.timing import CpuTimer

torch.set_num_threads(1)
ARCH = get_preset("ghostnet_cifar_050")
FAST = dict(warmup=2, repeats=10, max_seconds=1.0)
gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class FakeClock:
    """Nanosecond clock that only moves when the fake model runs, by scripted milliseconds."""

    def __init__(self, durations_ms: Iterable[float]) -> None:
        self.now = 0
        self._durations = iter(durations_ms)

    def __call__(self) -> int:
        return self.now

    def advance(self) -> None:
        self.now += int(round(next(self._durations) * 1e6))


class Ticking(nn.Module):
    """A model whose forward costs exactly the clock's next duration."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.tick = lambda: clock.advance()  # a function, so deep copies share the clock

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tick()
        return self.conv(x)


def _fake_run(durations: Iterable[float], **protocol: object) -> LatencyResult:
    clock = FakeClock(durations)
    protocol.setdefault("reference", False)
    return measure_latency(Ticking(clock), ARCH, LatencyProtocol(**protocol), clock=clock)


def test_summarize_is_exact() -> None:
    stats = summarize([4.0, 1.0, 3.0, 2.0, 10.0])
    assert (stats.p50_ms, stats.mean_ms, stats.samples) == (3.0, 4.0, 5)
    assert stats.p90_ms == pytest.approx(7.6)  # linear interpolation between 4 and 10
    assert stats.std_ms == pytest.approx(np.std([4, 1, 3, 2, 10], ddof=1))
    assert stats.cv == pytest.approx(stats.std_ms / 4.0)


def test_fake_clock_gives_exact_statistics_of_the_quietest_round() -> None:
    quiet = [10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 9.0, 11.0, 10.0, 8.0]
    loaded = [value + 5.0 for value in quiet]  # a round disturbed by load: every sample later
    result = _fake_run([5.0, 5.0, 5.0] + loaded + quiet + quiet, warmup=10, repeats=10, cv_threshold=0.5)
    assert result.samples == 30  # three rounds: the two quiet ones agree, so timing stops there
    assert result.p50_ms == pytest.approx(10.0)  # the quiet round's median, not the pooled one (12.5 -> 10.5)
    assert result.p90_ms == pytest.approx(float(np.percentile(quiet, 90)))
    assert result.cv == pytest.approx(np.std(quiet, ddof=1) / np.mean(quiet))
    assert not result.noisy
    assert result.protocol["warmup_done"] == 3  # three equal warm-up iterations are stable
    assert result.protocol["round_medians_ms"] == [15.0, 10.0, 10.0]
    assert result.protocol["estimator"] == "min-round-median"


def test_rounds_that_never_agree_run_to_the_limit_and_are_flagged() -> None:
    rounds = [[float(level)] * 10 for level in (10, 20, 30, 40)]  # every round 2x the last: no two agree
    result = _fake_run([1.0] * 3 + sum(rounds, []), warmup=3, repeats=10, rounds=4, max_seconds=100.0)
    assert result.protocol["rounds_done"] == 4
    assert result.p50_ms == pytest.approx(10.0)
    assert result.noisy  # each round is steady (cv 0) but the rounds disagree by 100%


def test_noisy_round_is_flagged() -> None:
    result = _fake_run(cycle([1.0, 3.0]), warmup=1, repeats=10, cv_threshold=0.1)
    assert result.noisy and result.cv > 0.1


def test_steady_measurement_stops_after_the_minimum_rounds() -> None:
    result = _fake_run(cycle([2.0]), warmup=3, repeats=10, rounds=8)
    assert result.samples == 10 * latency_module.MIN_ROUNDS
    assert result.cv == 0.0 and not result.noisy


def test_time_cap_stops_sampling_at_the_minimum() -> None:
    result = _fake_run(cycle([400.0, 500.0]), warmup=10, repeats=30, max_seconds=1.0, cv_threshold=0.5)
    assert result.samples == latency_module.MIN_SAMPLES
    assert result.protocol["rounds_done"] == 1
    assert result.protocol["warmup_done"] == 1  # warm-up gets a quarter of the cap


def test_a_window_whose_reference_drifted_is_timed_again() -> None:
    # Each round times the reference, then the model; three agreeing rounds end a window.
    first_window = ([2.0] * 20 + [3.0] * 20) * 3  # the reference takes 2 ms here
    second_window = ([1.0] * 20 + [3.0] * 20) * 3
    clock = FakeClock(first_window + second_window)
    timer = CpuTimer(clock)
    reference = Reference("ref", clock.advance, history=[1.0, 1.0, 1.0])  # its running median: 1 ms
    protocol = LatencyProtocol(warmup=0, repeats=20, rounds=3, max_seconds=100.0)
    stats, facts = latency_module.measure_step(clock.advance, timer, protocol, reference)
    assert facts["attempts"] == 2 and facts["retimed"] == 1  # 2 ms is 100% off 1 ms: timed again
    assert facts["reference_ms"] == pytest.approx(1.0) and facts["reference_drift"] == pytest.approx(0.0)
    assert stats.p50_ms == pytest.approx(3.0)


def test_protocol_is_recorded_with_every_figure() -> None:
    before = torch.get_num_threads()
    result = _fake_run(cycle([1.0]), threads=1, **FAST)
    record = result.protocol
    for f in fields(LatencyProtocol):
        assert f.name in record
    assert record["threads"] == 1 and torch.get_num_threads() == before
    assert record["torch_version"] == torch.__version__ and record["device_name"]
    assert record["input_size"] == ARCH.input_size and record["timer"] == "perf_counter_ns"
    assert LatencyProtocol.from_dict(record) == LatencyProtocol(threads=1, reference=False, **FAST)
    json.dumps(result.to_dict())


@pytest.mark.parametrize(
    "bad",
    [dict(dtype="fp16"), dict(mode="fast"), dict(device="tpu"), dict(batch_size=0), dict(cuda_graphs=True)],
)
def test_invalid_protocols_are_workbench_errors(bad: dict) -> None:
    with pytest.raises(WorkbenchError):
        LatencyProtocol(**bad)


def test_unknown_protocol_keys_are_refused() -> None:
    with pytest.raises(WorkbenchError, match="unknown latency protocol keys"):
        LatencyProtocol.from_dict({"mdoe": "eager"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_a_workbench_error() -> None:
    with pytest.raises(WorkbenchError, match="no CUDA GPU"):
        measure_latency(build_model(ARCH), ARCH, LatencyProtocol(device="cuda"))


@pytest.mark.parametrize(
    "protocol",
    [LatencyProtocol(mode="eager", **FAST), LatencyProtocol(**FAST),
     LatencyProtocol(dtype="bf16", channels_last=True, batch_size=2, **FAST)],
    ids=["eager", "deploy", "bf16-channels-last"],
)
def test_real_measurement_leaves_the_model_untouched(protocol: LatencyProtocol) -> None:
    model = build_model(ARCH)
    result = measure_latency(model, ARCH, protocol)
    assert result.available and result.p50_ms > 0 and result.samples >= latency_module.MIN_SAMPLES
    assert model.training and next(model.parameters()).dtype == torch.float32
    assert result.protocol["batch_size"] == protocol.batch_size


def test_compile_failure_marks_the_figure_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no compiler\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    result = measure_latency(build_model(ARCH), ARCH, LatencyProtocol(mode="compiled", **FAST))
    assert not result.available and result.reason == "RuntimeError: no compiler second line"
    assert result.to_dict()["p50_ms"] is None


def test_cpu_peak_memory_estimate() -> None:
    assert estimate_peak_memory(100, 10, LatencyProtocol(batch_size=4)) == (100 + 40) * 4
    assert estimate_peak_memory(100, 10, LatencyProtocol(dtype="bf16")) == 110 * 2


def test_profile_arch_returns_every_figure() -> None:
    result = profile_arch(ARCH, LatencyProtocol(**FAST), crosscheck=True)
    assert isinstance(result, ProfileResult)
    assert result.params == 1318838 and result.macs > 0 and result.flops_fvcore > result.macs
    assert result.activations > 0 and result.unsupported_ops == {}
    assert result.latency is not None and result.latency.available
    assert result.peak_memory_method == ESTIMATE_METHOD
    assert result.peak_memory_bytes == (result.params + result.activations) * 4
    assert result.crosscheck_ok and result.profile_seconds > 0
    data = json.loads(json.dumps(result.to_dict()))
    assert data["latency"]["protocol"]["mode"] == "deploy"


def test_profile_arch_without_latency_and_with_a_given_model() -> None:
    model = build_model(ARCH)
    result = profile_arch(ARCH, latency=None, model=model)
    assert result.latency is None and result.crosscheck_ok is None
    assert result.to_dict()["latency"] is None


def test_profile_arch_refuses_too_small_inputs() -> None:
    with pytest.raises(WorkbenchError, match="too small"):
        profile_arch(get_preset("ghostnet_100", input_size=16), latency=None)


@gpu
@needs_cuda
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_cuda_latency(dtype: str) -> None:
    result = measure_latency(build_model(ARCH), ARCH, LatencyProtocol(device="cuda", dtype=dtype, **FAST))
    assert result.available and result.p50_ms > 0
    assert result.protocol["timer"] == "cuda_events" and result.protocol["device_name"] == torch.cuda.get_device_name()


@gpu
@needs_cuda
def test_cuda_graph_replay() -> None:
    result = measure_latency(build_model(ARCH), ARCH, LatencyProtocol(device="cuda", cuda_graphs=True, **FAST))
    assert result.available and result.p50_ms > 0


@gpu
@needs_cuda
def test_cuda_peak_memory_is_measured() -> None:
    result = profile_arch(ARCH, LatencyProtocol(device="cuda", **FAST))
    assert result.peak_memory_method == "cuda.max_memory_allocated" and result.peak_memory_bytes > 0
