"""Measuring models: parameters and MACs (fvcore), latency and peak memory. Never trains."""

from workbench.profiling.counting import CountResult, count_model

__all__ = ["CountResult", "count_model"]
