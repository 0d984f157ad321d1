"""The refusals of a full training run: before it starts, and before it resumes.

A run is refused when the rebuilt architecture's parameters or MACs differ from the figures
its config's provenance recorded (it would not be the network that was measured), when the
dataset's classes, channels or input size do not match the architecture, and when a
checkpoint to resume was made for another architecture or another schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.config.export import ExportConfig
from workbench.data import Dataset
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.profiling.counting import count_model


def check_architecture(config: ExportConfig) -> tuple[int, int]:
    """Build the architecture and count it; refuse when the counts differ from provenance.

    Returns (params, macs).
    """
    counts = count_model(build_model(config.arch), config.arch)
    measured = config.provenance.measured if config.provenance is not None else None
    if measured is not None:
        for name, recorded, rebuilt in (("parameters", measured.params, counts.params),
                                        ("MACs", measured.macs, counts.macs)):
            if recorded is not None and int(recorded) != int(rebuilt):
                raise WorkbenchError(
                    f"the rebuilt architecture has {rebuilt:,} {name} but trial {config.provenance.trial} of study "
                    f"'{config.provenance.study}' recorded {int(recorded):,}: the config's 'arch' was edited or this "
                    f"workbench builds it differently; refusing to train a different network")
    return counts.params, counts.macs


def check_dataset(data: Dataset, config: ExportConfig) -> None:
    """The dataset must have the architecture's classes, channels and input size."""
    arch = config.arch
    for what, have, want in (("classes", data.num_classes, arch.num_classes),
                             ("channels", data.in_channels, arch.in_channels),
                             ("input size", data.input_size, config.input_size)):
        if have != want:
            raise WorkbenchError(f"dataset '{data.name}' has {have} {what} but the architecture '{arch.name}' expects "
                                 f"{want}; pass a matching --data or export a config made for this dataset")


def check_resume(checkpoint: dict[str, Any], path: Path, arch: dict[str, Any], total_steps: int, epochs: float) -> None:
    """The checkpoint at `path` must be of architecture `arch` (plain data) and of a schedule
    of `total_steps` steps."""
    if checkpoint.get("arch") != arch:
        saved = (checkpoint.get("arch") or {}).get("name", "?")
        raise WorkbenchError(f"{path}: the checkpoint is from a different architecture ('{saved}'); "
                             "resume with the config it was made from, or use another --out")
    if checkpoint.get("total_steps") != total_steps:
        raise WorkbenchError(f"{path}: the checkpoint was made for {checkpoint.get('epochs')} epochs "
                             f"({checkpoint.get('total_steps')} steps), not {epochs:g} ({total_steps} steps); "
                             "resume with the same --epochs, batch size and data")
