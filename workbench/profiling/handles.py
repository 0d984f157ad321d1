"""fvcore op handles: fvcore's own default tables, and ours for the operators it skips.

`FVCORE_FLOP_HANDLES` and `FVCORE_ACTIVATION_HANDLES` are the handle tables that
`FlopCountAnalysis` and `ActivationCountAnalysis` install. fvcore keeps them private
(`_DEFAULT_SUPPORTED_OPS` of `fvcore.nn.flop_count` and `fvcore.nn.activation_count`) and offers
no public way to get them; `counting.py` needs them because it runs one `JitModelAnalysis`
with both tables instead of tracing the model twice. This module is the only place that
names the private tables, so an fvcore upgrade that moves them breaks here, and
`tests/test_fvcore_contract.py` says so loudly (it checks the names and the handles we rely
on, `RELIED_ON_FLOP_OPS` and `RELIED_ON_ACTIVATION_OPS`).

Ours, for the operators fvcore skips but Ghost networks run:

The shortcut add, the squeeze-excite multiply and the hard-sigmoid gate (add, relu6 or
hardtanh, div) each cost one operation per output element. Max/average pooling follows
fvcore's own `adaptive_avg_pool2d` convention: one per input element. `cat`, `slice`,
`relu`, `clamp` and `dropout` are already free in fvcore (its ignore list).
"""

from __future__ import annotations

from typing import Any, Callable

from fvcore.nn.activation_count import _DEFAULT_SUPPORTED_OPS as _FVCORE_ACTIVATION_DEFAULTS
from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as _FVCORE_FLOP_DEFAULTS
from fvcore.nn.jit_handles import elementwise_flop_counter

Handle = Callable[[list[Any], list[Any]], int]

# Copies, so that no caller can change fvcore's own tables.
FVCORE_FLOP_HANDLES: dict[str, Handle] = dict(_FVCORE_FLOP_DEFAULTS)
FVCORE_ACTIVATION_HANDLES: dict[str, Handle] = dict(_FVCORE_ACTIVATION_DEFAULTS)
# What our MACs, FLOPs and activations of Ghost networks and the plain references count on.
RELIED_ON_FLOP_OPS = ("aten::_convolution", "aten::addmm", "aten::linear", "aten::matmul", "aten::batch_norm",
                      "aten::adaptive_avg_pool2d", "aten::upsample_nearest2d", "aten::upsample_bilinear2d")
RELIED_ON_ACTIVATION_OPS = ("aten::_convolution", "aten::addmm", "aten::linear")

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
