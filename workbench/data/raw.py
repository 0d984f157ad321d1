"""`RawData`: what every loader returns before splitting, resizing and normalising."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights, the usual RGB -> grey conversion (what Pillow's "L" mode uses).
_LUMA = (0.299, 0.587, 0.114)
_CHUNK = 4096


@dataclass
class RawData:
    """Images as NCHW numpy arrays (uint8 0-255, or float32 0-1) with int labels.

    `val` and `test` are None when the source has no such split; `load_dataset` carves them.
    """

    name: str
    classes: list[str]
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None = None
    test: tuple[np.ndarray, np.ndarray] | None = None


def to_float_images(images: np.ndarray, input_size: int, in_channels: int) -> torch.Tensor:
    """NCHW uint8/float images -> float32 tensor in [0, 1] at `in_channels` x `input_size`^2.

    Grey is repeated to 3 channels; RGB becomes grey by luma. Resizing is bilinear (antialiased
    when shrinking). Work is done in chunks so peak memory stays near the output's size.

    Example:
        >>> to_float_images(np.zeros((2, 1, 8, 8), np.uint8), 32, 3).shape
        torch.Size([2, 3, 32, 32])
    """
    out = torch.empty((len(images), in_channels, input_size, input_size), dtype=torch.float32)
    for start in range(0, len(images), _CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + _CHUNK]))
        chunk = chunk.float().div_(255.0) if chunk.dtype == torch.uint8 else chunk.float()
        chunk = _adapt_channels(chunk, in_channels)
        if chunk.shape[-1] != input_size or chunk.shape[-2] != input_size:
            shrink = chunk.shape[-1] > input_size
            chunk = F.interpolate(chunk, size=(input_size, input_size), mode="bilinear",
                                  align_corners=False, antialias=shrink).clamp_(0.0, 1.0)
        out[start:start + len(chunk)] = chunk
    return out


def _adapt_channels(chunk: torch.Tensor, in_channels: int) -> torch.Tensor:
    have = chunk.shape[1]
    if have == in_channels:
        return chunk
    if have == 1:
        return chunk.expand(-1, in_channels, -1, -1)
    if have == 3 and in_channels == 1:
        weights = torch.tensor(_LUMA).view(1, 3, 1, 1)
        return (chunk * weights).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot convert {have}-channel images to {in_channels} channels (only 1 <-> 3 and equal)")
