"""Supernet files: the shared tensors with the envelope they fill, the cover hash of the space
they were trained for, the recipe, and (until training ends) what a resume needs.

A file is written atomically after every epoch (`training.checkpoint.save_atomic`) and read with
`torch.load(weights_only=True)` only (`training.model_files.load_torch_file`): a truncated,
foreign or hostile file is refused in one line before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from workbench.errors import WorkbenchError
from workbench.supernet.envelope import Envelope
from workbench.supernet.net import GhostSupernet
from workbench.training.checkpoint import save_atomic
from workbench.training.model_files import check_finite, load_torch_file

KIND = "workbench-supernet"
FORMAT = 1
_REQUIRED = ("kind", "format", "cover_hash", "space_hash", "space_name", "recipe", "envelope", "state_dict",
             "complete", "epoch", "epochs")


def save_supernet(payload: dict[str, Any], path: str | Path) -> None:
    """Write a supernet payload (see `_REQUIRED`) atomically; `kind` and `format` are filled in."""
    save_atomic({**payload, "kind": KIND, "format": FORMAT}, path)


def read_header(path: str | Path) -> dict[str, Any]:
    """The whole payload of a supernet file, checked to be one.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "model.pt"
        >>> torch.save({"state_dict": {}, "config": {}}, path)
        >>> try:
        ...     read_header(path)
        ... except WorkbenchError as error:
        ...     print(str(error).split(": ", 1)[1])
        not a supernet file (no 'kind: workbench-supernet'; write one with `workbench supernet train`)

    Raises:
        WorkbenchError: missing, truncated, not torch.save's, not a supernet file, another format,
            or non-finite tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"{path}: no such supernet file (write one with `workbench supernet train`)")
    payload = load_torch_file(path, "not a readable supernet file")
    if not isinstance(payload, dict) or payload.get("kind") != KIND:
        raise WorkbenchError(f"{path}: not a supernet file (no 'kind: {KIND}'; write one with "
                             "`workbench supernet train`)")
    if payload.get("format") != FORMAT:
        raise WorkbenchError(f"{path}: supernet file format {payload.get('format')!r}; this workbench reads {FORMAT}")
    missing = [key for key in _REQUIRED if key not in payload]
    if missing or not isinstance(payload["state_dict"], dict):
        raise WorkbenchError(f"{path}: a damaged supernet file (missing {', '.join(missing) or 'state_dict'})")
    check_finite(payload["state_dict"], path)
    return payload


def load_supernet(path: str | Path, *, complete: bool = True) -> tuple[GhostSupernet, dict[str, Any]]:
    """(supernet, payload) of a supernet file; `complete` refuses one whose training has not finished.

    Raises:
        WorkbenchError: as `read_header`, an unfinished file, or tensors that do not fit the envelope.
    """
    payload = read_header(path)
    if complete and not payload["complete"]:
        raise WorkbenchError(f"{path}: supernet training stopped after epoch {payload['epoch']} of "
                             f"{payload['epochs']}; finish it with `workbench supernet train` (it resumes)")
    try:
        net = GhostSupernet(Envelope.from_dict(payload["envelope"]))
        net.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WorkbenchError(f"{path}: a damaged supernet file (its tensors do not fit its envelope: "
                             f"{detail[:200]})") from None
    return net.eval(), payload


def state_of(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of a module's state dict (what a file stores)."""
    return {key: value.detach().to("cpu").clone() for key, value in net.state_dict().items()}
