"""Cost figures that hold off this machine: the exclusive timing window, the host facts every
protocol records, int8 files quantized for the device (not the host), and both int8 accuracies."""

from __future__ import annotations

import multiprocessing
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from workbench.engines import export_graph, quantization_for, quantization_for_cpu, quantize_int8
from workbench.models import build_model, get_preset
from workbench.profiling import LatencyProtocol, measure_latency
from workbench.profiling.hostfacts import IsaFacts, cpu_flags
from workbench.profiling.window import TimingWindow
from workbench.training.int8 import int8_accuracy

WORKBENCH = str(Path(sys.executable).with_name("workbench"))

# /proc/cpuinfo excerpts of three real CPU kinds (flags trimmed to the ones that matter and a few others).
HASWELL = "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-4770\nflags\t\t: fpu sse4_2 avx fma avx2 bmi2\n"
CASCADE_LAKE = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6230\n"
                "flags\t\t: fpu sse4_2 avx avx2 avx512f avx512bw avx512_vnni\n")
PI5 = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimddp\n"


@pytest.mark.parametrize(("machine", "cpuinfo", "facts", "reduce_range"), [
    ("x86_64", HASWELL, {"arch": "x86", "avx2": True, "avx512": False, "vnni": False}, True),
    ("x86_64", CASCADE_LAKE, {"arch": "x86", "avx2": True, "avx512": True, "vnni": True}, True),
    ("aarch64", PI5, {"arch": "arm", "neon": True, "dotprod": True, "i8mm": False}, False),
], ids=["avx2-without-vnni", "avx512-vnni", "arm-dotprod"])
def test_int8_settings_follow_the_device_family_not_its_vnni(tmp_path: Path, machine: str, cpuinfo: str,
                                                               facts: dict, reduce_range: bool) -> None:
    # ONNX Runtime's quantization guide: u8 x s8 on x86 without VNNI can saturate (VPMADDUBSW), cured by
    # reduce_range; arm's kernels do not saturate. One x86 file must score the same on every x86 chip.
    fake = tmp_path / "cpuinfo"
    fake.write_text(cpuinfo)
    isa = IsaFacts.from_flags(machine, cpu_flags(str(fake)))
    assert isa.to_dict() == facts
    settings = quantization_for_cpu(isa.arch)
    assert settings.reduce_range is reduce_range
    assert settings.activation_type == "uint8" and settings.weight_type == "int8" and settings.reason


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 6 * 6, 4)).eval()


def _int8_weights(graph: bytes) -> list[np.ndarray]:
    model = onnx.load_from_string(graph)
    return [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]


def test_an_int8_file_for_x86_keeps_its_weights_in_seven_bits() -> None:
    # reduce_range quantizes weights to 7 bits: no int8 weight beyond [-64, 64], so u8 x s8 pairs summed by
    # VPMADDUBSW (255 * 64 * 2 = 32640) stay under int16's 32767 on any x86.
    graph = export_graph(_tiny_model(), torch.zeros(1, 1, 8, 8))
    images = np.random.default_rng(0).standard_normal((32, 1, 8, 8), dtype=np.float32)
    for_x86 = _int8_weights(quantize_int8(graph, images, quantization_for("x86")))
    for_arm = _int8_weights(quantize_int8(graph, images, quantization_for("arm")))
    assert for_x86 and all(int(np.abs(w.astype(int)).max()) <= 64 for w in for_x86)
    assert max(int(np.abs(w).max()) for w in for_arm) > 64  # full 8 bits where nothing saturates


def test_the_int8_accuracy_is_the_qdq_graphs_own_arithmetic() -> None:
    model = _tiny_model()
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(dim=1)
    y[::5] = (y[::5] + 1) % 4  # some wrong labels, so the accuracy is not trivially 1
    graph = export_graph(model, x[:1])
    int8 = quantize_int8(graph, x.numpy())
    figures = int8_accuracy(graph, int8, x, y)
    # onnx's reference evaluator is an independent implementation of the QDQ operators' arithmetic. It
    # implements (De)QuantizeLinear from opset 19; this graph's operators mean the same at 17 and 19.
    reference = onnx.load_from_string(int8)
    for entry in reference.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = 19
    logits = ReferenceEvaluator(reference).run(None, {"images": x.numpy()})[0]
    assert figures["accuracy"] == pytest.approx(float((logits.argmax(axis=1) == y.numpy()).mean()))
    assert 0.0 <= figures["host_accuracy"] <= 1.0
    assert figures["host_agrees"] == (figures["host_gap_ci_low"] <= 0.0 <= figures["host_gap_ci_high"])
    assert figures["host_isa"]["arch"] in ("x86", "arm", "other")


