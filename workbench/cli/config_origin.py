"""Whether a config exported from a study may be scored as one of a space's trials
(`workbench train-proxy --space S --config C --trial N`): its provenance must name trial N of
a study searched with space S, or the score would claim a trial it is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError


def check_trial_claim(config: str, space: Any, trial: int) -> str | None:
    """Refuse a config whose provenance names another trial or a study of another space;
    return a note when its study's space cannot be told (an older config whose storage is
    gone), None when it checks out or the file holds a bare architecture.

    Raises:
        WorkbenchError: the provenance names another trial, or a study of another space.
    """
    provenance = _provenance(config)
    if provenance is None:
        return None
    where = f"{config} is trial {provenance.get('trial')} of study '{provenance.get('study')}'"
    if provenance.get("trial") != trial:
        raise WorkbenchError(f"{where}, not trial {trial}: --trial {trial} would score it with another trial's seeds "
                             f"(use --trial {provenance.get('trial')}, or leave --trial out)")
    stored = provenance.get("space_hash") or _stored_space_hash(provenance)
    if stored is None:
        return (f"{config} does not record its study's space and its storage cannot be read: this score is "
                f"trial {trial}'s only if that study was searched with {space.source}")
    if stored != space.space_hash():
        searched = f" ({provenance['space']})" if provenance.get("space") else ""
        raise WorkbenchError(f"{where}, searched with another space{searched} than {space.source}: its recorded "
                             "figures are not this space's; pass that study's space to --space, or leave --trial out")
    return None


def _provenance(config: str) -> dict[str, Any] | None:
    from workbench.config.io import read_mapping

    found = read_mapping(Path(config)).get("provenance")
    return found if isinstance(found, dict) and isinstance(found.get("trial"), int) else None


def _stored_space_hash(provenance: dict[str, Any]) -> str | None:
    """The space hash its study holds, for configs exported before the provenance recorded it."""
    from workbench.record import StudyRecord
    from workbench.storage import load_study

    storage = provenance.get("storage")
    if not isinstance(storage, str) or not storage:
        return None
    try:
        return StudyRecord.of(load_study(str(provenance.get("study")), storage)).space_hash
    except (WorkbenchError, OSError, ValueError):
        return None
