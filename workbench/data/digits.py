"""scikit-learn's bundled handwritten digits (1,797 real 8x8 grey images, 10 classes)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sklearn_digits

from workbench.data.raw import RawData

# sklearn's pixels are 0..16 (counts of set pixels in 4x4 blocks of the original scans).
_MAX_PIXEL = 16.0


def read_digits() -> RawData:
    """The digits as float32 images in [0, 1], shape (1797, 1, 8, 8); nothing is downloaded.

    Digits has no official validation or test split; `load_dataset` carves both.

    Example:
        >>> raw = read_digits()
        >>> raw.train[0].shape, raw.classes[:3]
        ((1797, 1, 8, 8), ['0', '1', '2'])
    """
    bunch = _sklearn_digits()
    images = (bunch.images.astype(np.float32) / _MAX_PIXEL)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    return RawData(name="digits", classes=[str(c) for c in bunch.target_names], train=(images, labels))
