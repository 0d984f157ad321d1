"""An ImageFolder-style tree: `train/<class>/*.png`, optional `val/` and `test/` alike.

Images open through `workbench.data.images.open_image`: one over its pixel limit is refused
before it is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from workbench.data.images import open_image
from workbench.data.memory import check_fits, float_tensor_bytes
from workbench.data.raw import RawData
from workbench.errors import WorkbenchError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def read_folder(path: str | Path, input_size: int = 32, in_channels: int = 3) -> RawData:
    """Read every image under `path/train` (and `val/`, `test/` if present), resized by Pillow.

    Classes are the sub-folder names of `train/`, sorted; `val/` and `test/` may only use them.

    Example:
        >>> raw = read_folder("my_images", input_size=32)  # doctest: +SKIP
        >>> raw.classes                                     # doctest: +SKIP
        ['cat', 'dog']
    """
    root = Path(path)
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise WorkbenchError(f"{train_dir}: missing 'train/' folder (expected {root}/train/<class>/<image>)")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise WorkbenchError(f"{train_dir}: needs at least two class folders, found {len(classes)}")
    splits = {name: _list_images(root / name, classes) for name in ("train", "val", "test") if (root / name).is_dir()}
    total = sum(len(files) for files in splits.values())
    check_fits(float_tensor_bytes(total, in_channels, input_size) * 2, f"image folder {root}")
    mode = "L" if in_channels == 1 else "RGB"
    arrays = {name: _read_images(files, input_size, mode) for name, files in splits.items()}
    return RawData(name=f"folder:{root}", classes=classes, train=arrays["train"],
                   val=arrays.get("val"), test=arrays.get("test"))


def _list_images(split_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    files = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if class_dir.name not in classes:
            raise WorkbenchError(f"{class_dir}: class '{class_dir.name}' is not among train/'s classes "
                                 f"({', '.join(classes)})")
        label = classes.index(class_dir.name)
        files += [(f, label) for f in sorted(class_dir.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise WorkbenchError(f"{split_dir}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _read_images(files: list[tuple[Path, int]], size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    channels = 1 if mode == "L" else 3
    images = np.empty((len(files), channels, size, size), dtype=np.uint8)
    for index, (file, _) in enumerate(files):
        try:
            with open_image(file) as image:
                pixels = np.asarray(image.convert(mode).resize((size, size), Image.BILINEAR))
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise WorkbenchError(f"{file}: unreadable image ({error})") from None
        images[index] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    return images, np.array([label for _, label in files], dtype=np.int64)
