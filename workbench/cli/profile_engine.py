"""`workbench profile --engine onnxruntime [--int8]`: the latency of one model on ONNX Runtime,
fp32 or int8, under the same protocol a search's onnxruntime target uses."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError

CALIBRATION_IMAGES = 64
CALIBRATION_SEED = 0


def check_engine_arguments(args: argparse.Namespace) -> None:
    """Refuse settings the chosen engine cannot honour, naming the option.

    Raises:
        WorkbenchError: `--int8` on torch; CUDA, a mode other than deploy or a dtype other than
        fp32 on onnxruntime (its CPU provider runs the BN-folded fp32 graph, or int8 with --int8).
    """
    if args.engine == "torch":
        if args.int8:
            raise WorkbenchError("--int8 needs --engine onnxruntime (the torch engine times fp32, bf16 or fp16)")
        return
    for option, value, allowed in (("--device", args.device, ("cpu", "auto")), ("--mode", args.mode, ("deploy",)),
                                   ("--dtype", args.dtype, ("fp32",))):
        if value not in allowed:
            raise WorkbenchError(f"{option} {value}: --engine onnxruntime runs '{allowed[0]}' here "
                                 f"(its CPU execution provider on the BN-folded graph)")
    if args.channels_last:
        raise WorkbenchError("--channels-last applies to the torch engine only")


def engine_latencies(model: Any, arch: Any, args: argparse.Namespace, sizes: list[int]) -> list[Any]:
    """One `LatencyResult` per batch size on onnxruntime (the graph is exported and, with
    `--int8`, quantized once)."""
    from workbench.engines import require_onnxruntime
    from workbench.profiling.engine_latency import Graphs, measure_ort
    from workbench.profiling.protocol import LatencyProtocol
    from workbench.profiling.targets import LatencyTarget

    require_onnxruntime()
    calibration, source = _calibration(arch, args.data) if args.int8 else (None, None)
    graphs = Graphs(model, arch, calibration)
    results = []
    for size in sizes:
        protocol = LatencyProtocol(device="cpu", mode="deploy", batch_size=size, threads=args.threads or 1,
                                   warmup=args.warmup, repeats=args.repeats, max_seconds=args.max_seconds,
                                   rounds=args.rounds)
        target = LatencyTarget(name="onnxruntime-int8" if args.int8 else "onnxruntime", engine="onnxruntime",
                               precision="int8" if args.int8 else "fp32", protocol=protocol,
                               calibration=CALIBRATION_IMAGES)
        result = measure_ort(graphs, target)
        if source:
            result.protocol["calibration_source"] = source
        results.append(result)
    return results


def _calibration(arch: Any, data: str | None) -> tuple[np.ndarray, str]:
    """Calibration images: the first of a seeded draw from `--data`'s training split, else seeded
    random images (enough for latency, which does not depend on the ranges; not for accuracy)."""
    if data:
        from workbench.data import load_dataset
        from workbench.data.calibration import calibration_images

        dataset = load_dataset(data, input_size=arch.input_size, in_channels=arch.in_channels, seed=CALIBRATION_SEED)
        return calibration_images(dataset, CALIBRATION_IMAGES, CALIBRATION_SEED), f"{data} training images"
    shape = (CALIBRATION_IMAGES, arch.in_channels, arch.input_size, arch.input_size)
    images = np.random.default_rng(CALIBRATION_SEED).standard_normal(shape, dtype=np.float32)
    return images, "random images (latency only; pass --data for a real calibration set)"
