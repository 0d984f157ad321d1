"""A pickle reader that can rebuild numpy arrays, lists and dicts and nothing else.

A pickle may name any importable callable and call it while loading (`os.system`, ...).
`restricted_load` allows only the globals the CIFAR python batches need, so a data file can
never execute code.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from workbench.errors import WorkbenchError

# (module, name) pairs a CIFAR batch (Python 2 cPickle, or re-pickled by Python 3) refers to.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Python 3 writes bytes in protocol <= 2 as _codecs.encode(text, "latin1").
    ("_codecs", "encode"),
})


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}'")
        return super().find_class(module, name)


def restricted_load(payload: bytes, source: str) -> Any:
    """Unpickle `payload` allowing only numpy-array reconstruction; `source` names the file.

    Python 2 strings are read as latin-1 (what numpy arrays pickled by Python 2 need).

    Example:
        >>> restricted_load(pickle.dumps({b"labels": [1, 2]}, protocol=2), "batch")
        {b'labels': [1, 2]}
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(payload), encoding="latin1").load()
    except Exception as error:  # any failure of an untrusted file is the user's file's problem
        raise WorkbenchError(f"{source}: not a readable CIFAR pickle ({error})") from None
