"""CIFAR-10/100 from the standard python-pickle batches, in a folder or the .tar.gz.

CIFAR-10: data_batch_1..5, test_batch, batches.meta ('label_names').
CIFAR-100: train, test ('fine_labels'), meta ('fine_label_names').
Files are found by name anywhere in the folder (one level down too, e.g.
`cifar-10-batches-py/`) or in the archive; nothing is extracted to disk.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from workbench.data.memory import check_fits, float_tensor_bytes
from workbench.data.raw import RawData
from workbench.data.safe_pickle import restricted_load
from workbench.errors import WorkbenchError

_LAYOUTS: dict[str, dict[str, Any]] = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
                "meta": "batches.meta", "names_key": "label_names", "labels_key": "labels", "classes": 10},
    "cifar100": {"train": ["train"], "test": ["test"], "meta": "meta",
                 "names_key": "fine_label_names", "labels_key": "fine_labels", "classes": 100},
}
_PIXELS = 3 * 32 * 32


def read_cifar(kind: str, path: str | Path, input_size: int = 32, in_channels: int = 3) -> RawData:
    """Read CIFAR-10 (`kind="cifar10"`) or CIFAR-100 from a folder or .tar.gz at `path`.

    `input_size` and `in_channels` only size the memory check done before reading.

    Example:
        >>> raw = read_cifar("cifar10", "data/cifar-10-python.tar.gz")  # doctest: +SKIP
        >>> raw.train[0].shape                                           # doctest: +SKIP
        (50000, 3, 32, 32)
    """
    layout = _LAYOUTS[kind]
    with _open_source(Path(path)) as read:
        classes = _read_classes(read, layout)
        train = _read_batches(read, layout["train"], layout)
        test = _read_batches(read, layout["test"], layout)
    check_fits(float_tensor_bytes(len(train[0]) + len(test[0]), in_channels, input_size), f"{kind} at {path}")
    return RawData(name=kind, classes=classes, train=train, test=test)


class _open_source:
    """Context manager yielding `read(name) -> (bytes, shown_path)` over a folder or tarball."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None

    def __enter__(self) -> Callable[[str], tuple[bytes, str]]:
        if not self.path.exists():
            raise WorkbenchError(f"{self.path}: no such file or folder")
        if self.path.is_dir():
            return self._read_dir
        try:
            self.tar = tarfile.open(self.path, "r:*")
            # the member list is read to its end here, where a cut-short archive shows
            self.members = {Path(m.name).name: m for m in self.tar.getmembers() if m.isfile()}
        except _DAMAGED as error:
            if self.tar is not None:
                self.tar.close()
            raise _unreadable_archive(self.path, error) from None
        return self._read_tar

    def __exit__(self, *exc: object) -> None:
        if self.tar is not None:
            self.tar.close()

    def _read_dir(self, name: str) -> tuple[bytes, str]:
        for candidate in [self.path / name, *sorted(self.path.glob(f"*/{name}"))]:
            if candidate.is_file():
                return candidate.read_bytes(), str(candidate)
        raise WorkbenchError(f"{self.path}: missing CIFAR file '{name}'")

    def _read_tar(self, name: str) -> tuple[bytes, str]:
        member = self.members.get(name)
        if member is None:
            raise WorkbenchError(f"{self.path}: archive has no CIFAR file '{name}'")
        try:
            handle = self.tar.extractfile(member)  # type: ignore[union-attr]
            return handle.read(), f"{self.path}:{member.name}"  # type: ignore[union-attr]
        except _DAMAGED as error:
            raise _unreadable_archive(self.path, error) from None


# What tarfile and its decompressors raise for a file that is not an archive, or a cut-short one.
_DAMAGED = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


def _unreadable_archive(path: Path, error: BaseException) -> WorkbenchError:
    """One line for an archive tarfile cannot read (its ReadError lists every compression tried,
    a line each)."""
    if isinstance(error, tarfile.ReadError) and "could not be opened" in str(error):  # no compression fits
        why = "not a tar archive, compressed with gzip, bzip2 or xz or not"
    elif isinstance(error, (EOFError, zlib.error, lzma.LZMAError, tarfile.TarError)):
        why = "truncated or damaged: " + " ".join(str(error).split())[:120]
    else:
        why = getattr(error, "strerror", None) or " ".join(str(error).split())[:120]
    return WorkbenchError(f"{path}: not a folder or a readable .tar.gz ({why})")


def _text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _as_dict(obj: Any, source: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise WorkbenchError(f"{source}: expected a dict in the CIFAR layout, got {type(obj).__name__}")
    return {_text(key): value for key, value in obj.items()}


def _read_classes(read: Callable[[str], tuple[bytes, str]], layout: dict[str, Any]) -> list[str]:
    payload, source = read(layout["meta"])
    meta = _as_dict(restricted_load(payload, source), source)
    names = meta.get(layout["names_key"])
    if not isinstance(names, (list, tuple)) or len(names) != layout["classes"]:
        raise WorkbenchError(f"{source}: '{layout['names_key']}' must list {layout['classes']} class names")
    return [_text(name) for name in names]


def _read_batches(read: Callable[[str], tuple[bytes, str]], names: list[str],
                  layout: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        payload, source = read(name)
        x, y = _check_batch(_as_dict(restricted_load(payload, source), source), source, layout)
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def _check_batch(batch: dict[str, Any], source: str, layout: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    data, labels = batch.get("data"), batch.get(layout["labels_key"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise WorkbenchError(f"{source}: 'data' must be an N x {_PIXELS} uint8 array, got {got}")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise WorkbenchError(f"{source}: '{layout['labels_key']}' must be a list of integers") from None
    if len(y) != len(data):
        raise WorkbenchError(f"{source}: {len(y)} labels for {len(data)} images")
    if len(y) and (y.min() < 0 or y.max() >= layout["classes"]):
        raise WorkbenchError(f"{source}: labels must lie in 0..{layout['classes'] - 1}")
    return data.reshape(-1, 3, 32, 32), y
