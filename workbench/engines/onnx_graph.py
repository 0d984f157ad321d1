"""The ONNX graph a model ships as: the BN-folded eval model, exported in memory with a dynamic
batch axis, and the comparison of an engine's outputs with PyTorch's."""

from __future__ import annotations

import copy
import io
import math
import warnings

import numpy as np
import torch
from torch import Tensor, nn

from workbench.models import fold_batchnorm

ONNX_OPSET = 17
# An engine's fp32 logits vs PyTorch's on the same batch: |a - b| <= ONNX_ATOL + ONNX_RTOL * |b|.
ONNX_ATOL, ONNX_RTOL = 1e-4, 1e-3
INPUT_NAME, OUTPUT_NAME = "images", "logits"


def export_graph(model: nn.Module, sample: Tensor, opset: int = ONNX_OPSET) -> bytes:
    """The BN-folded eval copy of `model` as ONNX bytes (input `images`, output `logits`,
    dynamic batch). `model` itself is left as it was.

    Example:
        >>> graph = export_graph(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), torch.randn(1, 3, 8, 8))
        >>> graph[:2] == b"\\x08\\x08" or len(graph) > 100
        True
    """
    deployed = fold_batchnorm(model).to("cpu").float().to(memory_format=torch.contiguous_format)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # torch >= 2.9 defaults to the torch.export-based exporter, which needs onnxscript and
        # takes seconds; the TorchScript exporter handles these static CNNs in a fraction of that.
        torch.onnx.export(deployed, (sample.detach().to("cpu").float().contiguous(),), buffer, dynamo=False,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=opset)
    return buffer.getvalue()


def add_metadata(graph: bytes, metadata: dict[str, str]) -> bytes:
    """`graph` with string key/values added to its metadata (the preprocessing, the classes)."""
    import onnx

    proto = onnx.load_from_string(graph)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def torch_logits(model: nn.Module, sample: Tensor) -> np.ndarray:
    """PyTorch's logits of an fp32 CPU eval copy of `model` (the reference an engine is checked against)."""
    clone = copy.deepcopy(model).to("cpu").float().to(memory_format=torch.contiguous_format).eval()
    with torch.no_grad():
        return clone(sample.detach().to("cpu").float().contiguous()).numpy()


def max_abs_diff(got: np.ndarray, want: np.ndarray) -> float:
    """The largest absolute difference (inf when the shapes differ).

    Example:
        >>> max_abs_diff(np.array([1.0, 2.0]), np.array([1.0, 2.5])), max_abs_diff(np.zeros(2), np.zeros(3))
        (0.5, inf)
    """
    return float(np.max(np.abs(got - want))) if got.shape == want.shape else math.inf


def outputs_agree(got: np.ndarray, want: np.ndarray) -> bool:
    """True when an engine's logits match PyTorch's within `ONNX_ATOL` + `ONNX_RTOL`.

    Example:
        >>> outputs_agree(np.array([1.0]), np.array([1.00005])), outputs_agree(np.array([1.0]), np.array([1.1]))
        (True, False)
    """
    return got.shape == want.shape and bool(np.allclose(got, want, atol=ONNX_ATOL, rtol=ONNX_RTOL))
