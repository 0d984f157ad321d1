"""The CUDA paths, run for real on a GPU (`pytest -m gpu`; every test skips without one).

Each test checks a figure against something measured independently of the code under test:
the host clock around a synchronised GPU spin, the eager model's own output, the bytes of the
parameters and the input, the profiler's record of memory copies, the protocol the study stores.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import torch
from helpers.models import randomise_bn
from torch import nn

from workbench import record
from workbench.models import build_model, get_preset
from workbench.profiling import LatencyProtocol, measure_latency, profile_arch
from workbench.profiling.latency import _step, prepare
from workbench.profiling.protocol import DTYPES
from workbench.profiling.timing import CudaTimer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ARCH = get_preset("ghostnet_cifar_050")
FAST = dict(warmup=3, repeats=10, max_seconds=2.0)
APP = Path(__file__).resolve().parents[1] / "app.py"


def _spin_cycles(milliseconds: float) -> int:
    """GPU clock cycles that `torch.cuda._sleep` spins for about `milliseconds` (calibrated)."""
    probe = 1_000_000
    torch.cuda.synchronize()
    start = time.perf_counter()
    torch.cuda._sleep(probe)
    torch.cuda.synchronize()
    per_ms = probe / ((time.perf_counter() - start) * 1e3)
    return int(per_ms * milliseconds)


def test_cuda_event_timer_waits_for_the_gpu() -> None:
    cycles = _spin_cycles(20.0)
    torch.cuda.synchronize()
    start = time.perf_counter()
    torch.cuda._sleep(cycles)
    launched = time.perf_counter() - start          # the launch returns long before the GPU is done
    torch.cuda.synchronize()
    host_ms = (time.perf_counter() - start) * 1e3   # host clock around a synchronised spin
    timed_ms = CudaTimer(time.perf_counter_ns).time(lambda: torch.cuda._sleep(cycles))
    assert launched * 1e3 < host_ms / 4, "the spin was not asynchronous; the comparison would prove nothing"
    assert timed_ms == pytest.approx(host_ms, rel=0.15)


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_cuda_latency_records_its_protocol(dtype: str) -> None:
    result = measure_latency(build_model(ARCH), ARCH, LatencyProtocol(device="cuda", dtype=dtype, **FAST))
    protocol = result.protocol
    assert result.available and 0 < result.p50_ms <= result.p90_ms
    assert protocol["timer"] == "cuda_events" and protocol["device"] == "cuda" and protocol["dtype"] == dtype
    assert protocol["device_name"] == torch.cuda.get_device_name()
    assert protocol["warmup_done"] >= 1 and result.samples >= 5


@pytest.mark.parametrize("dtype, tolerance", [("fp32", 2e-3), ("bf16", 0.08), ("fp16", 0.01)])  # fp32 convs use TF32
def test_folded_model_under_each_dtype_matches_eager_fp32(dtype: str, tolerance: float) -> None:
    torch.manual_seed(0)
    model = build_model(ARCH).eval()
    randomise_bn(model)
    inputs = torch.randn(8, ARCH.in_channels, ARCH.input_size, ARCH.input_size)
    with torch.no_grad():
        expected = model(inputs)
    prepared, _ = prepare(model, ARCH, LatencyProtocol(device="cuda", dtype=dtype))
    with torch.inference_mode():
        got = prepared(inputs.to("cuda", DTYPES[dtype])).float().cpu()
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= tolerance * scale


def test_cuda_graph_replay_gives_the_eager_output() -> None:
    protocol = LatencyProtocol(device="cuda", cuda_graphs=True)
    prepared, inputs = prepare(build_model(ARCH), ARCH, protocol)
    replay = _step(prepared, inputs, protocol)
    with torch.inference_mode():
        eager = prepared(inputs).clone()
    inputs.copy_(torch.randn_like(inputs))  # a graph reads its static input: new values, new output
    with torch.inference_mode():
        eager_new = prepared(inputs).clone()
    torch.testing.assert_close(replay().clone(), eager_new)
    assert not torch.allclose(eager, eager_new)
    result = measure_latency(build_model(ARCH), ARCH, LatencyProtocol(device="cuda", cuda_graphs=True, **FAST))
    assert result.available and result.p50_ms > 0 and result.protocol["cuda_graphs"] is True


def test_peak_memory_counts_the_model_not_what_else_is_on_the_gpu() -> None:
    protocol = LatencyProtocol(device="cuda", batch_size=32)
    model = build_model(ARCH)
    alone = profile_arch(ARCH, protocol, model=model)
    param_bytes = sum(p.numel() * 4 for p in model.parameters())
    input_bytes = 32 * ARCH.in_channels * ARCH.input_size ** 2 * 4
    assert alone.peak_memory_method == "cuda.max_memory_allocated"
    assert alone.peak_memory_bytes >= param_bytes + input_bytes
    ballast = torch.empty(64 * 2**20, dtype=torch.uint8, device="cuda")  # a 64 MiB dataset, say
    beside = profile_arch(ARCH, protocol, model=model)
    del ballast
    assert beside.peak_memory_bytes == pytest.approx(alone.peak_memory_bytes, rel=0.05)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_proxy_training_learns_digits(amp: str) -> None:
    from workbench.data import load_dataset
    from workbench.training import ProxyRecipe, seed_everything, train_proxy

    data = load_dataset("digits", input_size=16, in_channels=1)
    arch = get_preset("ghostnet_cifar_050", input_size=16, in_channels=1, num_classes=10)
    seed_everything(0)
    result = train_proxy(build_model(arch), data, ProxyRecipe.for_dataset("digits", epochs=4, amp=amp), device="cuda")
    assert result.best_val_accuracy >= 0.85, result.val_curve  # chance is 0.10
    assert not result.notes


def test_device_resident_batches_copy_nothing_from_the_host() -> None:
    from workbench.data import load_dataset
    from workbench.data.batching import DeviceBatches
    from workbench.training import ProxyRecipe
    from workbench.training.loop import make_optimizer, make_scheduler, train_epoch

    data = load_dataset("digits", input_size=16, in_channels=1).to("cuda")
    arch = get_preset("ghostnet_cifar_050", input_size=16, in_channels=1, num_classes=10)
    model = build_model(arch).to("cuda")
    recipe = ProxyRecipe.for_dataset("digits", epochs=1)
    batches = DeviceBatches(data.train_x, data.train_y, recipe.batch_size, seed=0)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe, len(batches))
    train_epoch(model, batches.epoch(2), optimizer, scheduler, nn.CrossEntropyLoss(), check_every=25)  # warm-up
    torch.cuda.synchronize()
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        _, seen = train_epoch(model, batches.epoch(20), optimizer, scheduler, nn.CrossEntropyLoss(), check_every=25)
        torch.cuda.synchronize()
    names = [event.name for event in prof.events()]
    host_to_device = [n for n in names if "HtoD" in n or "Memcpy HtoD" in n]
    assert seen == 20 * recipe.batch_size
    assert host_to_device == [], f"{len(host_to_device)} host-to-device copies in 20 steps"
    assert any("conv" in n.lower() for n in names), "the profiler saw no GPU work at all"


def test_search_on_digits_records_cuda_latency_and_the_dashboard_shows_it(tmp_path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from workbench.cli.main import main

    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path}/gpu.db"
    assert main(["search", "--space", "digits", "--trials", "5", "--storage", storage, "--no-progress"]) == 0
    study = optuna.load_study(study_name="digits", storage=storage)
    measured = [t for t in study.trials if t.user_attrs.get(record.LATENCY_PROTOCOL)]
    assert len(study.trials) >= 5 and len(measured) == len(study.trials)
    gpu_name = torch.cuda.get_device_name()
    for trial in measured:
        protocol = trial.user_attrs[record.LATENCY_PROTOCOL]
        assert protocol["device"] == "cuda" and protocol["timer"] == "cuda_events", trial.number
        assert protocol["device_name"] == gpu_name and trial.user_attrs[record.DEVICE] == gpu_name
    assert study.user_attrs[record.STUDY_DEVICE] == gpu_name

    monkeypatch.setenv("WORKBENCH_STORAGE", storage)
    monkeypatch.setenv("WORKBENCH_STUDY", "digits")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(c.value for c in at.caption) + " ".join(c.value for c in at.sidebar.caption)
    assert gpu_name in shown
    assert at.get("plotly_chart"), "no chart was drawn"



def _graphed_run(capture: bool | None, graph_safe: bool, steps: int = 8, amp: str = "none",
                 channels_last: bool = False, lr: float = 0.05) -> tuple[nn.Module, object]:
    """`steps` steps of the CIFAR GhostNet 0.5x at 32x32, batch 64, on device-resident batches."""
    from workbench.data.batching import DeviceBatches
    from workbench.training import ProxyRecipe, seed_everything
    from workbench.training.graphed import GraphedStep, graph_autocast
    from workbench.training.loop import make_optimizer, make_scheduler, train_epoch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(600, 3, 32, 32, generator=generator).cuda()
    y = torch.randint(0, 10, (600,), generator=generator).cuda()
    seed_everything(0)
    model = build_model(ARCH).cuda()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            # A replayed graph draws dropout masks from its own Philox offsets, not in eager's
            # order; without dropout the comparison is of the arithmetic alone.
            module.p = 0.0
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    recipe = ProxyRecipe(batch_size=64, lr=lr, amp=amp, channels_last=channels_last)
    batches = DeviceBatches(x.contiguous(memory_format=memory), y, 64, seed=0, channels_last=channels_last)
    optimizer = make_optimizer(model, recipe, graph_safe=graph_safe)
    scheduler = make_scheduler(optimizer, recipe, steps)
    loss_fn = nn.CrossEntropyLoss()
    step = None
    if capture is not None:
        autocast = graph_autocast(torch.device("cuda"), amp)
        step = GraphedStep(model, optimizer, loss_fn, autocast=autocast, capture=capture)
    torch.manual_seed(1)
    train_epoch(model, batches.epoch(steps), optimizer, scheduler, loss_fn, train_step=step, check_every=25)
    torch.cuda.synchronize()
    return model, step


def _distance(a: nn.Module, b: nn.Module) -> float:
    def flat(model: nn.Module) -> torch.Tensor:
        return torch.cat([t.flatten().double() for t in model.state_dict().values() if t.is_floating_point()])

    return float((flat(a) - flat(b)).norm() / flat(a).norm())


def test_captured_step_equals_the_same_step_uncaptured(monkeypatch) -> None:
    # Same optimiser, same kernels (deterministic cuDNN): the graph must replay exactly what
    # the uncaptured step computes. Tolerance: 1e-6 relative, float32 rounding of a reduction
    # order at most (expected 0).
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    uncaptured, _ = _graphed_run(False, True)
    captured, step = _graphed_run(True, True)
    assert step.replays == 8 - step.warmup and step.graph is not None
    assert _distance(uncaptured, captured) <= 1e-6


def test_captured_step_gives_the_eager_weights_within_one_ulp_of_learning_rate(monkeypatch) -> None:
    # The bound of tests/test_graphed_step.py: at most 4x the eager run's own deviation when its
    # learning rate moves by one float32 ulp (tensor lr and fused SGD round the update differently),
    # and never more than 1e-3 relative to the weights after 5 steps.
    import numpy as np

    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    eager, _ = _graphed_run(None, False, steps=5)
    perturbed, _ = _graphed_run(None, False, steps=5, lr=float(np.nextafter(np.float32(0.05), np.float32(1.0))))
    captured, step = _graphed_run(True, True, steps=5)
    assert step.replays == 5 - step.warmup
    noise = _distance(eager, perturbed)
    assert _distance(eager, captured) <= min(max(4 * noise, 1e-6), 1e-3)


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_graphed_channels_last_step_replays(amp: str) -> None:
    model, step = _graphed_run(True, True, steps=6, amp=amp, channels_last=True)
    assert step.replays == 6 - step.warmup
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_graphed_proxy_training_learns_digits(amp: str) -> None:
    from workbench.data import load_dataset
    from workbench.training import ProxyRecipe, seed_everything, train_proxy

    data = load_dataset("digits", input_size=16, in_channels=1)
    arch = get_preset("ghostnet_cifar_050", input_size=16, in_channels=1, num_classes=10)
    seed_everything(0)
    recipe = ProxyRecipe.for_dataset("digits", epochs=4, amp=amp, channels_last=True)
    result = train_proxy(build_model(arch), data, recipe, device="cuda", graphed=True)
    assert result.best_val_accuracy >= 0.85, result.val_curve  # chance is 0.10
    assert not result.notes
