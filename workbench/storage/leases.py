"""The study lock for workers that reach their storage through a gRPC proxy.

Workers on a `grpc://` storage share no file and hold no database connection, so neither of
`locks.study_lock`'s other locks (a file lock, a PostgreSQL advisory lock) can serialise their
"count, then ask" and "check, then claim". Without one, several workers read the same count and
all ask (the study overshoots `--trials`), or all find an architecture unclaimed and all measure
it. The proxy is the one process every worker talks to, so it holds the lock: `serve_storage`
adds a small lease service beside Optuna's storage service, on the same port.

A lease, not a plain mutex: a worker SIGKILLed while holding it never releases it, so a lease
expires `LEASE_S` after its holder last renewed it. A live holder renews from a background
thread, so a slow critical section under load keeps its lease and a dead one frees it within
seconds.

The messages are JSON over gRPC's generic handlers (no generated code to keep in step). A gRPC
server that is not `workbench storage serve` (Optuna's own `run_grpc_proxy_server`) has no lease
service: the workers then say once that totals and claims are not exact, and run unlocked.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import threading
import time
import uuid
from typing import Any, Callable

SERVICE = "workbench.Leases"
# Seconds a lease outlives its holder's last renewal; a holder renews every third of it.
LEASE_S = 6.0
_POLL_S = (0.02, 0.2)  # first and longest wait between two tries for a taken lease


class LeaseTable:
    """Named leases, each free or held by one holder until it releases or its lease runs out."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock, self._mutex = clock, threading.Lock()
        self._held: dict[str, tuple[str, float]] = {}

    def acquire(self, key: str, holder: str, lease_s: float) -> bool:
        """Take (or renew) `key` for `holder` for `lease_s` seconds; False while another holds it.

        Example:
            >>> table = LeaseTable()
            >>> table.acquire("s", "a", 5), table.acquire("s", "b", 5), table.acquire("s", "a", 5)
            (True, False, True)
        """
        with self._mutex:
            now = self._clock()
            current = self._held.get(key)
            if current is not None and current[0] != holder and current[1] > now:
                return False
            self._held[key] = (holder, now + lease_s)
            return True

    def renew(self, key: str, holder: str, lease_s: float) -> bool:
        """Extend `holder`'s lease on `key` by `lease_s` from now; False (and nothing taken) when
        it no longer holds it, so a renewal that arrives after the release frees nothing.

        Example:
            >>> table = LeaseTable()
            >>> table.renew("s", "a", 5), table.acquire("s", "a", 5), table.renew("s", "a", 5)
            (False, True, True)
        """
        with self._mutex:
            if self._held.get(key, ("", 0.0))[0] != holder:
                return False
            self._held[key] = (holder, self._clock() + lease_s)
            return True

    def release(self, key: str, holder: str) -> None:
        """Free `key` if `holder` still holds it (a lease that ran out and was taken stays taken)."""
        with self._mutex:
            if self._held.get(key, ("", 0.0))[0] == holder:
                del self._held[key]


def add_lease_service(server: Any, table: LeaseTable | None = None) -> LeaseTable:
    """Register the lease service on a `grpc.Server` that has not started; returns its table."""
    import grpc

    table = table or LeaseTable()

    def acquire(request: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"granted": table.acquire(str(request["key"]), str(request["holder"]), float(request["lease_s"]))}

    def renew(request: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"granted": table.renew(str(request["key"]), str(request["holder"]), float(request["lease_s"]))}

    def release(request: dict[str, Any], context: Any) -> dict[str, Any]:
        table.release(str(request["key"]), str(request["holder"]))
        return {}

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn, request_deserializer=_decode, response_serializer=_encode)
        for name, fn in (("Acquire", acquire), ("Renew", renew), ("Release", release))
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return table


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def _decode(data: bytes) -> dict[str, Any]:
    return json.loads(data.decode())


class LeaseClient:
    """The lease service of the proxy at `host:port`, over one channel; `lease(key)` makes the
    acquire / release pair of one holding (`locks.study_lock` wraps it as a `Lock`)."""

    def __init__(self, host: str, port: int) -> None:
        import grpc

        self._grpc, self.address = grpc, f"{host}:{port}"
        channel = grpc.insecure_channel(self.address)
        self._calls = {name: channel.unary_unary(f"/{SERVICE}/{name}", request_serializer=_encode,
                                                 response_deserializer=_decode)
                       for name in ("Acquire", "Renew", "Release")}
        self.missing = False  # the server has no lease service
        self._warned = False

    def lease(self, key: str) -> "Lease":
        """One holding of lease `key` by a fresh holder (host, pid and a nonce)."""
        return Lease(self, key, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}")

    def call(self, name: str, key: str, holder: str) -> bool:
        """Acquire, Renew or Release; whether the lease is (still) held. A server without the
        service grants everything once it has said so."""
        if self.missing:
            return True
        try:
            return bool(self._calls[name]({"key": key, "holder": holder, "lease_s": LEASE_S},
                                          timeout=30.0).get("granted", True))
        except self._grpc.RpcError as error:
            if error.code() != self._grpc.StatusCode.UNIMPLEMENTED:
                raise
            self.missing = True
            self._say_unlocked()
            return True

    def _say_unlocked(self) -> None:
        if not self._warned:
            self._warned = True
            print(f"workbench search: note: the gRPC server at {self.address} has no workbench lease service "
                  "(it is not `workbench storage serve`): with several workers the study may overshoot "
                  "--trials and an architecture may be measured twice", file=sys.stderr)


class Lease:
    """Held from `acquire()` (which waits, polling, until the lease is free) to `release()`;
    renewed from a background thread meanwhile."""

    def __init__(self, client: LeaseClient, key: str, holder: str) -> None:
        self._client, self._key, self._holder = client, key, holder
        self._stop = threading.Event()

    def acquire(self) -> None:
        wait = _POLL_S[0]
        while not self._client.call("Acquire", self._key, self._holder):
            time.sleep(wait * random.uniform(0.5, 1.5))  # jitter: waiting workers do not retry in step
            wait = min(_POLL_S[1], wait * 2)
        if not self._client.missing:
            self._stop.clear()
            threading.Thread(target=self._renew, daemon=True).start()

    def release(self) -> None:
        self._stop.set()
        self._client.call("Release", self._key, self._holder)

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_S / 3):
            try:
                self._client.call("Renew", self._key, self._holder)
            except Exception:  # noqa: BLE001 - a renewal lost in transit; the next one may land
                pass
