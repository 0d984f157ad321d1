"""Writers never replace what is not theirs: the one rule for every file a command writes.

A path may be written when nothing is there, when the workbench wrote what is there (its folder's
`.workbench-outputs.json` lists the file with the SHA-256 of the bytes it wrote, or the command
recognises its own kind of file), or when the user said `--force`. A study storage (database,
journal, lock file) is never written over, `--force` or not. Every writer calls `check_output`
(or `check_outputs` for a folder of named files) before any work and `claim` after each write.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_output(folder / "model.pt", flag="--out")          # nothing there yet
    >>> _ = (folder / "model.pt").write_text("the user's own file")
    >>> try:
    ...     check_output(folder / "model.pt", flag="--out")
    ... except WorkbenchError as error:
    ...     print(str(error).replace(str(folder), "F"))
    --out F/model.pt: exists and was not written by the workbench; --force overwrites it
    >>> claim(folder / "model.pt")                                # as if the workbench had written it
    >>> check_output(folder / "model.pt", flag="--out")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterable

from workbench.config.io import write_text_atomic
from workbench.errors import WorkbenchError
from workbench.storage.guard import is_storage_file, unwritable_folder

MANIFEST = ".workbench-outputs.json"
_CHUNK = 1 << 20


def check_output(path: str | Path, *, flag: str, force: bool = False,
                 ours: Callable[[Path], bool] | None = None, force_flag: str | None = "--force") -> None:
    """Refuse to write `path` (given as `flag`) unless it may be written: it does not exist, the
    workbench wrote it (`is_ours`, or the command's own recogniser `ours`), or `force` is set.
    A study storage is refused even with `force`; `force_flag=None` for a command without one.

    Raises:
        WorkbenchError: one line naming the path and why, and the flag that overwrites it.
    """
    path = Path(path)
    if _is_storage(path):
        raise WorkbenchError(f"{flag} {path}: that is a study storage (database, journal or lock file); "
                             "it is never overwritten, choose another file")
    if path.is_dir():
        raise WorkbenchError(f"{flag} {path}: is a folder; give a file name")
    if not path.exists() and not path.is_symlink():
        return
    if (force and force_flag) or is_ours(path) or (ours is not None and _safely(ours, path)):
        return
    how = f"{force_flag} overwrites it" if force_flag else "choose another path"
    raise WorkbenchError(f"{flag} {path}: exists and was not written by the workbench; {how}")


def check_outputs(folder: str | Path, names: Iterable[str], *, flag: str, force: bool = False) -> None:
    """`check_output` for each file `names` a command writes into `folder`; the folder itself
    must be a folder (or not exist yet). Other files in it are not at risk and not looked at.

    Raises:
        WorkbenchError: the folder is a file or a storage, or one of the files may not be written.
    """
    folder = Path(folder)
    check_output_folder(folder, flag=flag)
    for name in names:
        check_output(folder / name, flag=flag, force=force)


def check_output_folder(folder: str | Path, *, flag: str) -> None:
    """Refuse an output folder that is a file (a storage among them).

    Raises:
        WorkbenchError: naming the path and what it is.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        kind = "a study storage" if _is_storage(folder) else "a file"
        raise WorkbenchError(f"{flag} {folder}: is {kind}, not a folder")


def check_new_folder(folder: str | Path, *, flag: str) -> None:
    """Refuse a folder a command fills as a whole unless it does not exist or is empty.

    Raises:
        WorkbenchError: the path is a file, a storage or a folder with something in it.
    """
    folder = Path(folder)
    check_output_folder(folder, flag=flag)
    if folder.is_dir() and any(folder.iterdir()):
        raise WorkbenchError(f"{flag} {folder}: exists and holds files; give a new or empty folder")


def check_writable_folder(folder: str | Path, *, flag: str) -> None:
    """Make sure `folder` can take the command's files before any work is done, leaving nothing
    behind: the nearest folder that exists must be a folder that takes a (removed) probe file.

    Raises:
        WorkbenchError: the folder is a file or a storage, lies under a file, or cannot be written.
    """
    folder = Path(folder)
    check_output_folder(folder, flag=flag)
    problem = unwritable_folder(folder)
    if problem is not None:
        raise WorkbenchError(f"{flag} {folder}: cannot write there ({problem})")


def claim(path: str | Path) -> None:
    """Record in the folder's manifest that the workbench just wrote `path` (its SHA-256), so a
    later run may write it again without `--force`. Call it after the file is complete."""
    path = Path(path)
    files = _manifest(path.parent)
    files[path.name] = _sha256(path)
    write_text_atomic(path.parent / MANIFEST, json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")


def is_ours(path: str | Path) -> bool:
    """True when the folder's manifest lists `path` with the SHA-256 of its present bytes: a file
    the user replaced or edited since is no longer the workbench's."""
    path = Path(path)
    recorded = _manifest(path.parent).get(path.name)
    return recorded is not None and path.is_file() and _safely(lambda p: _sha256(p) == recorded, path)


def _manifest(folder: Path) -> dict[str, str]:
    """The manifest's `name -> sha256` entries; an unreadable or foreign manifest counts as empty."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(files, dict) \
        else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_storage(path: Path) -> bool:
    """`is_storage_file`, where a file that cannot be read is refused rather than guessed at."""
    try:
        return is_storage_file(path)
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot be read to tell whether it is a study storage "
                             f"({error.strerror or error}); choose another path") from None


def _safely(test: Callable[[Path], bool], path: Path) -> bool:
    """`test(path)`, False when the file cannot be read (so an unreadable file is never 'ours')."""
    try:
        return bool(test(path))
    except OSError:
        return False
