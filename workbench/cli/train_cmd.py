"""`workbench train`: rebuild an exported architecture exactly and train it for real."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cli.common import add_force_argument, parse_set_values

if TYPE_CHECKING:
    from workbench.config.export import ExportConfig

NAME = "train"
HELP = "rebuild an exported config and train it (checkpoints, resume, test accuracy, ONNX)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Rebuild the architecture of an exported config (refusing if its parameters or MACs differ "
                    "from the recorded ones), train it with the config's recipe, checkpoint every epoch, "
                    "evaluate the test split once at the end, and write metrics.json and model.pt "
                    "(and model.onnx with --onnx), both carrying the preprocessing and class names.",
    )
    parser.add_argument("config", nargs="?", help="the exported config (.yaml/.json), or a plain ArchConfig file")
    parser.add_argument("--config", dest="config_option", metavar="FILE", help="the same, as an option")
    parser.add_argument("--preset", help="train a preset (with --set overrides) instead of a config file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset's knob, e.g. num_classes=10 or input_size=64 (with --preset)")
    parser.add_argument("--init", metavar="WEIGHTS",
                        help="start from a model file (from `workbench weights import` or an earlier run); "
                             "what does not fit is re-initialised and the share inherited is reported")
    parser.add_argument("--data", help="dataset spec replacing the recipe's (digits, cifar10:PATH, cifar100:PATH, "
                                       "folder:PATH)")
    parser.add_argument("--epochs", type=float, help="epochs replacing the recipe's")
    parser.add_argument("--seed", type=int, help="seed replacing the recipe's")
    parser.add_argument("--out", help="output folder (default: runs/<config stem or preset>/)")
    parser.add_argument("--resume", action="store_true", help="continue from the folder's last checkpoint")
    add_force_argument(parser, "files in --out (model.pt, metrics.json, model.onnx)")
    parser.add_argument("--onnx", action="store_true", help="also export model.onnx (BN folded) and check it against "
                                                            "PyTorch")
    parser.add_argument("--int8", action="store_true", help="also write model.int8.onnx: static int8 quantization "
                        "(QDQ, per-channel) calibrated on 64 seeded training images as a search's int8 target is, "
                        "with its test accuracy and drop against fp32")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, as a search trains; up to "
                        "this host's cores for a faster run on an otherwise idle machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.training.checkpoint import WEIGHTS_NAME
    from workbench.training.full import default_out_dir, train_full
    from workbench.training.onnx import INT8_NAME, ONNX_NAME

    config, source = _config(args)
    _pin_threads(args.threads)
    out = Path(args.out) if args.out else default_out_dir(source)
    result = train_full(config, out, data_spec=args.data, epochs=args.epochs, seed=args.seed, resume=args.resume,
                        onnx=args.onnx, device=args.device, progress=not args.no_progress, init=args.init,
                        say=lambda line: print(line, flush=True), int8=args.int8,
                        force=args.force)
    test = f"{result.test_accuracy:.4f}" if result.test_accuracy is not None else "–"
    onnx = f", {out / ONNX_NAME}" if args.onnx else ""
    print(f"test accuracy {test} after {result.epochs:g} epochs ({result.wall_seconds:.1f} s on "
          f"{_threads_text(args.threads)}; best validation "
          f"{result.best_val_accuracy:.4f} at epoch {result.best_epoch}) -> {out / WEIGHTS_NAME}{onnx}; "
          f"try: workbench predict {out / WEIGHTS_NAME} IMAGE|FOLDER{' --onnx' if args.onnx else ''}")
    if result.int8 is not None:
        q = result.int8
        print(f"int8 test accuracy {q['accuracy']:.4f} (95% {q['ci_low']:.4f}-{q['ci_high']:.4f}; the QDQ graph's "
              f"own arithmetic) vs fp32 {q['fp32_accuracy']:.4f} in ONNX Runtime: drop {q['drop']:+.4f} (95% "
              f"{q['drop_ci_low']:+.4f} to {q['drop_ci_high']:+.4f}); this host's int8 kernels "
              f"{q['host_accuracy']:.4f}{'' if q['host_agrees'] else ' (DIFFERS beyond the paired interval)'} -> "
              f"{out / INT8_NAME}; try: workbench predict {out / INT8_NAME} FOLDER")
    return 0


def _pin_threads(threads: int) -> None:
    """Train with `threads` CPU threads, refusing a count outside 1..cores; says so in one line."""
    from workbench.profiling.hostfacts import check_threads
    from workbench.search.threads import set_torch_threads

    check_threads(threads, "--threads")
    set_torch_threads(threads)


def _threads_text(threads: int) -> str:
    """'1 CPU thread, more with --threads N' for the summary line."""
    from workbench.profiling.hostfacts import usable_cores

    hint = ", more with --threads N" if threads == 1 and usable_cores() > 1 else ""
    return f"{threads} CPU thread{'s' if threads > 1 else ''}{hint}"


def _config(args: argparse.Namespace) -> tuple[ExportConfig, str]:
    """The config to train and the name its default output folder comes from."""
    from workbench.config.export import ExportConfig, load_config
    from workbench.errors import WorkbenchError
    from workbench.models.presets import get_preset

    path = args.config or args.config_option
    given = [name for name, value in (("a config file", path), ("--preset", args.preset)) if value]
    if args.config and args.config_option:
        raise WorkbenchError("give the config once: either as an argument or with --config")
    if len(given) != 1:
        raise WorkbenchError("give the config file to train (workbench train FILE.yaml) or --preset NAME, "
                             f"not {' and '.join(given) or 'neither'}")
    if args.set and not args.preset:
        raise WorkbenchError("--set applies to --preset; edit the config file instead")
    if args.preset:
        return ExportConfig(arch=get_preset(args.preset, **parse_set_values(args.set))), args.preset
    return load_config(path), path
