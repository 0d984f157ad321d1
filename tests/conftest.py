"""Shared pytest set-up: one torch thread per test process keeps the 2-core CI predictable, and
`workbench search` runs one worker unless a test asks for more (`--workers auto` where the
workers are the point), so the suite does not spawn worker processes for every search."""

from __future__ import annotations

import os

import torch

torch.set_num_threads(1)
os.environ["WORKBENCH_WORKERS"] = "1"
