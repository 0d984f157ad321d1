"""ONNX Runtime sessions under a stated protocol: the CPU execution provider, explicit intra-op
threads, one inter-op thread, sequential execution and a named graph-optimisation level."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError

ORT_INSTALL = "pip install onnx onnxruntime"
PROVIDER = "CPUExecutionProvider"
# What a space may write as `graph_optimization`, and ONNX Runtime's level for each.
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def require_onnxruntime() -> ModuleType:
    """The `onnxruntime` module, or one line naming the install command.

    Raises:
        WorkbenchError: onnx or onnxruntime cannot be imported.
    """
    try:
        import onnx  # noqa: F401 - export and quantization need it too
        import onnxruntime
    except ImportError as error:
        raise WorkbenchError(f"the onnxruntime engine needs onnx and onnxruntime ({error.name} is missing): "
                             f"{ORT_INSTALL}") from None
    return onnxruntime


def make_session(graph: bytes, threads: int = 1, optimization: str = "all") -> Any:
    """An `InferenceSession` over `graph` on the CPU provider with `threads` intra-op threads,
    sequential execution and the graph-optimisation level `optimization`.

    Example:
        >>> import torch
        >>> from workbench.engines.onnx_graph import export_graph
        >>> session = make_session(export_graph(torch.nn.Conv2d(1, 2, 3), torch.randn(1, 1, 5, 5)))
        >>> session.get_providers()
        ['CPUExecutionProvider']
    """
    ort = require_onnxruntime()
    if optimization not in OPTIMIZATION_LEVELS:
        raise WorkbenchError(f"graph_optimization '{optimization}' is not one of: {', '.join(OPTIMIZATION_LEVELS)}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    options.log_severity_level = 3  # warnings about unused initializers are not the user's business
    return ort.InferenceSession(graph, sess_options=options, providers=[PROVIDER])


def run_graph(session: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The session's logits for `images` (N, C, H, W float32), run `batch_size` at a time."""
    name = session.get_inputs()[0].name
    images = np.ascontiguousarray(images, dtype=np.float32)
    parts = [session.run(None, {name: images[start:start + batch_size]})[0]
             for start in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,), dtype=np.float32)


def ort_facts(session: Any) -> dict[str, Any]:
    """The engine facts recorded with every ORT figure: version and execution providers."""
    ort = require_onnxruntime()
    return {"engine_version": ort.__version__, "execution_provider": session.get_providers()[0]}
