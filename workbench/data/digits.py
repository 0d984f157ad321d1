"""The bundled handwritten digits (1,797 real 8x8 grey images, 10 classes).

`files/digits.csv.gz` is the copy scikit-learn ships (`sklearn/datasets/data/digits.csv.gz`):
one image a row, 64 pixels then the label. Reading it with numpy keeps scikit-learn (and
its second of start-up) out of the workbench; `files/README.md` says where the data come from.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from workbench.data.raw import RawData

DIGITS_FILE = Path(__file__).with_name("files") / "digits.csv.gz"
# The pixels are 0..16 (counts of set pixels in 4x4 blocks of the original scans).
_MAX_PIXEL = 16.0
_SIDE = 8


def read_digits() -> RawData:
    """The digits as float32 images in [0, 1], shape (1797, 1, 8, 8); nothing is downloaded.

    Digits has no official validation or test split; `load_dataset` carves both.

    Example:
        >>> raw = read_digits()
        >>> raw.train[0].shape, raw.classes[:3]
        ((1797, 1, 8, 8), ['0', '1', '2'])
    """
    with gzip.open(DIGITS_FILE, "rt", encoding="ascii") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    images = (table[:, :-1].reshape(-1, 1, _SIDE, _SIDE).astype(np.float32) / _MAX_PIXEL)
    labels = table[:, -1].astype(np.int64)
    return RawData(name="digits", classes=[str(c) for c in range(10)], train=(images, labels))
