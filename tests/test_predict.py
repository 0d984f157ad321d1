"""`workbench predict` and `workbench.load_model`: the recorded preprocessing turns image files
into exactly the tensors training used (the digits test split, written as image files, gives
metrics.json's test accuracy through PyTorch and through onnxruntime), hand-computed
conversions of image modes and sizes, and bad input (exit 2, one line)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.train import exported, tiny_arch
from PIL import Image

import workbench
from workbench.cli.main import main
from workbench.config import dump_model
from workbench.data.digits import read_digits
from workbench.data.preprocessing import Preprocessing, preprocess_image
from workbench.data.splits import stratified_split

pytest.importorskip("onnxruntime")
SEED = 3  # the recipe's seed in test_train.exported


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained 2 epochs on all of digits (16 px), with model.onnx."""
    root = tmp_path_factory.mktemp("predict")
    dump_model(exported(tiny_arch()), root / "c.yaml")
    assert main(["train", str(root / "c.yaml"), "--epochs", "2", "--onnx", "--out", str(root / "run"),
                 "--no-progress", "--device", "cpu"]) == 0
    return root / "run"


def _digits_test_split_as_files(root, suffix: str):
    """The test split carved as `load_dataset` carves it (seed, 20%), one file per image in a
    `folder:` layout; TIFF keeps the float pixels exactly, PNG rounds them to 8 bits."""
    raw = read_digits()
    _, held = stratified_split(raw.train[1], 0.2, SEED)
    for index in held:
        pixels, label = raw.train[0][index][0], raw.train[1][index]
        image = (Image.fromarray(pixels.astype(np.float32), mode="F") if suffix == ".tiff"
                 else Image.fromarray(np.round(pixels * 255).astype(np.uint8)))
        (root / "test" / str(label)).mkdir(parents=True, exist_ok=True)
        image.save(root / "test" / str(label) / f"{index}{suffix}")
    return root, len(held)


@pytest.mark.parametrize("engine", ["pytorch", "onnx"])
def test_round_trip_reproduces_test_accuracy(run, tmp_path, capsys, engine) -> None:
    folder, count = _digits_test_split_as_files(tmp_path / "digits", ".tiff")
    capsys.readouterr()
    flags = ["--onnx"] if engine == "onnx" else []
    assert main(["predict", str(run / "model.pt"), str(folder), "--summary", *flags]) == 0
    line = capsys.readouterr().out.strip()
    metrics = json.loads((run / "metrics.json").read_text())
    correct = round(metrics["test_accuracy"] * count)
    assert correct / count == metrics["test_accuracy"]
    assert line.startswith(f"accuracy {metrics['test_accuracy']:.4f} ({correct}/{count} images")


def test_onnx_file_alone_carries_preprocessing_and_classes(run, tmp_path, capsys) -> None:
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "seven.png")
    capsys.readouterr()
    assert main(["predict", str(run / "model.onnx"), str(tmp_path / "seven.png"), "--top", "3"]) == 0
    onnx_line = capsys.readouterr().out.strip()
    assert main(["predict", str(run / "model.pt"), str(tmp_path / "seven.png"), "--top", "3"]) == 0
    torch_line = capsys.readouterr().out.strip()
    names = onnx_line.split(": ", 1)[1].split()[0::2]
    assert len(names) == 3 and set(names) <= {str(d) for d in range(10)}
    assert names == torch_line.split(": ", 1)[1].split()[0::2]


def test_load_model_api(run, tmp_path) -> None:
    payload = torch.load(run / "model.pt", weights_only=True)
    assert payload["class_names"] == [str(d) for d in range(10)]
    assert payload["preprocessing"]["input_size"] == 16 and payload["preprocessing"]["channels"] == 3
    model, preprocess = workbench.load_model(run / "model.pt")
    assert not model.training and model.class_names == payload["class_names"]
    Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / "photo.jpg")
    x = preprocess(tmp_path / "photo.jpg")
    assert x.shape == (3, 16, 16)
    assert model(x[None]).shape == (1, 10)


