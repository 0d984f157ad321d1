"""The fixed, seeded set of training images int8 quantization is calibrated on."""

from __future__ import annotations

import numpy as np
import torch

from workbench.data.datasets import Dataset


def calibration_images(data: Dataset, count: int, seed: int) -> np.ndarray:
    """`count` training images (fewer if the split is smaller) drawn without replacement by a
    generator seeded with `seed`, as contiguous float32 NCHW on the CPU; the same data, count
    and seed always give the same images, in the same order.

    Example:
        >>> from workbench.data import load_dataset
        >>> data = load_dataset("digits", input_size=8, in_channels=1)
        >>> a, b = calibration_images(data, 16, seed=3), calibration_images(data, 16, seed=3)
        >>> a.shape, bool((a == b).all())
        ((16, 1, 8, 8), True)
    """
    total = len(data.train_x)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[: min(count, total)]
    images = data.train_x[order.to(data.train_x.device)]
    return np.ascontiguousarray(images.detach().float().cpu().contiguous().numpy())
