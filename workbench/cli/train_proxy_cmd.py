"""`workbench train-proxy`: a short proxy training run of one architecture on a dataset."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from workbench.cli.common import add_arch_arguments, print_json, print_table, resolve_arch
from workbench.config.arch import ArchConfig
from workbench.data import Dataset, load_dataset
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.models.presets import apply_overrides
from workbench.training import ZERO_COST_PROXIES, ProxyRecipe, TrainingDiverged, seed_everything, train_proxy, zero_cost_score


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train-proxy", help="train an architecture briefly and print its validation accuracy")
    add_arch_arguments(parser)
    parser.add_argument("--data", default="digits", help="digits (default), cifar10:PATH, cifar100:PATH or folder:PATH")
    parser.add_argument("--epochs", type=float, default=3.0, help="epochs, fractions allowed (default: 3)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the dataset's recipe)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the dataset's recipe)")
    parser.add_argument("--seed", type=int, default=0, help="seeds initialisation, splits and data order")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--zero-cost", action="store_true", help=f"also print the zero-cost proxies ({', '.join(ZERO_COST_PROXIES)})")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def match_arch_to_data(arch: ArchConfig, data: Dataset, from_config: str | None) -> ArchConfig:
    """Fit a preset's classes, channels and input size to the data; a config file must already match."""
    wanted = {"num_classes": data.num_classes, "in_channels": data.in_channels, "input_size": data.input_size}
    if from_config is None:
        return apply_overrides(arch, wanted)
    for key, value in wanted.items():
        if getattr(arch, key) != value:
            raise WorkbenchError(f"{from_config}: {key} is {getattr(arch, key)} but dataset '{data.name}' has {value}")
    return arch


def _recipe(args: argparse.Namespace, dataset_name: str) -> ProxyRecipe:
    changes: dict[str, Any] = {"epochs": args.epochs, "seed": args.seed, "amp": args.amp, "channels_last": args.channels_last}
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.lr is not None:
        changes["lr"] = args.lr
    try:
        return ProxyRecipe.for_dataset(dataset_name, **changes)
    except ValueError as error:
        raise WorkbenchError(f"invalid training option: {str(error).splitlines()[-1].strip()}") from None


def _check_device(device: str) -> None:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WorkbenchError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise WorkbenchError(f"--device {device}: unknown device (allowed: cpu, cuda, cuda:N)")


def run(args: argparse.Namespace) -> int:
    _check_device(args.device)
    arch = resolve_arch(args)
    data = load_dataset(args.data, input_size=arch.input_size, in_channels=arch.in_channels, seed=args.seed)
    arch = match_arch_to_data(arch, data, args.config)
    recipe = _recipe(args, data.name)
    seed_everything(args.seed)
    model = build_model(arch)
    report: dict[str, Any] = {"arch": arch.name, "data": data.summary(), "recipe": recipe.model_dump()}
    if args.zero_cost:
        report["zero_cost"] = {name: zero_cost_score(name, model, data, seed=args.seed) for name in ZERO_COST_PROXIES}
    try:
        result = train_proxy(model, data, recipe, device=args.device)
    except TrainingDiverged as error:
        raise WorkbenchError(f"training diverged: {error.reason}") from None
    report["result"] = result.to_dict()
    if args.format == "json":
        print_json(report)
    else:
        _print_report(report)
    return 0


def _print_report(report: dict[str, Any]) -> None:
    result, data = report["result"], report["data"]
    print(f"{report['arch']} on {data['name']} (train {data['train']}, val {data['val']}, {data['input_size']}px)")
    rows = [{"epoch": i + 1, "val_accuracy": f"{acc:.4f}", "train_loss": f"{loss:.4f}"}
            for i, (acc, loss) in enumerate(zip(result["val_curve"], result["loss_curve"]))]
    print_table(rows, ["epoch", "val_accuracy", "train_loss"])
    print(f"\nval accuracy {result['val_accuracy']:.4f} (best {result['best_val_accuracy']:.4f}) after "
          f"{result['epochs_run']:g} epochs; train {result['train_seconds']:.1f} s, eval {result['eval_seconds']:.1f} s, "
          f"{result['images_per_second']:.0f} images/s")
    for note in result["notes"]:
        print(f"note: {note}")
    for name, value in report.get("zero_cost", {}).items():
        print(f"zero-cost {name}: {value:.6g}")
