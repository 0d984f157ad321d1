"""Shared pytest set-up: one torch thread per test process keeps the 2-core CI predictable."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