def test_every_protocol_records_the_host_isa_and_load() -> None:
    arch = get_preset("ghostnet_cifar_050").model_copy(update={"input_size": 16})
    result = measure_latency(build_model(arch), arch, LatencyProtocol(warmup=1, repeats=5, rounds=3, threads=1))
    protocol = result.protocol
    flags = cpu_flags() or set()
    if platform.machine() in ("x86_64", "AMD64"):
        assert protocol["isa"] == {"arch": "x86", "avx2": "avx2" in flags, "avx512": "avx512f" in flags,
                                   "vnni": bool({"avx512_vnni", "avx_vnni"} & flags)}
    assert isinstance(protocol["load_avg_1m"], float) and protocol["cores"] >= 1
    assert protocol["estimator"] == "min-round-median"
    assert protocol["reference_ms"] > 0 and protocol["reference_model"].startswith("ref-convnet")


def _compute_loop(path: str, log: str, seconds: float) -> None:
    """Hold the window shared in 5 ms units, logging each unit's start and end."""
    window = TimingWindow(path)
    end = time.monotonic() + seconds
    with open(log, "w") as out:
        while time.monotonic() < end:
            with window.compute():
                start = time.monotonic()
                busy = time.monotonic() + 0.005
                while time.monotonic() < busy:
                    pass
                out.write(f"{start} {time.monotonic()}\n")


def test_no_compute_runs_inside_a_timing_window_and_the_timer_is_not_starved(tmp_path: Path) -> None:
    path, log = str(tmp_path / "w.lock"), str(tmp_path / "compute.log")
    trainer = multiprocessing.get_context("spawn").Process(target=_compute_loop, args=(path, log, 4.0))
    trainer.start()
    time.sleep(1.0)
    window, timed, waits = TimingWindow(path), [], []
    for _ in range(5):
        asked = time.monotonic()
        with window.timing():
            start = time.monotonic()
            waits.append(start - asked)
            time.sleep(0.1)
            timed.append((start, time.monotonic()))
        time.sleep(0.05)
    trainer.join(timeout=30)
    units = [tuple(map(float, line.split())) for line in Path(log).read_text().splitlines()]
    assert len(units) > 50  # the trainer did run between the windows
    overlaps = [(u, t) for u in units for t in timed if u[0] < t[1] and t[0] < u[1]]
    assert overlaps == []
    assert max(waits) < 1.0  # a timer waits for the unit in progress (5 ms), not for the trainer to stop


def test_a_second_timer_does_not_deadlock_when_both_hold_compute(tmp_path: Path) -> None:
    path = str(tmp_path / "w.lock")
    code = ("import sys, time; from workbench.profiling.window import TimingWindow\n"
            "w = TimingWindow(sys.argv[1])\n"
            "for _ in range(20):\n"
            "    with w.compute():\n"
            "        with w.timing():\n"
            "            time.sleep(0.01)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, path]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]


@pytest.mark.parametrize("threads", ["0", str((os.cpu_count() or 1) + 1)])
def test_profile_refuses_a_thread_count_outside_the_cores_in_one_line(threads: str) -> None:
    done = subprocess.run([WORKBENCH, "profile", "--preset", "ghostnet_cifar_050", "--threads", threads],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "threads must be between 1 and" in done.stderr


def test_profile_defaults_to_one_thread_and_says_how_to_ask_for_more() -> None:
    done = subprocess.run([WORKBENCH, "profile", "--preset", "ghostnet_cifar_050", "--set", "input_size=16",
                           "--batch-size", "1", "--max-seconds", "0.3", "--no-crosscheck"],
                          capture_output=True, text=True, check=True)
    assert "threads: 1 (ask for more with --threads N)" in done.stdout
    assert "noisy" in done.stdout.lower()  # the table's noisy column is printed whatever its value
