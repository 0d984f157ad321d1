"""Measuring models: parameters, MACs and FLOPs (fvcore), latency and peak memory. Never trains.

`profile_arch(arch, protocol)` is the one-call entry point; `count_model` and
`measure_latency` are its parts.
"""

from workbench.profiling.counting import (
    CountResult,
    check_input_size,
    count_inputs,
    count_model,
    count_params,
    example_input,
)
from workbench.profiling.crosscheck import CrossCheck, cross_check
from workbench.profiling.latency import LatencyResult, measure_latency
from workbench.profiling.memory import peak_memory
from workbench.profiling.profile import ProfileResult, profile_arch
from workbench.profiling.protocol import LatencyProtocol
from workbench.profiling.timing import TimingStats, summarize

__all__ = [
    "CountResult",
    "CrossCheck",
    "LatencyProtocol",
    "LatencyResult",
    "ProfileResult",
    "TimingStats",
    "check_input_size",
    "count_inputs",
    "count_model",
    "count_params",
    "cross_check",
    "example_input",
    "measure_latency",
    "peak_memory",
    "profile_arch",
    "summarize",
]
