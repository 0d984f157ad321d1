"""Opening Optuna storages from the URLs and paths users type.

* no URL: `sqlite:///workbench.db` in the working directory (the CLI and the app share it);
* `sqlite:///path.db`, `postgresql://...`, any SQLAlchemy URL: Optuna's RDB storage;
* a path ending in `.log`, `.jsonl` or `.journal`, or `journal:PATH`: a journal file
  (`JournalFileBackend`), the storage for several local worker processes; an append first
  cuts off a torn last line an interrupted writer left (`workbench.storage.journal`).

Readers (`results`, the app) never create anything: a missing SQLite or journal file is an
error that says so, not a new empty database.

A storage that cannot be written (read-only file, locked database) is a `WorkbenchError`
naming it (`workbench.storage.errors`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage

from workbench.errors import WorkbenchError
from workbench.storage.journal import RepairingJournalBackend
from workbench.storage.proxy import grpc_address, open_grpc

DEFAULT_STORAGE = "sqlite:///workbench.db"
JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")


def journal_path(url: str) -> Path | None:
    """The journal file a storage string names, or None if it is not a journal."""
    if url.startswith("journal:"):
        return Path(url[len("journal:"):])
    if "://" not in url and url.endswith(JOURNAL_SUFFIXES):
        return Path(url)
    return None


def sqlite_path(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL (None for other URLs or in-memory)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path.startswith("file:"):  # a URI filename (`file:x.db?mode=ro&uri=true`)
            path = path[len("file:"):].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None
    return None


def normalise_url(url: str | None) -> str:
    """Fill in the default and turn a bare `.db` path into a SQLite URL."""
    if not url:
        return DEFAULT_STORAGE
    if "://" not in url and url.endswith((".db", ".sqlite", ".sqlite3")):
        return f"sqlite:///{url}"
    return url


def postgres_driver_url(url: str) -> str:
    """Name the installed PostgreSQL driver in a bare `postgresql://` URL: SQLAlchemy 2.1
    defaults to psycopg 3, while the workbench installs psycopg2-binary."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            import importlib.util

            if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
                return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def open_storage(url: str | None = None, *, create: bool = False, heartbeat_interval: int | None = None,
                 stale_trial_callback: Callable[[Any, Any], Any] | None = None) -> BaseStorage:
    """Open a storage for reading (default) or for a search (`create=True`). With
    `heartbeat_interval`, a database server's storage fails trials whose worker stopped beating
    and hands each to `stale_trial_callback(study, trial)` (the search retries them).

    Example:
        >>> storage = open_storage("sqlite:///workbench.db", create=True)
    """
    url = normalise_url(url)
    if grpc_address(url) is not None:
        return open_grpc(url)
    journal = journal_path(url)
    if journal is None and "://" not in url:
        raise WorkbenchError(not_a_storage(url))
    if journal is not None:
        if not create and not journal.exists():
            raise WorkbenchError(f"storage '{url}': journal file {journal} does not exist")
        journal.parent.mkdir(parents=True, exist_ok=True) if create else None
        _check_journal_head(url, journal)
        try:
            return JournalStorage(RepairingJournalBackend(str(journal)))
        except (UnicodeDecodeError, ValueError, KeyError) as error:  # JSONDecodeError is a ValueError
            raise WorkbenchError(f"storage '{url}': {journal} is not a readable Optuna journal "
                                 f"({type(error).__name__}: {str(error)[:120]})") from None
    db_file = sqlite_path(url)
    if db_file is not None and not create and not db_file.exists():
        raise WorkbenchError(f"storage '{url}': no database file at {db_file} (run `workbench search` first)")
    if db_file is not None and db_file.exists() and (not create or db_file.stat().st_size > 0):
        check_optuna_sqlite(url, db_file, empty_ok=create)
    kwargs = {}
    if heartbeat_interval and not url.startswith("sqlite"):
        kwargs = {"heartbeat_interval": heartbeat_interval, "grace_period": heartbeat_interval * 3,
                  "heartbeat_stale_trial_callback": stale_trial_callback}
    try:
        return RDBStorage(postgres_driver_url(url), skip_compatibility_check=False, **kwargs)
    except ImportError as error:
        raise WorkbenchError(f"storage '{url}': the database driver is not installed ({error})") from error
    except Exception as error:  # SQLAlchemy raises many types for a bad or unreachable URL
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WorkbenchError(f"storage '{url}': cannot open ({detail})") from error


_KINDS = "a SQLite .db file, a journal file (.log, .jsonl, .journal) or a database URL such as postgresql://..."
_SQLITE_MAGIC = b"SQLite format 3\x00"


def not_a_storage(text: str) -> str:
    """What a `--storage` that is neither a URL nor a .db or journal path is: a folder, some
    other file, or nothing at all (SQLAlchemy would only say it cannot parse it).

    Example:
        >>> not_a_storage("no-such-thing.txt")[:92]
        "storage 'no-such-thing.txt' is not an Optuna storage: no such file, and not a storage URL (g"
    """
    path = Path(text)
    lead, kinds = f"storage '{text}' is not an Optuna storage", f"(give {_KINDS})"
    if path.is_dir():
        return f"{lead}: {path} is a folder {kinds}"
    if not path.exists():
        return f"{lead}: no such file, and not a storage URL {kinds}"
    try:
        with path.open("rb") as handle:
            sqlite = handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        sqlite = False
    if sqlite:
        return f"{lead} by its name: {path} is a SQLite file; pass it as sqlite:///{path}"
    return f"{lead}: {path} is a file, but neither SQLite nor a journal by its name {kinds}"


def _check_journal_head(url: str, journal: Path) -> None:
    """A journal is JSON lines: a file that starts otherwise is not one (and is never appended to)."""
    if not journal.is_file():
        return
    with open(journal, "rb") as handle:
        head = handle.read(1)
    if head and head != b"{":
        raise WorkbenchError(f"storage '{url}': {journal} is not a readable Optuna journal (it is not JSON lines)")


# Tables every Optuna RDB storage has; another application's SQLite file lacks them.
_OPTUNA_TABLES = {"studies", "trials", "version_info"}


def check_optuna_sqlite(url: str, db_file: Path, *, empty_ok: bool = False) -> None:
    """Refuse, without writing a byte, a SQLite file that is not an Optuna storage (empty, not
    SQLite, or another application's database): opening it would create Optuna's tables in it.
    A search (`empty_ok`) may start in a SQLite database that has no tables yet.

    Raises:
        WorkbenchError: "not an Optuna storage", naming the file.
    """
    with open(db_file, "rb") as handle:
        head = handle.read(16)
    if head != b"SQLite format 3\x00":
        what = "an empty file" if not head else "not a SQLite database"
        raise WorkbenchError(f"storage '{url}': {db_file} is not an Optuna storage ({what})")
    try:
        connection = sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise WorkbenchError(f"storage '{url}': {db_file} cannot be read ({error})") from None
    if not _OPTUNA_TABLES <= tables and not (empty_ok and not tables):
        shown = ", ".join(sorted(tables)[:5]) or "none"
        raise WorkbenchError(f"storage '{url}': {db_file} is not an Optuna storage (its tables: {shown})")


def load_study(study_name: str, storage: str | None = None) -> optuna.Study:
    """Load an existing study; a missing one is an error listing the studies that exist."""
    backend = open_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(backend, include_best_trial=False)]
        listing = ", ".join(names) if names else "none"
        raise WorkbenchError(
            f"no study '{study_name}' in {normalise_url(storage)} (studies there: {listing})"
        ) from None
