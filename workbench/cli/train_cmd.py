"""`workbench train`: rebuild an exported architecture exactly and train it for real."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="rebuild an exported config and train it (checkpoints, resume, test accuracy, ONNX)",
        description="Rebuild the architecture of an exported config (refusing if its parameters or MACs differ "
                    "from the recorded ones), train it with the config's recipe, checkpoint every epoch, "
                    "evaluate the test split once at the end, and write metrics.json and model.pt "
                    "(and model.onnx with --onnx).",
    )
    parser.add_argument("config", nargs="?", help="the exported config (.yaml/.json), or a plain ArchConfig file")
    parser.add_argument("--config", dest="config_option", metavar="FILE", help="the same, as an option")
    parser.add_argument("--data", help="dataset spec replacing the recipe's (digits, cifar10:PATH, cifar100:PATH, folder:PATH)")
    parser.add_argument("--epochs", type=float, help="epochs replacing the recipe's")
    parser.add_argument("--seed", type=int, help="seed replacing the recipe's")
    parser.add_argument("--out", help="output folder (default: runs/<config stem>/)")
    parser.add_argument("--resume", action="store_true", help="continue from the folder's last checkpoint")
    parser.add_argument("--onnx", action="store_true", help="also export model.onnx (BN folded) and check it against PyTorch")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.config.export import load_config
    from workbench.errors import WorkbenchError
    from workbench.training.full import default_out_dir, train_full

    path = args.config or args.config_option
    if not path:
        raise WorkbenchError("give the config file to train (workbench train FILE.yaml)")
    if args.config and args.config_option:
        raise WorkbenchError("give the config once: either as an argument or with --config")
    config = load_config(path)
    out = Path(args.out) if args.out else default_out_dir(path)
    result = train_full(config, out, data_spec=args.data, epochs=args.epochs, seed=args.seed, resume=args.resume,
                        onnx=args.onnx, device=args.device, progress=not args.no_progress)
    test = f"{result.test_accuracy:.4f}" if result.test_accuracy is not None else "–"
    print(f"trained {result.epochs:g} epochs in {result.wall_seconds:.1f} s: best validation accuracy "
          f"{result.best_val_accuracy:.4f} (epoch {result.best_epoch}), test accuracy {test} -> {out}/")
    return 0
