"""Outputs never overwrite a storage: a file a command writes (an exported config, a report, a
model folder) is refused when it is a study's database or journal, or their lock files, and an
existing file that is not one the workbench wrote is kept unless the user says `--force`.
Commands that write check first that they can: an output folder (`check_writable_folder`), a
study's SQLite or journal file (`check_writable_storage`), before any training."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable
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


def check_output_file(path: str | Path, *, flag: str, force: bool = False,
                      ours: Callable[[Path], bool] | None = None) -> None:
    """Refuse to write `path` (given as `flag`) over a storage file, ever; over another existing
    file unless `ours(path)` says the workbench wrote it or `force` is set.

    Raises:
        WorkbenchError: naming the path and what it is.
    """
    path = Path(path)
    if is_storage_file(path):
        raise WorkbenchError(f"{flag} {path}: that is a study storage (database, journal or lock file); "
                             "it is never overwritten, choose another file")
    if path.is_dir():
        raise WorkbenchError(f"{flag} {path}: is a folder; give a file name")
    if path.exists() and not force and not (ours is not None and ours(path)):
        raise WorkbenchError(f"{flag} {path}: exists and was not written by the workbench; "
                             "pass --force to overwrite it")


def check_output_folder(folder: str | Path, *, flag: str) -> None:
    """Refuse an output folder that is a storage file, or that holds one the command would write
    over (its files are named by the command, so only a storage among them is at risk).

    Raises:
        WorkbenchError: naming the path.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        kind = "a study storage" if is_storage_file(folder) else "a file"
        raise WorkbenchError(f"{flag} {folder}: is {kind}, not a folder")


def check_writable_folder(folder: str | Path, *, flag: str) -> None:
    """Make sure `folder` can take the command's files before any work is done, leaving nothing
    behind: the nearest folder that exists must be a folder that takes a (removed) probe file.

    Raises:
        WorkbenchError: the folder is a file or a storage, lies under a file, or cannot be written.
    """
    folder = Path(folder)
    check_output_folder(folder, flag=flag)
    problem = _unwritable_folder(folder)
    if problem is not None:
        raise WorkbenchError(f"{flag} {folder}: cannot write there ({problem})")


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
    problem = _unwritable_folder(path.parent)
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


def _unwritable_folder(folder: Path) -> str | None:
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
