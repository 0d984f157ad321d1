"""The torch threads each process of a search trains with (the cores it may use are
`profiling.hostfacts.usable_cores`)."""

from __future__ import annotations

import torch


def set_torch_threads(threads: int) -> None:
    """Set torch's intra-op and inter-op threads. Several threads fight any other busy process
    for the cores (the OpenMP thread trap); the small networks of a search gain more from one
    thread per worker and one worker per core."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # this process already ran inter-op work (an in-process worker); it keeps its pool
        pass
