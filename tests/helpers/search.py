"""Tiny search spaces and study handles shared by the search, storage, fidelity, noise and confirm tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import optuna
import yaml

from workbench.search import load_space

# A space small enough for a 2-core CI: GhostNet-CIFAR at width ~0.3, 16x16 digits, a fifth
# of an epoch, a few latency samples.
TINY: dict[str, Any] = {
    "name": "tiny",
    "base": "ghostnet_cifar_050",
    "dataset": "digits",
    "input_size": 16,
    "knobs": {
        "ratio": {"low": 2, "high": 4},
        "dw_size": {"choices": [1, 3, 5]},
        "width": {"low": 0.25, "high": 0.4, "step": 0.05},
        "depth": {"low": 1, "high": 2, "scope": "per_stage", "stages": [6, 8]},
    },
    "objectives": ["accuracy", "macs"],
    "recipe": {"epochs": 0.2, "batch_size": 128},
    "latency": {"warmup": 1, "repeats": 3, "max_seconds": 0.05},
    "seed": 0,
}


def write_space(folder: Path, data: dict[str, Any], name: str = "tiny.yaml") -> Path:
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def tiny(tmp_path: Path, **changes: Any):
    data = copy.deepcopy(TINY)
    data.update(changes)
    return load_space(str(write_space(tmp_path, data)))


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def load(tmp_path: Path, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=sqlite(tmp_path))