def test_preprocessing_by_hand() -> None:
    spec = Preprocessing(input_size=2, channels=1, mean=[0.5], std=[0.5])
    checker = Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8))
    assert preprocess_image(checker, spec).tolist() == [[[-1.0, 1.0], [1.0, -1.0]]]
    # Grey is repeated to 3 channels; RGB becomes grey by BT.601 luma; 16-bit and float modes scale to [0, 1].
    three = Preprocessing(input_size=2, channels=3, mean=[0.0] * 3, std=[1.0] * 3)
    assert preprocess_image(Image.new("L", (2, 2), 51), three)[:, 0, 0].tolist() == pytest.approx([0.2] * 3)
    red = preprocess_image(Image.new("RGB", (2, 2), (255, 0, 0)), spec)
    assert red[0, 0, 0].item() == pytest.approx((0.299 - 0.5) / 0.5)
    sixteen = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    assert preprocess_image(sixteen, spec)[0, 0, 0].item() == pytest.approx(1.0)
    assert preprocess_image(Image.fromarray(np.full((2, 2), 0.25, np.float32), mode="F"), spec)[0, 0, 0].item() == -0.5
    assert preprocess_image(Image.new("RGBA", (5, 7), (0, 0, 255, 0)), three).shape == (3, 2, 2)
    # A 1x1 image upsampled stays constant.
    unit = Preprocessing(input_size=4, channels=1, mean=[0.0], std=[1.0])
    upscaled = preprocess_image(Image.new("L", (1, 1), 255), unit)
    assert upscaled.unique().tolist() == [1.0]


def test_imagenet_resize_keeps_aspect_and_crops_the_centre() -> None:
    spec = Preprocessing(input_size=224, channels=3, mean=[0.0] * 3, std=[1.0] * 3, interpolation="bicubic",
                         resampler="pillow", crop_pct=0.875)
    # 512 x 256 with a value per column pair: the shorter side is already floor(224 / 0.875) = 256,
    # so the crop takes columns round((512 - 224) / 2) = 144 ... 367, rows 16 ... 239.
    ramp = np.tile((np.arange(512) // 2).astype(np.uint8), (256, 1))
    out = preprocess_image(Image.fromarray(ramp), spec)
    assert out.shape == (3, 224, 224)
    assert out[0, 0, 0].item() * 255 == pytest.approx(72) and out[0, 0, -1].item() * 255 == pytest.approx(183)


def test_bad_input_is_one_line(run, tmp_path, capsys) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    folder = tmp_path / "set" / "test" / "3"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(broken.read_bytes())
    stale_onnx = tmp_path / "old.onnx"
    stale_onnx.write_bytes((run / "model.onnx").read_bytes())
    import onnx

    proto = onnx.load(str(stale_onnx))
    del proto.metadata_props[:]
    onnx.save(proto, str(stale_onnx))
    (tmp_path / "set2" / "cat").mkdir(parents=True)
    cases = [
        ([str(run / "model.pt"), str(broken)], f"{broken}: cannot decode this image"),
        ([str(run / "model.pt"), str(tmp_path / "set"), "--onnx"], "a.png: cannot decode this image"),
        ([str(stale_onnx), str(broken)], "records no preprocessing; re-export it with `workbench weights refresh"),
        ([str(run / "model.pt"), str(tmp_path / "missing.png")], "no such image or folder"),
        ([str(run / "model.pt"), str(tmp_path / "set2")], "class 'cat' is not one of the model's classes"),
        ([str(run / "checkpoint.pt"), str(broken)], "not a workbench weights file"),
        ([str(run / "model.pt"), str(broken), "--top", "0"], "--top must be at least 1"),
    ]
    for argv, message in cases:
        assert main(["predict", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and message in err, (argv, err)
