"""A `grpc://` storage whose server stops mid-search (issue 34, item 11): the search ends with one
line saying the server is gone and that a rerun resumes, exit 2, no traceback; every finished
trial is kept, and the same command, once the server is back, goes on from them."""

from __future__ import annotations

import copy
import os
import signal
import subprocess

import optuna
import pytest
from helpers.processes import reaped, start_search, wait_for
from helpers.search import TINY, write_space
from test_serve_port import _serve
from test_storage_serve import _free_port, _wait_for_line

COMPLETE = optuna.trial.TrialState.COMPLETE


def _start_server(db, port: int) -> subprocess.Popen:
    server = subprocess.Popen(_serve(db, port), stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"},
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_line(server, "serving")
    return server


def _complete(db) -> int:
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    return len(study.get_trials(states=(COMPLETE,)))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_search_whose_storage_server_dies_says_so_in_one_line_and_resumes(tmp_path, workers) -> None:
    space = write_space(tmp_path, {**copy.deepcopy(TINY), "latency": None})
    db, port = tmp_path / "s.db", _free_port()
    url = f"grpc://127.0.0.1:{port}"
    server = _start_server(db, port)
    with reaped(server):
        search = start_search(space, url, 500, "--workers", workers)
        with reaped(search):
            wait_for(lambda: _complete(db) >= 1, "a trial finished", search)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            _, err = search.communicate(timeout=180)
    lines = err.strip().splitlines()
    assert search.returncode == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert url in lines[0] and "server is gone" in lines[0] and "run again" in lines[0] and "resumes" in lines[0]
    kept = _complete(db)
    assert kept >= 1
    if workers == "2":
        return
    server = _start_server(db, port)
    with reaped(server):
        rerun = start_search(space, url, kept + 1)
        with reaped(rerun):
            _, err = rerun.communicate(timeout=180)
        assert rerun.returncode == 0, err
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert _complete(db) == kept + 1
