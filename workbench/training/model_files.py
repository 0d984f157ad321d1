"""Read a checkpoint someone else wrote, without ever running code from it.

`.safetensors` files hold tensors only; anything else is read with
`torch.load(weights_only=True)`, which refuses a pickle that names arbitrary callables, so a
hostile file is rejected before any of it runs. What comes back must be a flat mapping of
names to tensors, possibly wrapped once in `{"state_dict": ...}` or `{"model": ...}` (what
training scripts save) and possibly prefixed `module.` (DistributedDataParallel).

`load_torch_file` is the workbench's one `torch.load`: model files and checkpoints are read
through it too. It keeps torch's warnings and its "weights_only=False" advice to itself and
says in one line what a refused file is and why.

Example:
    >>> import tempfile, torch
    >>> path = Path(tempfile.mkdtemp()) / "w.pth"
    >>> torch.save({"state_dict": {"module.fc.weight": torch.ones(2)}}, path)
    >>> list(read_state_dict(path))
    ['fc.weight']
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from workbench.errors import WorkbenchError
from workbench.training.pickle_scan import code_globals

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
    payload = _read_safetensors(path) if path.suffix == ".safetensors" else load_torch_file(path)
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


def load_torch_file(path: str | Path, what: str | None = None) -> Any:
    """`torch.load(path, map_location="cpu", weights_only=True)` without torch's warnings, with
    every failure turned into one line that says what the file is and why it cannot be read
    (`what`, e.g. "not a readable checkpoint", leads that line when given).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "notes.pt"
        >>> _ = path.write_text("not tensors")
        >>> try:
        ...     load_torch_file(path, "not a readable checkpoint")
        ... except WorkbenchError as error:
        ...     print(str(error).split(": ", 1)[1])
        not a readable checkpoint: not a PyTorch tensor file (neither torch.save's zip format nor a pickle)

    Raises:
        WorkbenchError: the file is not torch.save's, is damaged, or asks to build objects other than tensors.
    """
    path = Path(path)
    lead = f"{path}: {what}: " if what else f"{path}: "
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_MAGIC)):
        raise WorkbenchError(lead + "not a PyTorch tensor file (neither torch.save's zip format nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's advice (weights_only=False, TorchScript) is not ours to give
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways on a damaged file; each is worded below
        calls = code_globals(path)
        if calls:  # said first: torch stops at an opcode it does not follow before it reaches the name
            named = ", ".join(dict.fromkeys(calls))
            raise WorkbenchError(lead + f"a file that asks to run code when loaded (its pickle calls {named}); "
                                        "refused unread, nothing of it ran") from None
        raise WorkbenchError(lead + _why_unreadable(head, error)) from None


def _why_unreadable(head: bytes, error: BaseException) -> str:
    """What a file that torch.load(weights_only=True) refused is, and why, in words: torch's own
    text advises weights_only=False, and a damaged pickle's KeyError or IndexError shows only a
    number or an index."""
    text = str(error)
    refused = re.search(r"GLOBAL (\S+) was not an allowed global", text)
    if refused:
        return (f"not a plain state dict (a pickle that asks to build {refused.group(1)}, not only tensors; "
                "refused unread: torch.load(weights_only=True))")
    if "WeightsUnpickler error" in text and "Unsupported operand" not in text:
        return ("not a plain state dict (it asks to run code or build objects other than tensors; refused unread: "
                "torch.load(weights_only=True))")
    if "TorchScript" in text:
        return "a TorchScript archive (torch.jit.save), not a state dict; save its state_dict() with torch.save"
    if "Invalid magic number" in text:
        return "a pickle, but not one torch.save wrote (torch.save's files carry a magic number first)"
    protocol = head[1] if head.startswith(_PICKLE_MAGIC) and len(head) > 1 else None
    if "Unsupported operand" in text and protocol in (3, 4, 5):
        return (f"an old-format torch.save file (before PyTorch 1.6) at pickle protocol {protocol}, which the safe "
                "reader does not follow (torch.load(weights_only=True) reads protocol 2); refused unread, re-save it "
                "with a current torch.save")
    if head.startswith(_ZIP_MAGIC):
        known = _first_line(error) if isinstance(error, RuntimeError) else "its archive does not hold together"
        return f"truncated or not a PyTorch tensor file: a zip archive that is cut short or damaged ({known})"
    return ("truncated or not a PyTorch tensor file: it starts as a pickle, but its contents break off or are "
            "corrupt (cut short, or not written by torch.save)")


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
    check_finite(state, path)
    return state


def check_finite(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Refuse weights holding NaN or infinite values, naming the first such tensor: a model built
    from them predicts NaN, and training from them fails later for a reason that hides this one.

    Example:
        >>> try:
        ...     check_finite({"fc.weight": torch.tensor([1.0, float("nan")])}, "w.pt")
        ... except WorkbenchError as error:
        ...     print(error)
        w.pt: tensor 'fc.weight' holds 1 NaN or infinite value of 2; weights must be finite numbers

    Raises:
        WorkbenchError: naming the file and the tensor.
    """
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            plural = "s" if bad > 1 else ""
            raise WorkbenchError(f"{path}: tensor {str(name)[:80]!r} holds {bad:,} NaN or infinite value{plural} of "
                                 f"{tensor.numel():,}; weights must be finite numbers")
