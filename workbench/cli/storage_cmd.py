"""`workbench storage serve`: one process holds a storage, every worker reaches it over gRPC.

Optuna's answer for many workers (its `GrpcStorageProxy`): the proxy holds the database
connections, workers on any machine use `--storage grpc://HOST:PORT`, and `studies`, `report`
and the dashboard read through it too. The server binds 127.0.0.1 unless `--host` says
otherwise; it speaks plain gRPC, so anything past one machine belongs behind TLS (README).
"""

from __future__ import annotations

import argparse
import signal
import threading

NAME = "storage"
HELP = "serve a storage to workers over gRPC (workbench storage serve)"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.storage import DEFAULT_STORAGE

    parser = subparsers.add_parser(NAME, help=HELP)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve --storage on --host:--port until Ctrl-C or SIGTERM")
    serve.add_argument("--storage", help=f"the storage to serve (default: {DEFAULT_STORAGE}); a database server or "
                                         "a SQLite file: the server is then its one writer")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=13000, help="port to bind (default 13000; 0: a free one)")
    serve.add_argument("--threads", type=int, default=16, help="server threads (default 16)")
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.storage import normalise_url, open_storage
    from workbench.storage.proxy import GRPC_PREFIX, check_port_free, serve_storage

    if not 0 <= args.port <= 65535:
        raise WorkbenchError(f"--port must be 0..65535, got {args.port}")
    if args.threads < 1:
        raise WorkbenchError(f"--threads must be at least 1, got {args.threads}")
    url = normalise_url(args.storage)
    if url.startswith(GRPC_PREFIX):
        raise WorkbenchError(f"--storage {url}: that is already a gRPC server; serve the database it serves")
    check_port_free(args.host, args.port)  # before the storage is opened (or created)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with serve_storage(open_storage(url, create=True), args.host, args.port, threads=args.threads) as served:
        print(f"serving {url} at {served} (Ctrl-C stops); workers: workbench search --storage {served}", flush=True)
        while not stop.wait(0.5):
            pass
    print("storage server stopped", flush=True)
    return 0
