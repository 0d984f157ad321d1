"""The int8 model's accuracy: the trained model's ONNX graph, quantized with ONNX Runtime's
static quantization, run by ONNX Runtime on the validation split, against the fp32 graph on the
same images. The drop carries a paired interval (`stats.paired_difference_interval`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch import Tensor

from workbench.engines import make_session, run_graph
from workbench.stats import paired_difference_interval, wilson_interval


def int8_accuracy(fp32_graph: bytes, int8_graph: bytes, val_x: Tensor, val_y: Tensor, *,
                  threads: int = 1) -> dict[str, Any]:
    """The record's int8 figures: int8 and fp32 accuracy (both in ONNX Runtime) on `val_x`,
    the int8 Wilson interval and the drop (fp32 - int8) with its paired 95% interval.

    Example:
        >>> import torch
        >>> from workbench.engines import export_graph, quantize_int8
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
        >>> x, y = torch.randn(40, 1, 2, 2), torch.randint(0, 3, (40,))
        >>> graph = export_graph(model, x[:1])
        >>> figures = int8_accuracy(graph, quantize_int8(graph, x.numpy()), x, y)
        >>> figures["val_size"], figures["ci_low"] <= figures["accuracy"] <= figures["ci_high"]
        (40, True)
    """
    started = time.perf_counter()
    images = np.ascontiguousarray(val_x.detach().float().cpu().contiguous().numpy())
    labels = val_y.detach().cpu().numpy()
    right_fp32 = _correct(make_session(fp32_graph, threads), images, labels)
    right_int8 = _correct(make_session(int8_graph, threads), images, labels)
    n = int(len(labels))
    accuracy = float(right_int8.mean()) if n else float("nan")
    low, high = wilson_interval(accuracy, n)
    drop, drop_low, drop_high = paired_difference_interval(int((right_fp32 & ~right_int8).sum()),
                                                           int((right_int8 & ~right_fp32).sum()), n)
    return {
        "available": True, "reason": None, "accuracy": accuracy, "ci_low": low, "ci_high": high,
        "fp32_accuracy": float(right_fp32.mean()) if n else float("nan"), "drop": drop,
        "drop_ci_low": drop_low, "drop_ci_high": drop_high, "val_size": n,
        "seconds": time.perf_counter() - started,
    }


def unavailable(reason: str) -> dict[str, Any]:
    """An int8 record that says why there is no int8 accuracy."""
    return {"available": False, "reason": reason}


def _correct(session: Any, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return run_graph(session, images).argmax(axis=1) == labels


