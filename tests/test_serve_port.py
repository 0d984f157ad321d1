"""`workbench storage serve` on a port another server holds (issue 34, item 3): gRPC would share
the port and send each worker to either storage at random; the second server refuses in one
line, exit 2, before it opens (or creates) its storage. A host that is not this machine's is
refused the same way (item 11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from helpers.processes import reaped
from test_storage_serve import _free_port, _wait_for_line


def _serve(db, port: int, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "workbench", "storage", "serve", "--storage", str(db), "--host", host,
            "--port", str(port)]


def test_a_second_server_never_shares_a_port_with_the_first(tmp_path) -> None:
    port = _free_port()
    first = subprocess.Popen(_serve(tmp_path / "good.db", port), stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    with reaped(first):
        _wait_for_line(first, "serving")
        second = subprocess.run(_serve(tmp_path / "other.db", port), capture_output=True, text=True, timeout=120)
        err = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(err) == 1, second.stderr
        assert f"127.0.0.1:{port}" in err[0] and "in use" in err[0] and "--port" in err[0]
        assert not (tmp_path / "other.db").exists()
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0


def test_serve_refuses_a_host_that_is_not_this_machines(tmp_path) -> None:
    done = subprocess.run(_serve(tmp_path / "s.db", _free_port(), host="999.1.1.1"), capture_output=True, text=True,
                          timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "999.1.1.1" in err[0], done.stderr
    assert not (tmp_path / "s.db").exists()
