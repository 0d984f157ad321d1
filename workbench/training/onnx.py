"""ONNX export of a trained model, kept only when onnxruntime agrees with PyTorch.

The exported graph is the BN-folded eval model with a dynamic batch axis; the preprocessing
and class names travel in its metadata (`workbench.data.preprocessing.onnx_metadata`).
onnx and onnxruntime are optional (`pip install 'workbench[onnx]'`) and imported on use.

Example:
    >>> from torch import nn
    >>> export_onnx(nn.Conv2d(3, 4, 3), torch.randn(2, 3, 8, 8), "m.onnx") < ONNX_ATOL  # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from workbench.errors import WorkbenchError
from workbench.models import fold_batchnorm

ONNX_NAME = "model.onnx"
# ONNX Runtime vs PyTorch on the same batch: |a - b| <= ONNX_ATOL + ONNX_RTOL * |b|.
ONNX_ATOL, ONNX_RTOL = 1e-4, 1e-3
ONNX_OPSET = 17


def export_onnx(model: nn.Module, sample: Tensor, path: str | Path, metadata: dict[str, str] | None = None) -> float:
    """Export the BN-folded eval model to ONNX (legacy TorchScript exporter, dynamic batch),
    add `metadata` (string key/values, e.g. `onnx_metadata(...)`), run `sample` through
    onnxruntime and PyTorch, and keep the file only if they agree.

    Returns the largest absolute difference of the logits.

    Raises:
        WorkbenchError: onnxruntime is missing, or its outputs differ from PyTorch's.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise WorkbenchError("--onnx needs onnx and onnxruntime (pip install 'workbench[onnx]')") from None
    path = Path(path)
    deployed = fold_batchnorm(model).to("cpu").float().to(memory_format=torch.contiguous_format)
    reference_model = _cpu_eval_copy(model)
    sample = sample.contiguous()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # torch >= 2.9 defaults to the torch.export-based exporter, which needs onnxscript;
            # the TorchScript exporter handles these static CNNs and needs nothing more.
            torch.onnx.export(deployed, (sample,), str(tmp), dynamo=False, input_names=["images"],
                              output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=ONNX_OPSET)
        if metadata:
            _add_onnx_metadata(tmp, metadata)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": sample.numpy()})[0]
        with torch.no_grad():
            want = reference_model(sample).numpy()
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else math.inf
        if not (got.shape == want.shape and np.allclose(got, want, atol=ONNX_ATOL, rtol=ONNX_RTOL)):
            raise WorkbenchError(f"{path}: ONNX Runtime's outputs differ from PyTorch's (max |diff| {diff:.3g} > "
                                 f"atol {ONNX_ATOL:g} + rtol {ONNX_RTOL:g}); the ONNX file was not written")
        tmp.replace(path)
        return diff
    finally:
        tmp.unlink(missing_ok=True)


def _add_onnx_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _cpu_eval_copy(model: nn.Module) -> nn.Module:
    clone = copy.deepcopy(model).to("cpu").float().to(memory_format=torch.contiguous_format)
    return clone.eval()
