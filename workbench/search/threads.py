"""How many cores a search may use, and the torch threads each of its processes trains with."""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_torch_threads(threads: int) -> None:
    """Set torch's intra-op and inter-op threads. Several threads fight any other busy process
    for the cores (the OpenMP thread trap); the small networks of a search gain more from one
    thread per worker and one worker per core."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # this process already ran inter-op work (an in-process worker); it keeps its pool
        pass
