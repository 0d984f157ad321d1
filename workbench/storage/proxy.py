"""One process holds the storage, the others reach it over gRPC (Optuna's `GrpcStorageProxy`).

SQLite has one writer. When one `workbench search` command runs several local workers on a
SQLite file, the command itself serves its storage on 127.0.0.1 and its worker processes use
`grpc://127.0.0.1:PORT`: every write goes through the one process that opened the file, and the
file never sees two writers. The server also holds the study lock of the workers behind it
(`storage.leases`). The same server is what `GrpcStorageProxy` expects in front of a
database server (many workers, a few database connections).

Private Optuna use (contract-tested in tests/test_storage_contract.py): the servicer class and
the generated service registration, because Optuna's public `run_grpc_proxy_server` blocks and
cannot bind a free port.
"""

from __future__ import annotations

import errno
import socket
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import optuna
from optuna.storages import BaseStorage

from workbench.errors import WorkbenchError
from workbench.storage.leases import add_lease_service

GRPC_PREFIX = "grpc://"
LOOPBACK = "127.0.0.1"


def grpc_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a `grpc://host:port` storage URL, else None.

    Example:
        >>> grpc_address("grpc://127.0.0.1:13000"), grpc_address("sqlite:///a.db")
        (('127.0.0.1', 13000), None)
    """
    if not url.startswith(GRPC_PREFIX):
        return None
    host, _, port = url[len(GRPC_PREFIX):].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise WorkbenchError(f"storage '{url}': a gRPC storage is grpc://HOST:PORT")
    return host, int(port)


def open_grpc(url: str, *, timeout_s: float = 20.0) -> BaseStorage:
    """A `GrpcStorageProxy` to the server at `url`, once the server answers.

    Raises:
        WorkbenchError: nothing answers at that address within `timeout_s`.
    """
    host, port = grpc_address(url) or ("", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        proxy.wait_server_ready(timeout=timeout_s)
    except ConnectionError:
        raise WorkbenchError(f"storage '{url}': no gRPC storage server answers there "
                             f"(start one with `workbench storage serve`)") from None
    return proxy


def check_port_free(host: str, port: int) -> None:
    """Refuse a `host:port` that another server already holds, or that is not this machine's,
    before anything is opened: gRPC servers set SO_REUSEPORT, so a second one on a held port
    would start and share it, and clients would land on either storage at random. A plain bind
    (no SO_REUSEPORT) of every address `host` resolves to tells. Port 0 (a free one) passes.

    Example:
        >>> with socket.create_server((LOOPBACK, 0)) as held:
        ...     try:
        ...         check_port_free(LOOPBACK, held.getsockname()[1])
        ...     except WorkbenchError as error:
        ...         print(str(error).split(": ", 1)[1][:36])
        the port is in use by another server

    Raises:
        WorkbenchError: one line naming the address and why.
    """
    if port == 0:
        return
    where = f"cannot serve on {host}:{port}"
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else "not a host name"
        raise WorkbenchError(f"{where}: the host is not an address of this machine ({reason})") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds: TIME_WAIT is no owner
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise WorkbenchError(f"{where}: the port is in use by another server (another "
                                         "`workbench storage serve`?); choose another --port") from None
                raise WorkbenchError(f"{where}: {error.strerror or error}") from None


@contextmanager
def serve_storage(storage: BaseStorage, host: str = LOOPBACK, port: int = 0, *,
                  threads: int = 16) -> Iterator[str]:
    """Serve `storage` over gRPC on `host:port` (0: a free port) while inside; yields the
    `grpc://host:port` URL the workers open. The server stops on the way out.

    Example:
        >>> with serve_storage(optuna.storages.InMemoryStorage()) as url:
        ...     study = optuna.create_study(storage=open_grpc(url), study_name="s")
        ...     [s.study_name for s in optuna.get_all_study_summaries(open_grpc(url))]
        ['s']
    """
    import grpc
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.servicer import OptunaStorageProxyService

    check_port_free(host, port)
    # Without SO_REUSEPORT a port another server holds fails to bind instead of being shared.
    server = grpc.server(ThreadPoolExecutor(max_workers=threads), options=[("grpc.so_reuseport", 0)])
    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(storage), server)
    add_lease_service(server)  # the study lock of the workers behind this proxy (`storage.leases`)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio >= 1.5x raises where older versions returned 0
        bound = 0
    if bound == 0:
        raise WorkbenchError(f"cannot serve the storage on {host}:{port} (address in use or not this machine's)")
    server.start()
    try:
        yield f"{GRPC_PREFIX}{host}:{bound}"
    finally:
        server.stop(grace=2.0).wait()
