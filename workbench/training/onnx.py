"""ONNX export of a trained model, kept only when onnxruntime agrees with PyTorch, and its int8
twin quantized the way a search's int8 target quantizes (`workbench.engines.quantize_int8`).

The exported graph is the BN-folded eval model with a dynamic batch axis; the preprocessing
and class names travel in its metadata (`workbench.data.preprocessing.onnx_metadata`).

Example:
    >>> from torch import nn
    >>> export_onnx(nn.Conv2d(3, 4, 3), torch.randn(2, 3, 8, 8), "m.onnx") < ONNX_ATOL  # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor, nn

from workbench.engines import (
    ONNX_ATOL,
    ONNX_OPSET,
    ONNX_RTOL,
    add_metadata,
    export_graph,
    make_session,
    max_abs_diff,
    outputs_agree,
    quantize_int8,
    require_onnxruntime,
    run_graph,
    torch_logits,
)
from workbench.errors import WorkbenchError

ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
__all__ = ["INT8_NAME", "ONNX_ATOL", "ONNX_NAME", "ONNX_OPSET", "ONNX_RTOL", "export_int8", "export_onnx"]


def export_onnx(model: nn.Module, sample: Tensor, path: str | Path, metadata: dict[str, str] | None = None) -> float:
    """Export the BN-folded eval model to ONNX (legacy TorchScript exporter, dynamic batch),
    add `metadata` (string key/values, e.g. `onnx_metadata(...)`), run `sample` through
    onnxruntime and PyTorch, and keep the file only if they agree.

    Returns the largest absolute difference of the logits.

    Raises:
        WorkbenchError: onnxruntime is missing, or its outputs differ from PyTorch's.
    """
    require_onnxruntime()
    path = Path(path)
    sample = sample.detach().to("cpu").float().contiguous()
    graph = export_graph(model, sample)
    got = run_graph(make_session(graph), sample.numpy())
    want = torch_logits(model, sample)
    diff = max_abs_diff(got, want)
    if not outputs_agree(got, want):
        raise WorkbenchError(f"{path}: ONNX Runtime's outputs differ from PyTorch's (max |diff| {diff:.3g} > "
                             f"atol {ONNX_ATOL:g} + rtol {ONNX_RTOL:g}); the ONNX file was not written")
    _write_atomic(path, add_metadata(graph, metadata) if metadata else graph)
    return diff


def export_int8(graph: bytes, calibration: np.ndarray, path: str | Path,
                metadata: dict[str, str] | None = None) -> bytes:
    """Quantize an exported fp32 `graph` (`export_graph`) to int8 (QDQ, per-channel weights,
    activation ranges from `calibration`), write it to `path` with `metadata`, and return the
    quantized bytes (without the metadata)."""
    require_onnxruntime()
    quantized = quantize_int8(graph, calibration)
    _write_atomic(Path(path), add_metadata(quantized, metadata) if metadata else quantized)
    return quantized


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot be written ({error.strerror or error}); nothing was replaced") \
            from error
    finally:
        tmp.unlink(missing_ok=True)
