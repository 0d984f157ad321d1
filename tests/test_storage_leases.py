"""The study lock of workers behind a gRPC proxy (`workbench.storage.leases`, issue 23 item 16):
the chaos run through `workbench storage serve` overshot `--trials` (202 of 200) and measured
architectures twice because `grpc://` workers had no lock at all. Real proxies on 127.0.0.1,
real worker processes, a real SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import optuna
from helpers.processes import reaped

from workbench.storage import open_grpc, serve_storage, study_lock
from workbench.storage.leases import LEASE_S, LeaseTable


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_lease_runs_out_only_after_its_time_and_a_late_release_frees_nothing() -> None:
    clock = _Clock()
    table = LeaseTable(clock)
    assert table.acquire("study", "a", 5.0)
    clock.now = 4.9
    assert not table.acquire("study", "b", 5.0)
    clock.now = 5.1  # a died without releasing: its lease is over
    assert table.acquire("study", "b", 5.0)
    table.release("study", "a")  # a's late release must not free b's lease
    assert not table.acquire("study", "c", 5.0)
    assert not table.renew("study", "a", 5.0)
    assert table.acquire("other-study", "c", 5.0)  # one lease per study


_COUNTER_WORKER = textwrap.dedent("""
    import sys, time, optuna
    from workbench.storage import open_grpc, study_lock
    url, rounds = sys.argv[1], int(sys.argv[2])
    storage = open_grpc(url)
    study = optuna.load_study(study_name="s", storage=storage)
    new_lock = study_lock(url, storage, "s")
    for _ in range(rounds):
        with new_lock():
            value = study.user_attrs["counter"]
            time.sleep(0.01)  # read, think, write: what count-and-ask does
            study.set_user_attr("counter", value + 1)
""")


def test_worker_processes_behind_the_proxy_never_interleave_count_and_write() -> None:
    with serve_storage(optuna.storages.InMemoryStorage()) as url:
        study = optuna.create_study(study_name="s", storage=open_grpc(url))
        study.set_user_attr("counter", 0)
        workers = [subprocess.Popen([sys.executable, "-c", _COUNTER_WORKER, url, "15"]) for _ in range(3)]
        for worker in workers:
            with reaped(worker):
                assert worker.wait(timeout=120) == 0
        # 3 processes x 15 increments, none lost to a read that another worker's write overtook.
        assert optuna.load_study(study_name="s", storage=open_grpc(url)).user_attrs["counter"] == 45


_HOLDER = textwrap.dedent("""
    import sys, time
    from workbench.storage import open_grpc, study_lock
    lock = study_lock(sys.argv[1], open_grpc(sys.argv[1]), "s")()
    lock.__enter__()
    print("held", flush=True)
    time.sleep(600)
""")


def test_a_live_holder_keeps_the_lock_past_its_lease_and_a_killed_one_frees_it() -> None:
    with serve_storage(optuna.storages.InMemoryStorage()) as url:
        holder = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
        with reaped(holder):
            assert holder.stdout.readline().strip() == "held"
            acquired = threading.Event()

            def wait_for_lock() -> None:
                with study_lock(url, open_grpc(url), "s")():
                    acquired.set()

            with ThreadPoolExecutor(1) as pool:
                pool.submit(wait_for_lock)
                # Renewed by the live holder, the lease outlasts LEASE_S.
                assert not acquired.wait(LEASE_S + 2.0)
                holder.send_signal(signal.SIGKILL)
                assert acquired.wait(LEASE_S + 10.0), "the killed holder's lease never ran out"


def test_a_proxy_without_the_lease_service_runs_unlocked_and_says_so(capsys) -> None:
    import grpc
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.servicer import OptunaStorageProxyService

    # What Optuna's own `run_grpc_proxy_server` serves: the storage, no lease service.
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(optuna.storages.InMemoryStorage()),
                                                      server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        url = f"grpc://127.0.0.1:{port}"
        new_lock = study_lock(url, open_grpc(url), "s")
        first, second = new_lock(), new_lock()
        with first, second:  # both "held" at once: there is nothing to hold
            pass
        with new_lock():
            pass
    finally:
        server.stop(grace=1.0).wait()
    err = capsys.readouterr().err
    assert "no workbench lease service" in err and "overshoot --trials" in err
    assert err.count("lease service") == 1  # said once per worker, not per trial
