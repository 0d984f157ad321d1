"""`Preprocessing`: how an image becomes the tensor a model was trained on.

It travels with the weights (in `model.pt`, in the ONNX metadata, in an imported timm file),
so a user can rebuild the input pipeline without the training data. Two resamplers reproduce
the two ways the workbench's datasets are made:

* `torch` — digits, digits-hard, CIFAR: the image's pixels as floats in [0, 1], grey repeated
  to 3 channels or RGB turned grey by luma, then bilinear `F.interpolate` to the input size
  (antialiased when shrinking): `workbench.data.raw.to_float_images`, the training code itself.
* `pillow` — image folders and timm's ImageNet models: Pillow converts the mode ("L" or "RGB")
  and resizes the 8-bit image. With `crop_pct` the shorter side goes to
  `floor(input_size / crop_pct)` (aspect kept) and the centre is cropped, as timm evaluates.

Then every channel is normalised: `(x - mean) / std`.

Example:
    >>> from PIL import Image
    >>> spec = Preprocessing(input_size=4, channels=1, mean=[0.5], std=[0.25], resampler="torch")
    >>> preprocess_image(Image.new("L", (8, 8), 255), spec).flatten().tolist()[:2]
    [2.0, 2.0]
"""

from __future__ import annotations

import json
import math
from typing import Literal, Optional

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.data.raw import to_float_images

# Keys of the ONNX metadata written by `workbench train --onnx` (JSON strings).
ONNX_PREPROCESSING_KEY = "workbench.preprocessing"
ONNX_CLASS_NAMES_KEY = "workbench.class_names"
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_GREY = ("1", "L", "LA", "La", *_SIXTEEN_BIT, "F")
_PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


class Preprocessing(BaseModel):
    """Input size and channels, per-channel mean and std (of [0, 1] pixels), resize rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_size: int = Field(ge=1)
    channels: int = Field(ge=1)
    mean: list[float]
    std: list[float]
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    resampler: Literal["torch", "pillow"] = "torch"
    crop_pct: Optional[float] = Field(None, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> "Preprocessing":
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std need one value per channel ({self.channels})")
        if min(self.std) <= 0:
            raise ValueError("std must be positive")
        if self.resampler == "torch" and (self.crop_pct is not None or self.interpolation != "bilinear"):
            raise ValueError("the torch resampler squashes bilinearly; crop_pct and bicubic need 'pillow'")
        if self.channels not in (1, 3):
            raise ValueError("images convert to 1 or 3 channels only")
        return self

    def describe(self) -> str:
        """One line for people: size, channels, resize rule and normalisation."""
        resize = (f"{self.interpolation} resize of the shorter side to {math.floor(self.input_size / self.crop_pct)}, "
                  f"centre crop {self.crop_pct:g}" if self.crop_pct else f"{self.interpolation} resize "
                                                                         f"({self.resampler})")
        numbers = lambda values: "/".join(f"{v:.4f}" for v in values)  # noqa: E731
        return (f"{self.channels}x{self.input_size}x{self.input_size}, {resize}, "
                f"mean {numbers(self.mean)}, std {numbers(self.std)}")


# What timm publishes for ghostnet_050/100/130 (`pretrained_cfg`, checked against timm 1.0.31).
IMAGENET = Preprocessing(input_size=224, channels=3, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                         interpolation="bicubic", resampler="pillow", crop_pct=0.875)


def preprocessing_of(name: str, input_size: int, channels: int, mean: list[float], std: list[float]) -> Preprocessing:
    """The preprocessing a `workbench.data.Dataset` named `name` applied (folders go through
    Pillow, every other source through `to_float_images`)."""
    resampler = "pillow" if name.startswith("folder:") else "torch"
    return Preprocessing(input_size=input_size, channels=channels, mean=[float(v) for v in mean],
                         std=[float(v) for v in std], resampler=resampler)


def onnx_metadata(spec: Preprocessing, class_names: list[str] | None) -> dict[str, str]:
    """The ONNX metadata entries that carry `spec` and the class names (`load_onnx` reads them)."""
    return {ONNX_PREPROCESSING_KEY: spec.model_dump_json(), ONNX_CLASS_NAMES_KEY: json.dumps(class_names)}


def preprocess_image(image: Image.Image, spec: Preprocessing) -> torch.Tensor:
    """A float32 C x H x W tensor of `image` as `spec` says (see the module docstring)."""
    pixels = _pillow_pixels(image, spec) if spec.resampler == "pillow" else _torch_pixels(image, spec)
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(-1, 1, 1)
    return pixels.sub_(mean).div_(std)


def _pillow_pixels(image: Image.Image, spec: Preprocessing) -> torch.Tensor:
    image = image.convert("L" if spec.channels == 1 else "RGB")
    size, resample = spec.input_size, _PIL_FILTERS[spec.interpolation]
    if spec.crop_pct is None:
        image = image.resize((size, size), resample)
    else:
        image = _resize_shorter_then_crop(image, size, spec.crop_pct, resample)
    array = np.asarray(image, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(array.astype(np.float32) / 255.0)


def _resize_shorter_then_crop(image: Image.Image, size: int, crop_pct: float, resample: int) -> Image.Image:
    # timm's eval transform: torchvision Resize(floor(size / crop_pct)) then CenterCrop(size).
    scale = math.floor(size / crop_pct)
    width, height = image.size
    if width <= height:
        new = (scale, int(scale * height / width))
    else:
        new = (int(scale * width / height), scale)
    image = image.resize(new, resample)
    left = int(round((new[0] - size) / 2.0))
    top = int(round((new[1] - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def _torch_pixels(image: Image.Image, spec: Preprocessing) -> torch.Tensor:
    if image.mode == "F":
        array = np.array(image, dtype=np.float32)  # already a [0, 1] intensity
    elif image.mode in _SIXTEEN_BIT:
        array = np.array(image, dtype=np.float32) / 65535.0
    else:
        array = np.array(image.convert("L" if image.mode in _GREY else "RGB"), dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return to_float_images(array[None], spec.input_size, spec.channels)[0]
