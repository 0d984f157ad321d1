"""`workbench storage serve` (issue 23 item 15): a real server process on 127.0.0.1, a real search
and `workbench studies` through `grpc://`, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import optuna
from helpers.processes import reaped
from helpers.search import TINY, write_space

from workbench.cli.main import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_line(process: subprocess.Popen, needle: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if needle in line:
            return line
        if process.poll() is not None:
            break
    raise AssertionError(f"the server never said '{needle}'")


def test_serve_a_sqlite_file_search_and_read_through_grpc_then_stop(tmp_path, capsys) -> None:
    db = tmp_path / "served.db"
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "workbench", "storage", "serve", "--storage", str(db), "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    with reaped(server):
        line = _wait_for_line(server, "serving")
        assert f"grpc://127.0.0.1:{port}" in line
        url = f"grpc://127.0.0.1:{port}"
        space = write_space(tmp_path, {**TINY, "recipe": {"epochs": 0.05, "batch_size": 128}})
        assert main(["search", "--space", str(space), "--storage", url, "--trials", "1", "--workers", "1",
                     "--no-progress"]) == 0
        assert main(["studies", "--storage", url]) == 0
        assert "tiny" in capsys.readouterr().out
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        # The file the server wrote is an ordinary Optuna study.
        study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
        assert len(study.trials) == 1 and study.trials[0].state == optuna.trial.TrialState.COMPLETE


def test_serve_refuses_a_bad_port_in_one_line(capsys) -> None:
    assert main(["storage", "serve", "--port", "70000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--port must be 0..65535" in err[0]
