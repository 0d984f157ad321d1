"""Refuse a dataset that would not fit in memory before allocating it."""

from __future__ import annotations

import os

from workbench.errors import WorkbenchError

# Headroom for the model, optimizer state and the interpreter: never plan to use it all.
_USABLE_FRACTION = 0.8


def available_memory_bytes() -> int | None:
    """Bytes the kernel says a new allocation can get (MemAvailable), or None if unknown.

    Example:
        >>> (available_memory_bytes() or 1) > 0
        True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(required_bytes: int, what: str, available: int | None = None) -> None:
    """Raise `WorkbenchError` when `required_bytes` exceeds the usable free memory.

    Example:
        >>> check_fits(1024, "tiny dataset")
    """
    available = available_memory_bytes() if available is None else available
    if available is not None and required_bytes > _USABLE_FRACTION * available:
        raise WorkbenchError(
            f"{what} needs about {required_bytes / 2**30:.2f} GiB as float32 tensors but only "
            f"{available / 2**30:.2f} GiB of memory is available (use a smaller --input-size or a subset)"
        )


def float_tensor_bytes(count: int, channels: int, size: int) -> int:
    """Bytes of `count` float32 images of `channels` x `size` x `size`."""
    return count * channels * size * size * 4
