"""fvcore op handles for the operators fvcore skips but Ghost networks run.

The shortcut add, the squeeze-excite multiply and the hard-sigmoid gate (add, relu6 or
hardtanh, div) each cost one operation per output element. Max/average pooling follows
fvcore's own `adaptive_avg_pool2d` convention: one per input element. `cat`, `slice`,
`relu`, `clamp` and `dropout` are already free in fvcore (its ignore list).
"""

from __future__ import annotations

from typing import Any, Callable

from fvcore.nn.jit_handles import elementwise_flop_counter

Handle = Callable[[list[Any], list[Any]], int]

# fvcore's own public handle factory: input_scale * numel(first input) + output_scale * numel(first output).
# One operation per element of the first output (broadcasts count once per result).
per_output_element: Handle = elementwise_flop_counter(0, 1)
# One operation per element of the first input (pooling windows).
per_input_element: Handle = elementwise_flop_counter(1, 0)


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
