"""Batches drawn from a dataset that lives on the training device, augmented there in bulk.

The whole split is one tensor on the device; an epoch is a seeded `randperm`, and each batch
is a single gather that applies a random crop (from a copy zero-padded once) and a random
horizontal flip for the whole batch at once. No DataLoader, no worker processes, no per-sample
Python.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor


def default_padding(input_size: int) -> int:
    """The CIFAR recipe's 4-pixel crop padding, scaled to the input size (at least 1).

    Example:
        >>> default_padding(32), default_padding(64), default_padding(8)
        (4, 8, 1)
    """
    return max(1, round(4 * input_size / 32))


def random_crop_flip(padded: Tensor, index: Tensor, pad: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random `size` x `size` crops (and mirror images with probability 1/2) of `padded[index]`.

    `padded` is the image tensor already zero-padded by `pad` on every side; zero is the mean
    colour once the data are normalised. The result is NCHW in channels_last memory.

    Example:
        >>> x = torch.randn(10, 3, 8, 8)
        >>> out = random_crop_flip(F.pad(x, (2, 2, 2, 2)), torch.arange(4), 2, True, torch.Generator().manual_seed(0))
        >>> tuple(out.shape)
        (4, 3, 8, 8)
    """
    device, count = padded.device, len(index)
    size = padded.shape[-1] - 2 * pad
    offsets = torch.randint(0, 2 * pad + 1, (2, count, 1), generator=generator, device=device)
    steps = torch.arange(size, device=device)
    rows = offsets[0] + steps
    cols = offsets[1] + steps
    if flip:
        mirrored = torch.rand(count, 1, generator=generator, device=device) < 0.5
        cols = torch.where(mirrored, offsets[1] + (size - 1 - steps), cols)
    # Advanced indices around a slice put the broadcast dims first: (B, H, W, C).
    crops = padded[index[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return crops.permute(0, 3, 1, 2)


class DeviceBatches:
    """Seeded, shuffled (optionally augmented) minibatches of device-resident `x`, `y`.

    A trailing batch of a single image is dropped (BatchNorm cannot train on it).

    Example:
        >>> batches = DeviceBatches(torch.randn(10, 3, 8, 8), torch.arange(10), batch_size=4, seed=0)
        >>> [len(y) for _, y in batches.epoch()]
        [4, 4, 2]
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, *, augment: bool = True, flip: bool = True,
                 pad: int | None = None, seed: int = 0, channels_last: bool = False) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.augment, self.flip = augment, flip
        self.pad = default_padding(x.shape[-1]) if pad is None else pad
        self.memory = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = torch.Generator(device=x.device).manual_seed(seed)
        self.padded = F.pad(x, (self.pad,) * 4).contiguous(memory_format=torch.channels_last) if augment else None
        usable = len(y) - 1 if len(y) % batch_size == 1 and len(y) > 1 else len(y)
        self.usable = usable
        self.steps_per_epoch = math.ceil(usable / batch_size)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def epoch(self, max_steps: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """One pass in a fresh random order; `max_steps` cuts it short (fractional epochs)."""
        order = torch.randperm(len(self.y), generator=self.generator, device=self.x.device)[: self.usable]
        steps = self.steps_per_epoch if max_steps is None else min(max_steps, self.steps_per_epoch)
        for step in range(steps):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            if self.padded is not None:
                images = random_crop_flip(self.padded, index, self.pad, self.flip, self.generator)
            else:
                images = self.x[index]
            yield images.contiguous(memory_format=self.memory), self.y[index]
