"""`workbench weights`: import a timm checkpoint; give an older model file its preprocessing."""

from __future__ import annotations

import argparse

NAME = "weights"
HELP = "import pretrained timm weights; refresh an older model file's preprocessing"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.cli.common import add_force_argument
    from workbench.weights.timm import TIMM_PRESETS

    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Model files that `train --init`, `predict` and `workbench.load_model` read.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))
    imported = actions.add_parser(
        "import", help="turn a timm GhostNet, GhostNetV2 or RepGhostNet checkpoint (.pth/.bin/.safetensors) into a "
                       "workbench model file",
        description="Rename every tensor of a timm ghostnet_050/100/130, ghostnetv2_100/130/160 or "
                    "repghostnet_050..200 checkpoint to the workbench preset's "
                    "names, refuse any key it cannot place or any shape that differs, and write a model file "
                    "carrying timm's ImageNet preprocessing (mean/std, bicubic resize, crop 0.875, 224 px).",
    )
    imported.add_argument("file", help="the checkpoint: a state dict (.pth/.bin/.pt) or .safetensors")
    imported.add_argument("--from", dest="source", required=True, choices=("timm",), help="who wrote it")
    imported.add_argument("--preset", required=True, help="the timm name: " + ", ".join(TIMM_PRESETS))
    imported.add_argument("--out", required=True, help="the model file to write (e.g. ghostnet_100_in1k.pt)")
    add_force_argument(imported, "an existing --out file")
    imported.set_defaults(handler=run_import)
    refresh = actions.add_parser(
        "refresh", help="add the preprocessing record to a model.pt from an older workbench",
        description="Reload the dataset its recipe names (same seed and splits), recompute the normalisation "
                    "from the training split and rewrite the model file with preprocessing and class names.",
    )
    refresh.add_argument("model", help="the model.pt to rewrite")
    refresh.add_argument("--data", help="dataset spec replacing the recipe's (where the data now live)")
    refresh.add_argument("--onnx", action="store_true", help="also re-export model.onnx beside it with the metadata")
    add_force_argument(refresh, "a model.onnx beside it")
    refresh.set_defaults(handler=run_refresh)


def run_import(args: argparse.Namespace) -> int:
    from workbench.cli.common import human
    from workbench.data.preprocessing import IMAGENET
    from workbench.weights.importer import import_weights

    result = import_weights(args.file, args.preset, args.out, source=args.source, force=args.force)
    print(f"imported {result.tensors} tensors ({human(result.params)} parameters) of timm {result.preset} from "
          f"{args.file} -> {result.out}; preprocessing: {IMAGENET.describe()}")
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    from workbench.weights.refresh import refresh_model_file

    spec = refresh_model_file(args.model, data_spec=args.data, onnx=args.onnx, force=args.force)
    onnx = ", model.onnx re-exported" if args.onnx else ""
    print(f"{args.model}: preprocessing recorded ({spec.describe()})" + onnx)
    return 0
