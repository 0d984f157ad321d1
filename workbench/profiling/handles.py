"""fvcore op handles for the operators fvcore skips but Ghost networks run.

The shortcut add, the squeeze-excite multiply and the hard-sigmoid gate (add, relu6 or
hardtanh, div) each cost one operation per output element. Max/average pooling follows
fvcore's own `adaptive_avg_pool2d` convention: one per input element. `cat`, `slice`,
`relu`, `clamp` and `dropout` are already free in fvcore (its ignore list).
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable

from fvcore.nn.jit_handles import get_shape

Handle = Callable[[list[Any], list[Any]], int]


def _numel(value: Any) -> int:
    shape = get_shape(value)
    return int(prod(shape)) if shape is not None else 0


def per_output_element(inputs: list[Any], outputs: list[Any]) -> int:
    """One operation per element of the first output (broadcasts count once per result).

    Example:
        >>> import torch
        >>> graph = torch.jit.trace(lambda a, b: a + b, (torch.ones(2, 3), torch.ones(2, 3))).graph
        >>> add = next(n for n in graph.nodes() if n.kind() == "aten::add")
        >>> per_output_element(list(add.inputs()), list(add.outputs()))
        6
    """
    return _numel(outputs[0])


def per_input_element(inputs: list[Any], outputs: list[Any]) -> int:
    """One operation per element of the first input (pooling windows)."""
    return _numel(inputs[0])


ELEMENTWISE_OPS = (
    "aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::mul", "aten::mul_",
    "aten::div", "aten::div_", "aten::relu6", "aten::relu6_", "aten::hardtanh", "aten::hardtanh_",
    "aten::hardsigmoid", "aten::hardsigmoid_", "aten::hardswish", "aten::hardswish_",
    "aten::sigmoid", "aten::sigmoid_",
)
POOLING_OPS = ("aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_max_pool2d")

EXTRA_FLOP_HANDLES: dict[str, Handle] = {
    **{op: per_output_element for op in ELEMENTWISE_OPS},
    **{op: per_input_element for op in POOLING_OPS},
}
