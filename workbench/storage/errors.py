"""Storage failures a user can act on, turned into one line (`WorkbenchError`, exit 2).

A read-only file, a directory the database cannot be written in, a database locked by another
program, or a server that went away surface from SQLAlchemy and Optuna as long tracebacks
ending in messages such as "invalid data in the commit"; `storage_errors(url)` names the
storage and the likely cause instead. Nothing already stored is touched.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from workbench.errors import WorkbenchError

# Fragments of driver messages, and what to tell the user about each.
_CAUSES = (
    ("readonly", "is read-only (check the file's and its folder's permissions)"),
    ("read-only", "is read-only (check the file's and its folder's permissions)"),
    ("unable to open database", "cannot be opened for writing (check the folder exists and is writable)"),
    ("database is locked", "is locked by another program; wait for it or use another --storage"),
    ("permission denied", "cannot be written (permission denied)"),
    ("operation not permitted", "cannot be written (operation not permitted: an immutable file or folder?)"),
    ("read-only file system", "cannot be written (a read-only file system)"),
    ("disk i/o error", "cannot be written (disk I/O error: full disk or a read-only mount?)"),
)


def describe_storage_error(url: str, error: BaseException) -> str | None:
    """The one-line explanation of a storage failure, or None when it is not one we know."""
    texts = []
    current: BaseException | None = error
    while current is not None and len(texts) < 6:  # the driver's message hides in the cause chain
        texts.append(str(current).lower())
        current = current.__cause__ or current.__context__
    joined = " ".join(texts)
    for fragment, cause in _CAUSES:
        if fragment in joined:
            return f"storage '{url}' {cause}"
    return None


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Re-raise known storage failures inside the block as `WorkbenchError` naming `url`."""
    try:
        yield
    except WorkbenchError:
        raise
    except Exception as error:  # noqa: BLE001 - filtered by message below; anything else propagates
        message = describe_storage_error(url, error)
        if message is None:
            raise
        raise WorkbenchError(message) from error
