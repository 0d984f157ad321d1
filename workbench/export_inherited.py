"""The weights of an exported supernet trial: its subnet's inherited tensors as a model file
beside the exported config, so `workbench train --config C --init W` fine-tunes from them.

The supernet is the file the study's space names (`accuracy.path`; a relative one next to the
space file the study was made from first, then from here), checked to be a supernet of that
space before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from workbench.config.export import ExportConfig
from workbench.config.io import to_plain
from workbench.errors import WorkbenchError
from workbench.outputs import check_output, claim
from workbench.record import StudyRecord


def is_inherited(config: ExportConfig) -> bool:
    """True when the exported trial's accuracy came from a supernet."""
    return str(config.provenance.measured.accuracy_source or "").startswith("supernet")


def weights_path(config_path: str | Path) -> Path:
    """Where the inherited weights of a config go: the config's name with `.pt`.

    Example:
        >>> weights_path("picks/knee.yaml").as_posix()
        'picks/knee.pt'
    """
    return Path(config_path).with_suffix(".pt")


def write_inherited_weights(study: optuna.Study, config: ExportConfig, out: str | Path, *,
                            force: bool = False) -> Path:
    """Extract the exported architecture from the study's supernet and write it as a model file to `out`.

    Raises:
        WorkbenchError: the study's space names no supernet, the file is missing, damaged or of
            another space, the architecture is outside it, or `out` may not be written.
    """
    from workbench.search.space import parse_space
    from workbench.search.supernet_cover import cover_hash, supernet_path
    from workbench.supernet.accuracy import cached_supernet
    from workbench.training.checkpoint import save_weights

    out = Path(out)
    check_output(out, flag="--out (weights)", force=force)
    record = StudyRecord.of(study)
    stored = record.space or {}
    if (stored.get("accuracy") or {}).get("source") != "supernet":
        raise WorkbenchError(f"study '{study.study_name}' was not scored from a supernet; no weights to inherit")
    folder = Path(record.space_file).parent if record.space_file else None  # a relative path is the space's
    space = parse_space(stored, source=f"study '{study.study_name}'", base_dir=folder)
    path = supernet_path(space)
    net, payload = cached_supernet(path)
    if payload["cover_hash"] != cover_hash(space):
        raise WorkbenchError(f"{path}: a supernet of another space ('{payload.get('space_name')}') than study "
                             f"'{study.study_name}' searched; its weights are not this trial's")
    model = net.extract(config.arch)
    save_weights(model, to_plain(config), out)
    claim(out)
    return out
