"""`Dataset` (three normalised splits on one device) and `load_dataset(spec)`."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor

from workbench.data.cifar import read_cifar
from workbench.data.digits import read_digits
from workbench.data.digits_hard import read_digits_hard
from workbench.data.folder import read_folder
from workbench.data.memory import check_fits, float_tensor_bytes
from workbench.data.raw import RawData, to_float_images
from workbench.data.splits import stratified_split
from workbench.errors import WorkbenchError

SPEC_FORMS = ("digits", "digits-hard", "cifar10:PATH", "cifar100:PATH", "folder:PATH")


@dataclass
class Dataset:
    """Train / validation / test splits as float32 NCHW tensors normalised with the train
    split's per-channel `mean` and `std`, int64 labels, and the class names.

    Search scores on `val_*` only; `test_*` is for the final training command.
    """

    name: str
    classes: list[str]
    in_channels: int
    input_size: int
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: list[float]
    std: list[float]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: str | torch.device, channels_last: bool = False) -> "Dataset":
        """A copy with every tensor on `device` (images in channels_last memory if asked).

        Example:
            >>> data = load_dataset("digits", input_size=16).to("cpu", channels_last=True)
            >>> data.train_x.is_contiguous(memory_format=torch.channels_last)
            True
        """
        memory = torch.channels_last if channels_last else torch.contiguous_format
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Tensor):
                value = value.to(device)
                if value.dim() == 4:
                    value = value.contiguous(memory_format=memory)
            moved[field.name] = value
        return replace(self, **moved)

    def summary(self) -> dict[str, object]:
        """Sizes and shapes, for printing."""
        return {"name": self.name, "classes": self.num_classes, "in_channels": self.in_channels,
                "input_size": self.input_size, "train": len(self.train_y), "val": len(self.val_y),
                "test": len(self.test_y)}


def load_dataset(spec: str = "digits", input_size: int = 32, in_channels: int = 3, seed: int = 0,
                 val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Load `digits`, `digits-hard`, `cifar10:PATH`, `cifar100:PATH` or `folder:PATH` as a
    `Dataset` on CPU.

    A split the source lacks is carved with a fixed `seed`, stratified by class: first the
    test split (`test_fraction` of everything), then validation (`val_fraction` of the rest).
    `digits-hard` brings its own splits, rendered from `seed` (`workbench.data.digits_hard`),
    so the fractions do not apply to it.

    Example:
        >>> data = load_dataset("digits", input_size=32)
        >>> data.num_classes, tuple(data.train_x.shape[1:]), len(data.train_y) + len(data.val_y) + len(data.test_y)
        (10, (3, 32, 32), 1797)
    """
    if not 0.0 < val_fraction < 1.0 or not 0.0 < test_fraction < 1.0:
        raise WorkbenchError(f"dataset '{spec}': val_fraction and test_fraction must lie in (0, 1)")
    raw = _read(spec, input_size, in_channels, seed)
    train, val, test = _carve_splits(raw, seed, val_fraction, test_fraction)
    count = sum(len(split[1]) for split in (train, val, test))
    check_fits(float_tensor_bytes(count, in_channels, input_size), f"dataset '{spec}'")
    try:
        tensors = [to_float_images(split[0], input_size, in_channels) for split in (train, val, test)]
    except ValueError as error:
        raise WorkbenchError(f"dataset '{spec}': {error}") from None
    mean, std = _channel_stats(tensors[0])
    for images in tensors:
        images.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
    labels = [torch.from_numpy(np.asarray(split[1], dtype=np.int64)) for split in (train, val, test)]
    return Dataset(name=raw.name, classes=raw.classes, in_channels=in_channels, input_size=input_size,
                   train_x=tensors[0], train_y=labels[0], val_x=tensors[1], val_y=labels[1],
                   test_x=tensors[2], test_y=labels[2], mean=mean.tolist(), std=std.tolist())


def _read(spec: str, input_size: int, in_channels: int, seed: int) -> RawData:
    kind, sep, path = spec.partition(":")
    if spec == "digits":
        return read_digits()
    if spec == "digits-hard":
        return read_digits_hard(seed)
    if sep and path and kind in ("cifar10", "cifar100"):
        return read_cifar(kind, path, input_size, in_channels)
    if sep and path and kind == "folder":
        return read_folder(path, input_size, in_channels)
    raise WorkbenchError(f"unknown dataset '{spec}' (allowed forms: {', '.join(SPEC_FORMS)})")


Split = tuple[np.ndarray, np.ndarray]


def _carve_splits(raw: RawData, seed: int, val_fraction: float, test_fraction: float) -> tuple[Split, Split, Split]:
    train = raw.train
    test = raw.test
    if test is None:
        kept, held = stratified_split(train[1], test_fraction, seed)
        train, test = (train[0][kept], train[1][kept]), (train[0][held], train[1][held])
    val = raw.val
    if val is None:
        # A different seed stream so val is not the same class-wise positions as test.
        kept, held = stratified_split(train[1], val_fraction, seed + 1)
        train, val = (train[0][kept], train[1][kept]), (train[0][held], train[1][held])
    for name, split in (("train", train), ("validation", val), ("test", test)):
        if len(split[1]) == 0:
            raise WorkbenchError(f"dataset '{raw.name}': the {name} split is empty (too few images)")
    return train, val, test


def _channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean, std
