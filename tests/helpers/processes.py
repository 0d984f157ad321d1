"""`workbench search` as a real child process: started with Ctrl-C at its default, waited on by
what it does (never by a guess at the machine's speed), and always reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna

# A ceiling reached only when the behaviour waited for never comes; a passing run returns at once.
CEILING_S = 180.0


def start_search(space_file: Path, storage: str, trials: int, *extra: str,
                 sigint: Any = signal.SIG_DFL) -> subprocess.Popen:
    """`python -m workbench search` on `space_file` in its folder, one torch thread, no progress bar.

    The child starts with SIGINT at `sigint`: the default unless a test says otherwise, because a
    runner that ignores SIGINT (nohup, `make test &`) passes that on through exec, and the child
    would then never see the Ctrl-C a test sends."""
    command = [sys.executable, "-m", "workbench", "search", "--space", str(space_file), "--storage", storage,
               "--trials", str(trials), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=space_file.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))


@contextmanager
def reaped(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The process, killed on the way out if it still runs (a failing test leaves no search behind)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_for(check: Callable[[], Any], what: str, process: subprocess.Popen | None = None,
             ceiling_s: float = CEILING_S) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the ceiling, or at
    once if `process` ended first."""
    deadline = time.time() + ceiling_s
    while time.time() < deadline:
        try:
            value = check()
        except Exception:  # noqa: BLE001 - the study may not exist yet
            value = None
        if value:
            return value
        if process is not None and process.poll() is not None and not check():
            raise AssertionError(f"the search exited ({process.returncode}) before {what}: {process.communicate()}")
        time.sleep(0.3)
    raise AssertionError(f"not within {ceiling_s:.0f} s: {what}")


def wait_for_running(load: Callable[[], optuna.Study], process: subprocess.Popen) -> optuna.trial.FrozenTrial:
    """The first RUNNING trial once it is sampled (its heartbeat, if any, is beating; training is under way)."""
    def sampled() -> optuna.trial.FrozenTrial | None:
        running = load().get_trials(states=(optuna.trial.TrialState.RUNNING,))
        return running[0] if running and running[0].params else None

    trial = wait_for(sampled, "a trial started running", process)
    time.sleep(1.5)
    return trial
