"""Figures of issue 12: timm weights map exactly; model -> ONNX -> predict reproduces metrics.json.

1. Mapping: for ghostnet_050/100/130, a timm-named checkpoint (timm's keys and shapes, the
   deterministic values of tests/fake_timm.py) is written as .pth, .bin and .safetensors,
   imported with `workbench weights import`, and the workbench model's logits are compared with
   the logits real timm 1.0.31 computed on the same weights (tests/data/timm_ghostnet_reference.json),
   in float64 and in float32 (float32 agrees bit for bit only with the same thread count).
2. Round trip: `workbench train --preset ghostnet_cifar_050 --data digits --onnx` (a few epochs),
   then the digits test split written as image files in a `folder:` layout, float TIFF (exact
   pixels) and 8-bit PNG, goes through `workbench predict` with PyTorch and with onnxruntime; each
   accuracy is compared with metrics.json's test accuracy.

    .venv/bin/python benchmarks/bench_pretrained.py [--epochs 5] [--out reports/benchmarks]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from _report import save_report  # noqa: E402
from fake_timm import VARIANTS, fake_input, fake_state, reference  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from workbench.cli.main import main  # noqa: E402
from workbench.data.digits import read_digits  # noqa: E402
from workbench.data.splits import stratified_split  # noqa: E402
from workbench.inference import load_model  # noqa: E402


def _quiet(argv: list[str]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    if code != 0:
        raise SystemExit(f"workbench {' '.join(argv)} failed ({code})")
    return buffer.getvalue()


def mapping(work: Path) -> list[dict]:
    rows = []
    for variant, record in reference()["variants"].items():
        state = fake_state(record["keys"])
        writers = {".pth": lambda p: torch.save(state, p), ".bin": lambda p: torch.save({"state_dict": state}, p),
                   ".safetensors": lambda p: save_file(state, str(p))}
        for suffix, write in writers.items():
            source = work / f"{variant}{suffix}"
            write(source)
            _quiet(["weights", "import", "--from", "timm", str(source), "--preset", variant,
                    "--out", str(work / "w.pt")])
            model, _ = load_model(work / "w.pt")
            with torch.no_grad():
                diff32 = (model(fake_input()) - torch.tensor(record["logits"])).abs().max().item()
                diff64 = (model.double()(fake_input().double())
                          - torch.tensor(record["logits_float64"], dtype=torch.float64)).abs().max().item()
            rows.append({"variant": variant, "format": suffix, "tensors": len(state), "max_abs_diff_float64": diff64,
                         "max_abs_diff_float32": diff32, "threads": torch.get_num_threads()})
    return rows


def round_trip(work: Path, epochs: float) -> dict:
    run = work / "run"
    _quiet(["train", "--preset", "ghostnet_cifar_050", "--set", "num_classes=10", "--data", "digits",
            "--epochs", str(epochs), "--onnx", "--out", str(run), "--no-progress", "--device", "cpu"])
    metrics = json.loads((run / "metrics.json").read_text())
    seed, fraction = metrics["config"]["train"]["seed"], metrics["config"]["train"]["test_fraction"]
    raw = read_digits()
    _, held = stratified_split(raw.train[1], fraction, seed)
    result = {"epochs": epochs, "metrics_test_accuracy": metrics["test_accuracy"], "test_images": len(held)}
    for suffix in (".tiff", ".png"):
        folder = work / f"digits{suffix}"
        for index in held:
            pixels, label = raw.train[0][index][0], raw.train[1][index]
            image = (Image.fromarray(pixels.astype(np.float32), mode="F") if suffix == ".tiff"
                     else Image.fromarray(np.round(pixels * 255).astype(np.uint8)))
            (folder / "test" / str(label)).mkdir(parents=True, exist_ok=True)
            image.save(folder / "test" / str(label) / f"{index}{suffix}")
        for engine, flags in (("pytorch", []), ("onnxruntime", ["--onnx"])):
            line = _quiet(["predict", str(run / "model.pt"), str(folder), "--summary", *flags]).strip()
            correct, total = line.split("(")[1].split(" ")[0].split("/")
            result[f"{suffix[1:]}_{engine}"] = {"correct": int(correct), "total": int(total),
                                                "accuracy": int(correct) / int(total)}
    return result


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = mapping(Path(tmp))
        trip = round_trip(Path(tmp), args.epochs)
    report = {"mapping": rows, "round_trip": trip, "variants": list(VARIANTS), "torch": torch.__version__}
    lines = ["# Pretrained weights and predict", "",
             "Max |logit difference| against timm 1.0.31 on the same weights (timm's float32 figure was computed "
             f"on one thread; this run used {torch.get_num_threads()}).", "",
             "| timm variant | file | tensors | float64 | float32 |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['variant']} | {r['format']} | {r['tensors']} | {r['max_abs_diff_float64']:.3g} | "
              f"{r['max_abs_diff_float32']:.3g} |" for r in rows]
    lines += ["", f"Round trip, ghostnet_cifar_050 on digits, {trip['epochs']:g} epochs: metrics.json test accuracy "
              f"{trip['metrics_test_accuracy']:.4f} ({trip['test_images']} images)", "",
              "| images | engine | predict accuracy | equal to metrics.json |", "| --- | --- | --- | --- |"]
    for key, value in trip.items():
        if isinstance(value, dict):
            images, engine = key.split("_")
            same = value["accuracy"] == trip["metrics_test_accuracy"]
            lines.append(f"| {images} | {engine} | {value['accuracy']:.4f} "
                         f"({value['correct']}/{value['total']}) | {same} |")
    save_report(args.out, "pretrained", report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main_()
