"""Use a trained (or imported) model: `load_model`, `load_onnx` and what `workbench predict` runs.

A model file carries its preprocessing and class names, and so does an ONNX file written by
`workbench train --onnx` (in its metadata), so either one alone turns images into predictions.

Example:
    >>> import workbench, torch
    >>> model, preprocess = workbench.load_model("runs/best/model.pt")  # doctest: +SKIP
    >>> logits = model(preprocess("seven.png")[None])                    # doctest: +SKIP
    >>> model.class_names[int(logits.argmax())]                          # doctest: +SKIP
    '7'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError
from torch import nn

from workbench.config.export import ExportConfig
from workbench.data.folder import IMAGE_SUFFIXES
from workbench.data.images import open_image
from workbench.data.preprocessing import (
    ONNX_CLASS_NAMES_KEY,
    ONNX_PREPROCESSING_KEY,
    Preprocessing,
    preprocess_image,
)
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.training.checkpoint import load_model_file

ImageLike = str | Path | Image.Image


class Preprocess:
    """Callable: an image (path or PIL image, any size and mode) -> float32 C x H x W tensor."""

    def __init__(self, spec: Preprocessing) -> None:
        self.spec = spec

    def __call__(self, image: ImageLike) -> torch.Tensor:
        if isinstance(image, Image.Image):
            return preprocess_image(image, self.spec)
        return preprocess_image(read_image(image), self.spec)

    def __repr__(self) -> str:
        return f"Preprocess({self.spec.describe()})"


def read_image(path: str | Path) -> Image.Image:
    """Decode an image file fully (so a broken or oversized one fails here, naming the file)."""
    try:
        with open_image(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise WorkbenchError(f"{path}: cannot decode this image ({error})") from None


def load_model(path: str | Path) -> tuple[nn.Module, Preprocess]:
    """The eval-mode model of a model file and the `preprocess` its inputs need.

    The model also carries `class_names` (None for weights without them, e.g. ImageNet).

    Raises:
        WorkbenchError: not a model file, or one made before preprocessing was recorded.
    """
    payload = load_model_file(path)
    spec = _preprocessing(payload["preprocessing"], path)
    try:
        arch = ExportConfig.model_validate(payload["config"]).arch
    except ValidationError as error:
        raise WorkbenchError(f"{path}: its config does not validate ({error.errors()[0]['msg']})") from None
    model = build_model(arch)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise WorkbenchError(f"{path}: the weights do not fit its config ({str(error).splitlines()[0]})") from None
    model.eval()
    model.class_names = payload["class_names"]
    return model, Preprocess(spec)


class OnnxModel:
    """An onnxruntime session with the call signature of a model: NCHW tensor -> logits tensor."""

    def __init__(self, path: str | Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise WorkbenchError("ONNX inference needs onnx and onnxruntime (pip install onnx onnxruntime)") from None
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors for bad files
            raise WorkbenchError(f"{path}: not a readable ONNX model ({str(error).splitlines()[0]})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.class_names: list[str] | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {self.input_name: images.numpy()})[0])


def load_onnx(path: str | Path) -> tuple[OnnxModel, Preprocess]:
    """An ONNX file written by `workbench train --onnx`, with the preprocessing from its metadata.

    Raises:
        WorkbenchError: unreadable, or an ONNX file without the workbench's metadata.
    """
    model = OnnxModel(path)
    raw = model.metadata.get(ONNX_PREPROCESSING_KEY)
    spec = _preprocessing(json.loads(raw) if raw else None, path)
    names = model.metadata.get(ONNX_CLASS_NAMES_KEY)
    model.class_names = json.loads(names) if names else None
    return model, Preprocess(spec)


def _preprocessing(data: dict[str, Any] | None, path: str | Path) -> Preprocessing:
    if data is None:
        fix = (f"`workbench weights refresh {Path(path).with_suffix('.pt')} --onnx`" if Path(path).suffix == ".onnx"
               else f"`workbench weights refresh {path}` (add --onnx to rewrite model.onnx too)")
        raise WorkbenchError(f"{path}: made by an older workbench, it records no preprocessing; re-export it with "
                             f"{fix}")
    try:
        return Preprocessing.model_validate(data)
    except ValidationError as error:
        detail = error.errors()[0]["msg"]
        raise WorkbenchError(f"{path}: its preprocessing record does not validate ({detail})") from None


# --- predict -----------------------------------------------------------------------------------

@dataclass
class Prediction:
    """Top-k classes of one image (names, probabilities) and its true label when known."""

    path: str
    top: list[tuple[str, float]]
    label: str | None = None

    @property
    def correct(self) -> bool:
        return self.label is not None and self.top[0][0] == self.label


def list_inputs(path: str | Path, class_names: Sequence[str] | None) -> list[tuple[Path, str | None]]:
    """Images to predict, with labels where the layout gives them.

    An image file; a folder of images; a folder of `<class>/` sub-folders (labelled); or a
    `folder:` dataset root, whose `test/` split is used.
    """
    path = Path(path)
    if path.is_file():
        return [(path, None)]
    if not path.is_dir():
        raise WorkbenchError(f"{path}: no such image or folder")
    if (path / "test").is_dir():
        path = path / "test"
    classes = sorted(p for p in path.iterdir() if p.is_dir())
    if not classes:
        files = _images_in(path)
        return [(file, None) for file in files]
    known = set(class_names or ())
    items: list[tuple[Path, str | None]] = []
    for folder in classes:
        if folder.name not in known:
            allowed = ", ".join(class_names) if class_names else "the model has no class names"
            raise WorkbenchError(f"{folder}: class '{folder.name}' is not one of the model's classes ({allowed})")
        items += [(file, folder.name) for file in _images_in(folder, allow_empty=True)]
    if not items:
        raise WorkbenchError(f"{path}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return items


def _images_in(folder: Path, allow_empty: bool = False) -> list[Path]:
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files and not allow_empty:
        raise WorkbenchError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def predict(model: Callable[[torch.Tensor], torch.Tensor], preprocess: Preprocess,
            items: Sequence[tuple[Path, str | None]], class_names: Sequence[str] | None, top_k: int = 5,
            batch_size: int = 64) -> list[Prediction]:
    """Preprocess and classify every image, `batch_size` at a time; softmax probabilities."""
    predictions: list[Prediction] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        batch = torch.stack([preprocess(path) for path, _ in chunk])
        with torch.no_grad():
            probs = torch.softmax(model(batch).float(), dim=1)
        values, indices = probs.topk(min(top_k, probs.shape[1]), dim=1)
        for (path, label), row_p, row_i in zip(chunk, values.tolist(), indices.tolist()):
            names = [class_names[i] if class_names else str(i) for i in row_i]
            predictions.append(Prediction(str(path), list(zip(names, row_p)), label))
    return predictions


def accuracy(predictions: Sequence[Prediction]) -> tuple[int, int]:
    """(correct, labelled) over the predictions that have a label."""
    labelled = [p for p in predictions if p.label is not None]
    return sum(p.correct for p in labelled), len(labelled)

