"""The one exception type that means "the user asked for something wrong".

The CLI turns a :class:`WorkbenchError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A user mistake: bad input, a missing file, an unknown name, an unreachable storage.

    The message is a single line that says what is wrong and where, and, when there is a
    closed set of valid answers, what they are.
    """

    exit_code = 2
