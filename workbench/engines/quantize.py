"""int8 static post-training quantization with ONNX Runtime's own tools: QDQ format, per-channel
int8 weights, uint8 activations calibrated (MinMax) on a fixed set of training images, with
settings chosen for the device the file is for, never for the host that quantizes it.

Why the settings (ONNX Runtime's quantization guide, and measured here):

- uint8 activations and int8 weights (U8S8). On x86, ONNX Runtime runs int8 activations
  through the same u8 x s8 kernels after a conversion: measured on an AVX2 host, a digits
  GhostNet ran in 4.0 ms with int8 activations and 1.1 ms with uint8 (1.7 ms fp32).
- `reduce_range` (7-bit weights) for any x86 device, and for a device not named. An x86 CPU
  without VNNI multiplies u8 x s8 with VPMADDUBSW, whose 16-bit intermediate sums saturate;
  the guide names `reduce_range` as the cure. Measured: one int8 file without it scored 86.9 %
  on an emulated AVX2 CPU (qemu Haswell) and 89.2 % on this AVX512-VNNI host; with it, 89.0 % on
  both. It is used for every x86 device, VNNI or not, so one file gives one accuracy on every x86.
- No `reduce_range` for an arm device: its int8 kernels (NEON, dot product) accumulate in 32 bits
  without that saturation, and the guide sees no accuracy difference there.

The graph gets ORT's basic optimisations first (constant folding, Identity removal), as the guide
advises; this also keeps the quantizer's per-node work down.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from workbench.engines.ort import require_onnxruntime
from workbench.errors import WorkbenchError

CALIBRATION_BATCH = 16
# The devices an int8 file may be quantized for: `any` is every CPU (x86's safe settings).
INT8_DEVICES = ("any", "x86", "arm")


@dataclass(frozen=True)
class QuantSettings:
    """The recorded quantization settings (the protocol of every int8 figure), with the device
    they were chosen for and why.

    Example:
        >>> quantization_for("arm").reduce_range, quantization_for("x86").reduce_range
        (False, True)
    """

    device: str
    reduce_range: bool
    reason: str
    format: str = "QDQ"
    per_channel: bool = True
    weight_type: str = "int8"
    activation_type: str = "uint8"
    calibration_method: str = "MinMax"
    preprocessing: str = "ort-basic"

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return asdict(self)


X86_REASON = ("x86 without VNNI computes u8 x s8 with VPMADDUBSW, which can saturate; 7-bit weights "
              "(reduce_range) give the same accuracy on every x86, VNNI or not")
ARM_REASON = "arm's int8 kernels accumulate in 32 bits without x86's u8 x s8 saturation; full 8-bit weights"


def quantization_for(device: str = "any") -> QuantSettings:
    """The settings an int8 file for `device` (`any`, `x86` or `arm`) is quantized with.

    Raises:
        WorkbenchError: `device` is not one of `INT8_DEVICES`.
    """
    if device not in INT8_DEVICES:
        raise WorkbenchError(f"int8 device '{device}' is not one of: {', '.join(INT8_DEVICES)}")
    if device == "arm":
        return QuantSettings(device, reduce_range=False, reason=ARM_REASON)
    return QuantSettings(device, reduce_range=True, reason=X86_REASON)


def quantization_for_cpu(arch: str) -> QuantSettings:
    """The settings for a CPU of the family `arch` (`x86`, `arm`, anything else is `any`), as
    `profiling.hostfacts.IsaFacts.arch` names it: what a bundle made for a measured device uses."""
    return quantization_for(arch if arch in INT8_DEVICES else "any")


# The settings of a file made with no device named (kept for callers that record the default).
QUANTIZATION: dict[str, Any] = quantization_for("any").to_dict()


class _Batches:
    """ONNX Runtime's `CalibrationDataReader` protocol over a fixed array of images."""

    def __init__(self, images: np.ndarray, input_name: str) -> None:
        self._images = np.ascontiguousarray(images, dtype=np.float32)
        self._name = input_name
        self._iter: Iterator[dict[str, np.ndarray]] = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self._images), CALIBRATION_BATCH):
            yield {self._name: self._images[start:start + CALIBRATION_BATCH]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = self._batches()


def quantize_int8(graph: bytes, calibration: np.ndarray, settings: QuantSettings | None = None) -> bytes:
    """`graph` quantized to int8 with `settings` (default: for any device), activation ranges
    calibrated on `calibration` (N, C, H, W float32 training images).

    Raises:
        WorkbenchError: onnxruntime is missing; any quantizer error passes through (the caller
        records it as the target's reason).
    """
    require_onnxruntime()
    settings = settings or quantization_for("any")
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if len(calibration) == 0:
        raise ValueError("int8 calibration needs at least one image")
    model = onnx.load_from_string(basic_optimized(graph))
    reader = _Batches(calibration, model.graph.input[0].name)
    with tempfile.TemporaryDirectory(prefix="workbench-int8-") as folder:
        out = Path(folder) / "int8.onnx"
        # The calibrator writes its augmented model into the working directory's temp space;
        # the folder keeps that and the output away from the user's files.
        with _quiet_quantizer():
            quantize_static(model, out, reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, reduce_range=settings.reduce_range)
        return out.read_bytes()


def basic_optimized(graph: bytes) -> bytes:
    """`graph` after ONNX Runtime's basic (semantics-preserving, provider-independent) optimisations."""
    ort = require_onnxruntime()
    with tempfile.TemporaryDirectory(prefix="workbench-opt-") as folder:
        out = Path(folder) / "basic.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(out)
        options.log_severity_level = 3
        ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
        return out.read_bytes()


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantizer logs advice on the root logger ("consider pre-processing"); the graph is
    pre-processed already, so the advice is noise in a search's output."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(max(previous, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(previous)
