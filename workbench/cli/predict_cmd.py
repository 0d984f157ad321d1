"""`workbench predict`: classify images with a trained model (PyTorch or onnxruntime)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "predict"
HELP = "classify an image or a folder with a model.pt or model.onnx (accuracy for labelled folders)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Convert each image as the model's training data were (the preprocessing recorded in the "
                    "model file or the ONNX metadata) and print the top classes with their probabilities. A folder "
                    "of <class>/ sub-folders, or a folder: dataset root (its test/ split), also reports accuracy.",
    )
    parser.add_argument("model", help="model.pt (from `workbench train` or `workbench weights import`) or model.onnx")
    parser.add_argument("input", help="an image, a folder of images, or a folder of <class>/ folders")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="classes shown per image (default 3)")
    parser.add_argument("--onnx", action="store_true", help="run the model.onnx beside MODEL with onnxruntime")
    parser.add_argument("--int8", action="store_true", help="run the model.int8.onnx beside MODEL (from "
                        "`workbench train --int8`) with onnxruntime")
    parser.add_argument("--summary", action="store_true", help="print only the accuracy line (labelled folders)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.inference import accuracy, list_inputs, load_model, load_onnx, predict

    if args.top < 1:
        raise WorkbenchError(f"--top must be at least 1, got {args.top}")
    path = Path(args.model)
    if path.suffix == ".onnx" or args.onnx or args.int8:
        suffix = ".int8.onnx" if args.int8 else ".onnx"
        onnx_path = path if path.suffix == ".onnx" else path.with_name(f"{path.stem}{suffix}")
        if not onnx_path.is_file():
            fix = "train with --int8" if args.int8 else f"train with --onnx, or `workbench weights refresh {path} " \
                                                        "--onnx`"
            raise WorkbenchError(f"{onnx_path}: no ONNX file beside {path.name} ({fix})")
        model, preprocess = load_onnx(onnx_path)
    else:
        model, preprocess = load_model(path)
    items = list_inputs(args.input, model.class_names)
    predictions = predict(model, preprocess, items, model.class_names, top_k=args.top)
    if not args.summary:
        for item in predictions:
            classes = "  ".join(f"{name} {p:.4f}" for name, p in item.top)
            truth = f"  (true: {item.label})" if item.label is not None else ""
            print(f"{item.path}: {classes}{truth}")
    correct, labelled = accuracy(predictions)
    if labelled:
        engine = "pytorch"
        if path.suffix == ".onnx" or args.onnx or args.int8:
            engine = "onnxruntime int8" if args.int8 or path.name.endswith(".int8.onnx") else "onnxruntime"
        print(f"accuracy {correct / labelled:.4f} ({correct}/{labelled} images, {engine}) on {args.input}")
    return 0
