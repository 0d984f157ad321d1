"""Journal files that an interrupted write never makes unreadable.

Optuna's journal is JSON lines, appended under a file lock. A write cut short (a full disk, a
killed process) leaves a torn last line; Optuna's reader skips it, but the next append would
glue a good line onto it, and from then on every reader refuses the whole journal. So every
append first checks, under the same lock, that the journal ends with a complete line of JSON,
and truncates a torn tail (saying so on stderr in one line) before it writes.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "s.log"
    >>> _ = path.write_bytes(b'{"op_code": 0}\\n{"op_co')
    >>> backend = RepairingJournalBackend(str(path))
    >>> backend.append_logs([{"op_code": 1}])
    >>> path.read_bytes()
    b'{"op_code": 0}\\n{"op_code":1}\\n'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

_CHUNK = 1 << 16


class RepairingJournalBackend(JournalFileBackend):
    """Optuna's `JournalFileBackend` (same file format, same symlink lock) whose appends first
    truncate a torn last line left by an interrupted writer."""

    def __init__(self, file_path: str) -> None:
        self._journal_lock = JournalFileSymlinkLock(file_path)  # Optuna's default lock, held by us too
        self._journal_path = file_path
        super().__init__(file_path, lock_obj=self._journal_lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append `logs` as JSON lines, after cutting off a torn last line (under the lock)."""
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        self._journal_lock.acquire()
        try:
            repair_torn_tail(Path(self._journal_path))
            with open(self._journal_path, "ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            self._journal_lock.release()


def repair_torn_tail(path: Path) -> int:
    """Truncate the journal at `path` after its last complete line of JSON when what follows is
    a torn line (no newline, or not JSON); return the bytes removed (0 when it ends cleanly).
    Call it only while holding the journal's lock: a live writer's line is never torn then."""
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = _torn_line_start(handle, size)
        if start is None:
            return 0
        handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())
    print(f"journal {path}: removed a torn last line ({size - start} bytes left by an interrupted write) "
          "before appending", file=sys.stderr, flush=True)
    return size - start


def _torn_line_start(handle: Any, size: int) -> int | None:
    """Where the last line starts when it is torn, or None when the file is empty or its last
    line is complete JSON."""
    if size == 0:
        return None
    handle.seek(size - 1)
    complete = handle.read(1) == b"\n"
    start = _line_start(handle, size - 1 if complete else size)
    if not complete:
        return start
    handle.seek(start)
    try:
        json.loads(handle.read(size - start))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return start
    return None


def _line_start(handle: Any, end: int) -> int:
    """The offset just after the last newline before `end` (0 when there is none)."""
    position = end
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        handle.seek(position)
        found = handle.read(step).rfind(b"\n")
        if found >= 0:
            return position + found + 1
    return 0
