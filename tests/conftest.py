"""Shared pytest set-up: one torch thread per test process keeps the 2-core CI predictable, and
`workbench search` runs one worker unless a test asks for more (`--workers auto` where the
workers are the point), so the suite does not spawn worker processes for every search."""

from __future__ import annotations

import os
import signal

import torch

torch.set_num_threads(1)
os.environ["WORKBENCH_WORKERS"] = "1"


def pytest_configure(config) -> None:
    """A test run started from `nohup` or a background job inherits SIGINT ignored; the searches the
    tests run in this process would then print the "Ctrl-C is ignored" note into the one-line
    refusals they check. The test process takes Ctrl-C as a terminal would give it."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
