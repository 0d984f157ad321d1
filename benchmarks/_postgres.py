"""A throw-away PostgreSQL 15 server on 127.0.0.1, for the benchmarks and the storage tests.

The server runs as the postgres user (initdb refuses root) on a free loopback port, with its
socket and data in a fresh folder under /tmp, and is stopped and removed on exit. Nothing is
started when the server binaries are missing: the caller gets None and the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable_reason() -> str | None:
    """Why no server can start here (binaries, runuser, psycopg2 missing), or None."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL server binaries not found in {PG_BIN} (apt install postgresql-15)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is needed to start PostgreSQL as the postgres user"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed"
    return None


@contextlib.contextmanager
def postgres_server(max_connections: int = 100) -> Iterator[tuple[str | None, str]]:
    """(URL of a fresh server, "") while the block runs, or (None, why not)."""
    reason = unavailable_reason()
    if reason is not None:
        yield None, reason
        return
    folder = Path(tempfile.mkdtemp(prefix="wb-pg-", dir="/tmp"))
    os.chmod(folder, 0o777)
    data = folder / "data"
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    try:
        subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections={max_connections} "
                   "-c fsync=off")
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(folder / "server.log"), "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = (getattr(error, "stderr", b"") or b"").decode(errors="replace")[-300:]
        shutil.rmtree(folder, ignore_errors=True)
        yield None, f"could not start a PostgreSQL server: {error} {detail}"
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", ""
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def connection_count(url: str) -> int:
    """Client connections the server holds now (`pg_stat_activity`, this one left out)."""
    import psycopg2

    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                       "AND pid <> pg_backend_pid()")
        return int(cursor.fetchone()[0])
