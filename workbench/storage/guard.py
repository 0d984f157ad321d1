"""What is a storage, and can it be written: `is_storage_file` tells a study's database, journal
or lock file (which `workbench.outputs` never lets a command write over), and commands that
write a study check first that they can (`check_writable_storage`, `unwritable_folder`),
before any training."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import parse_qs

from workbench.errors import WorkbenchError
from workbench.storage.urls import journal_path, sqlite_path

_SQLITE_MAGIC = b"SQLite format 3\x00"
_LOCK_SUFFIXES = (".workbench.lock", ".workbench.run")


def is_storage_file(path: str | Path) -> bool:
    """True for a SQLite database, an Optuna journal file, or a workbench lock file.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.db").write_bytes(b"SQLite format 3\\x00" + bytes(84))
        >>> _ = (folder / "a.log").write_text('{"op_code": 0, "worker_id": "w"}\\n')
        >>> _ = (folder / "a.yaml").write_text("arch: {}\\n")
        >>> [is_storage_file(folder / n) for n in ("a.db", "a.log", "a.yaml", "a.db.workbench.lock", "none")]
        [True, True, False, True, False]
    """
    path = Path(path)
    if path.name.endswith(_LOCK_SUFFIXES):
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(_SQLITE_MAGIC):
        return True
    first = head.split(b"\n", 1)[0]
    try:
        record = json.loads(first)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(record, dict) and "op_code" in record


def check_writable_storage(url: str) -> None:
    """Make sure a command that writes a study (a search, a confirmation) can write its SQLite or
    journal file before any work is done, touching nothing: the URL does not ask for read-only
    access, the file's folder exists or can be made and takes files (its lock files live there),
    and the file and its lock files, where they exist, open for writing. Database servers answer
    their first write instead (`workbench.storage.storage_errors`).

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> check_writable_storage(f"sqlite:///{folder}/new/s.db")
        >>> _ = (folder / "a-file").write_text("x")
        >>> try:
        ...     check_writable_storage(str(folder / "a-file" / "s.log"))
        ... except WorkbenchError as error:
        ...     print(str(error).replace(str(folder), "F"))
        storage 'F/a-file/s.log': cannot write there (F/a-file is a file, not a folder)

    Raises:
        WorkbenchError: naming the storage and why it cannot be written, on EACCES, EPERM, EROFS alike.
    """
    path = sqlite_path(url) or journal_path(url)
    if path is None:
        return
    where = f"storage '{url}'"
    if _asks_read_only(url):
        raise WorkbenchError(f"{where} is read-only (the URL asks for mode=ro or immutable=1)")
    if path.is_dir():
        raise WorkbenchError(f"{where}: {path} is a folder, not a database or journal file")
    problem = unwritable_folder(path.parent)
    if problem is not None:
        raise WorkbenchError(f"{where}: cannot write there ({problem})")
    for file in (path, *(Path(f"{path}{suffix}") for suffix in _LOCK_SUFFIXES)):
        try:
            if file.exists():
                os.close(os.open(file, os.O_WRONLY | os.O_APPEND))  # opens for writing, writes nothing
        except OSError as error:
            raise WorkbenchError(f"{where}: {file} cannot be written ({error.strerror or error})") from None


def _asks_read_only(url: str) -> bool:
    """A SQLite URI filename that opens the database read-only (`?mode=ro`, `?immutable=1`)."""
    query = parse_qs(url.split("?", 1)[1]) if "?" in url else {}
    return "ro" in query.get("mode", []) or "1" in query.get("immutable", [])


def unwritable_folder(folder: Path) -> str | None:
    """Why files cannot be made in `folder` (or in the folders it would take), or None: the
    nearest folder that exists must be a folder that takes a probe file (removed at once)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".workbench-probe-"):
            pass
    except OSError as error:
        return f"folder {existing}: {error.strerror or error}"
    return None
