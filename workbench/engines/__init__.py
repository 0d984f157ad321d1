"""Deployment engines: the ONNX graph a model ships as, ONNX Runtime sessions, and int8 static
quantization. Pure functions over a torch model or ONNX bytes; nothing here trains, times or
touches Optuna. The profiler times these graphs, `workbench train --onnx` writes them.

onnx and onnxruntime are main dependencies (the engine users deploy with) but are imported on
use, so a broken install is one line naming the install command (`require_onnxruntime`).
"""

from workbench.engines.onnx_graph import (
    ONNX_ATOL,
    ONNX_OPSET,
    ONNX_RTOL,
    add_metadata,
    export_graph,
    max_abs_diff,
    outputs_agree,
    torch_logits,
)
from workbench.engines.ort import ORT_INSTALL, make_session, ort_facts, require_onnxruntime, run_graph
from workbench.engines.quantize import (
    INT8_DEVICES,
    QUANTIZATION,
    QuantSettings,
    quantization_for,
    quantization_for_cpu,
    quantize_int8,
)

__all__ = [
    "INT8_DEVICES",
    "ONNX_ATOL",
    "ONNX_OPSET",
    "ONNX_RTOL",
    "ORT_INSTALL",
    "QUANTIZATION",
    "QuantSettings",
    "add_metadata",
    "export_graph",
    "make_session",
    "max_abs_diff",
    "ort_facts",
    "outputs_agree",
    "quantization_for",
    "quantization_for_cpu",
    "quantize_int8",
    "require_onnxruntime",
    "run_graph",
    "torch_logits",
]
