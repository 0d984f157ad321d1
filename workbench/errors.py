"""The one exception type that means "the user asked for something wrong".

The CLI turns a :class:`WorkbenchError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback. `is_out_of_memory` tells a failure that a
smaller request avoids (a batch size, a model) from a bug.
"""

from __future__ import annotations

import errno

# A write the disk refused (full, over quota or the file size limit, read-only): the machine's
# state, not a bug.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class WorkbenchError(Exception):
    """A user mistake: bad input, a missing file, an unknown name, an unreachable storage.

    The message is a single line that says what is wrong and where, and, when there is a
    closed set of valid answers, what they are.
    """

    exit_code = 2


def is_out_of_memory(error: BaseException) -> bool:
    """True for running out of memory: Python's `MemoryError`, torch's `OutOfMemoryError` (CUDA),
    and the RuntimeErrors of its CPU and other allocators ("out of memory", "can't allocate memory").

    Example:
        >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to ..."))
        True
        >>> is_out_of_memory(RuntimeError("shapes cannot be multiplied"))
        False
    """
    text = str(error).lower()
    return (isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"
            or "out of memory" in text or "can't allocate memory" in text)


def is_disk_refusal(error: BaseException) -> bool:
    """True for an OSError whose write the disk refused (`DISK_ERRNOS`).

    Example:
        >>> is_disk_refusal(OSError(errno.ENOSPC, "No space left on device")), is_disk_refusal(OSError(2, "gone"))
        (True, False)
    """
    return isinstance(error, OSError) and error.errno in DISK_ERRNOS
