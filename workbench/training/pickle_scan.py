"""Which callables a pickle names, read from its opcodes without running any of it.

`torch.load(weights_only=True)` refuses a pickle that names a callable, but its refusal of a
pickle at protocol 3 or more stops at the first opcode it does not follow, before it reaches
the name: that file would be called damaged. Reading the opcodes (`pickletools.genops` only
parses) finds the names whatever the protocol, in a plain pickle or torch.save's zip archive.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

# Modules whose callables run commands or code, or open files or sockets: a pickle naming one asks to run code.
CODE_MODULES = frozenset({"os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "shutil", "importlib",
                          "runpy", "pty", "socket", "webbrowser", "code", "ctypes", "pickle", "marshal", "types",
                          "commands", "eval", "exec", "operator", "functools"})
_MAX_BYTES = 64 * 1024 * 1024  # a state dict's pickle is small (the tensors live beside it)


def code_globals(path: str | Path) -> list[str]:
    """The callables of `CODE_MODULES` that the pickle in `path` (or in torch.save's zip
    archive there) names, as 'module.name'; empty when none or when it cannot be read.

    Example:
        >>> import os, pickle, tempfile
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo hi",))
        >>> path = Path(tempfile.mkdtemp()) / "evil.pt"
        >>> _ = path.write_bytes(pickle.dumps({"w": Evil()}, protocol=4))
        >>> code_globals(path)
        ['posix.system']
    """
    data = _pickle_bytes(Path(path))
    return [name for name in _globals(data) if name.split(".")[0] in CODE_MODULES]


def _pickle_bytes(path: Path) -> bytes:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                return archive.read(names[0])[:_MAX_BYTES] if names else b""
        with path.open("rb") as handle:
            return handle.read(_MAX_BYTES)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return b""


def _globals(data: bytes) -> list[str]:
    """'module.name' of every GLOBAL, INST and STACK_GLOBAL (whose names are the last two strings pushed)."""
    found, strings = [], []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - a damaged pickle: keep what was read before the damage
        pass
    return found
