"""Read a checkpoint someone else wrote, without ever running code from it.

`.safetensors` files hold tensors only; anything else is read with
`torch.load(weights_only=True)`, which refuses a pickle that names arbitrary callables, so a
hostile file is rejected before any of it runs. What comes back must be a flat mapping of
names to tensors, possibly wrapped once in `{"state_dict": ...}` or `{"model": ...}` (what
training scripts save) and possibly prefixed `module.` (DistributedDataParallel).

Example:
    >>> import tempfile, torch
    >>> path = Path(tempfile.mkdtemp()) / "w.pth"
    >>> torch.save({"state_dict": {"module.fc.weight": torch.ones(2)}}, path)
    >>> list(read_state_dict(path))
    ['fc.weight']
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from workbench.errors import WorkbenchError

_WRAPPERS = ("state_dict", "model")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The plain `name -> tensor` mapping stored in a `.pth`, `.bin`, `.pt` or `.safetensors` file.

    Raises:
        WorkbenchError: the file is missing, truncated, not a tensor file, a pickle that is not
            a plain state dict, or holds something other than named tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"{path}: no such file")
    payload = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    return _plain_state(payload, path)


_ZIP_MAGIC, _PICKLE_MAGIC = b"PK\x03\x04", b"\x80"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    # torch and safetensors explain at length; the first sentence says what went wrong.
    return text.splitlines()[0].split(". ")[0] if text else type(error).__name__


def _read_safetensors(path: Path) -> Any:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise WorkbenchError(f"{path}: reading .safetensors needs the 'safetensors' package "
                             "(pip install safetensors)") from None
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise WorkbenchError(f"{path}: not a readable safetensors file ({_first_line(error)})") from None


def _read_torch(path: Path) -> Any:
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_MAGIC)):
        raise WorkbenchError(f"{path}: not a PyTorch tensor file (neither torch.save's zip format nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses unknown globals before calling them; say so rather than echo the long message.
        if "weights only" in str(error).lower() or "weights_only" in str(error):
            raise WorkbenchError(f"{path}: not a plain state dict (it asks to run code or build objects other than "
                                 "tensors; refused unread: torch.load(weights_only=True))") from None
        raise WorkbenchError(f"{path}: not a PyTorch tensor file ({_first_line(error)})") from None
    except Exception as error:  # torch.load fails in many ways on a damaged file; all mean "unreadable"
        raise WorkbenchError(f"{path}: truncated or not a PyTorch tensor file ({_first_line(error)})") from None


def _plain_state(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(payload, dict):
        for wrapper in _WRAPPERS:
            if isinstance(payload.get(wrapper), dict):
                payload = payload[wrapper]
                break
    if not isinstance(payload, dict) or not payload:
        kind = "an empty mapping" if isinstance(payload, dict) else type(payload).__name__
        raise WorkbenchError(f"{path}: not a state dict (holds {kind}, expected names mapped to tensors)")
    state: dict[str, torch.Tensor] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WorkbenchError(f"{path}: not a plain state dict (entry {key!r} holds {type(value).__name__}, "
                                 "not a tensor)")
        state[key.removeprefix("module.")] = value
    return state
