"""Opening the image files a user hands over, with one explicit size limit.

A PNG of 20000 x 20000 pixels can take 48 KB on disk and over a gigabyte once decoded (a
"decompression bomb"). Pillow warns above its own limit and refuses above twice that, each in
its own words; the workbench refuses every image over `MAX_IMAGE_PIXELS` itself, from the
header alone and before decoding, in one line that names the file. Every reader of user images
(`folder:` datasets, `workbench predict`) opens them through `open_image`.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "small.png"
    >>> Image.new("L", (4, 3)).save(path)
    >>> with open_image(path) as image:
    ...     image.size
    (4, 3)
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image

from workbench.errors import WorkbenchError

# 100 megapixels (300 MB as 8-bit RGB) is more than any camera photo a small vision model
# classifies; it stays below Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS, about 179
# megapixels), so this is the one limit a user meets.
MAX_IMAGE_PIXELS = 100_000_000


def open_image(path: str | Path) -> Image.Image:
    """`Image.open(path)` (lazy: the header only), refused when the image is over
    `MAX_IMAGE_PIXELS`. Use it as a context manager, as `Image.open`.

    Raises:
        WorkbenchError: naming the file, its size and the limit. Files Pillow cannot identify
            raise Pillow's own errors (`UnidentifiedImageError`, `OSError`), for the caller to word.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, in our words
            image = Image.open(path)
    except Image.DecompressionBombError as error:  # over Pillow's hard limit: refused before we see the size
        found = re.search(r"\((\d+) pixels\)", str(error))
        raise WorkbenchError(_too_large(path, int(found.group(1)) if found else None)) from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise WorkbenchError(_too_large(path, width * height, f"{width}x{height}, "))
    return image


def _too_large(path: str | Path, pixels: int | None, size: str = "") -> str:
    shown = f"{size}{pixels / 1e6:.0f} megapixels" if pixels else "over Pillow's limit"
    return (f"{path}: image too large to decode ({shown}; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
            "workbench.data.images.MAX_IMAGE_PIXELS): a decompression bomb, or a picture to shrink first")
