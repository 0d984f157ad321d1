"""The int8 model's accuracy, twice: the trained model's ONNX graph quantized with ONNX Runtime's
static quantization, run by ONNX Runtime on the validation split

- with the QDQ graph's own arithmetic (graph optimisations off: every QuantizeLinear and
  DequantizeLinear runs as written), which any correct int8 engine computes, whatever its CPU:
  this is the model's int8 accuracy, the one the record, summary, dashboard and report show;
- with this host's int8 kernels (optimisations on: fused QLinear kernels), what this machine
  computes. Its kernels may differ (x86 without VNNI saturates u8 x s8 products unless the file
  was quantized with `reduce_range`), so the gap between the two is recorded with its paired
  interval and `host_agrees` says whether the interval holds 0.

The fp32 graph runs on the same images, and the drop (fp32 - int8) carries a paired interval
(`stats.paired_difference_interval`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch import Tensor

from workbench.engines import make_session, run_graph
from workbench.profiling.hostfacts import host_isa
from workbench.profiling.window import host_window
from workbench.stats import paired_difference_interval, wilson_interval


def int8_accuracy(fp32_graph: bytes, int8_graph: bytes, val_x: Tensor, val_y: Tensor, *,
                  threads: int = 1) -> dict[str, Any]:
    """The record's int8 figures on `val_x`: the QDQ graph's accuracy (`accuracy`, Wilson
    interval), the fp32 accuracy and the drop (fp32 - int8, paired 95% interval), the host
    kernels' accuracy (`host_accuracy`) and its gap from the QDQ figure (host - QDQ, paired
    interval; `host_agrees` when that interval holds 0), and the host's instruction-set facts.

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
    with host_window().compute():
        right_fp32 = _correct(make_session(fp32_graph, threads), images, labels)
        right_qdq = _correct(make_session(int8_graph, threads, optimization="disable"), images, labels)
        right_host = _correct(make_session(int8_graph, threads), images, labels)
    n = int(len(labels))
    accuracy = _share(right_qdq)
    host = _share(right_host)
    low, high = wilson_interval(accuracy, n)
    host_low, host_high = wilson_interval(host, n)
    drop, drop_low, drop_high = _paired(right_fp32, right_qdq, n)
    gap, gap_low, gap_high = _paired(right_host, right_qdq, n)
    return {
        "available": True, "reason": None, "accuracy": accuracy, "ci_low": low, "ci_high": high,
        "fp32_accuracy": _share(right_fp32), "drop": drop, "drop_ci_low": drop_low, "drop_ci_high": drop_high,
        "host_accuracy": host, "host_ci_low": host_low, "host_ci_high": host_high,
        "host_gap": gap, "host_gap_ci_low": gap_low, "host_gap_ci_high": gap_high,
        "host_agrees": bool(gap_low <= 0.0 <= gap_high), "host_isa": host_isa().to_dict(),
        "val_size": n, "seconds": time.perf_counter() - started,
    }


def _share(right: np.ndarray) -> float:
    return float(right.mean()) if len(right) else float("nan")


def _paired(first: np.ndarray, second: np.ndarray, n: int) -> tuple[float, float, float]:
    """(first - second) accuracy on the same images, with its paired interval."""
    return paired_difference_interval(int((first & ~second).sum()), int((second & ~first).sum()), n)


def unavailable(reason: str) -> dict[str, Any]:
    """An int8 record that says why there is no int8 accuracy."""
    return {"available": False, "reason": reason}


def _correct(session: Any, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return run_graph(session, images).argmax(axis=1) == labels


