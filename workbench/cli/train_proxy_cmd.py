"""`workbench train-proxy`: a short proxy training run of one architecture on a dataset.

With `--space NAME` it scores exactly as that space's search does: the space's dataset and
splits, input size, recipe (BatchNorm recalibration included) and seed rule (`--trial N`
uses trial N's seeds, all `repeats` of them), so an exported trial's config reproduces the
accuracy recorded for it. Without `--space` it uses the dataset's default recipe.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from workbench.cli.common import (
    add_arch_arguments,
    parse_set_values,
    print_json,
    print_table,
    resolve_arch,
    seed_value,
)
from workbench.cli.config_origin import check_trial_claim
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.config.arch import ArchConfig
    from workbench.data import Dataset
    from workbench.training import ProxyRecipe

DEFAULT_EPOCHS = 3.0

NAME = "train-proxy"
HELP = "train an architecture briefly and print its validation accuracy"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.training import ZERO_COST_PROXIES

    parser = subparsers.add_parser(NAME, help=HELP)
    add_arch_arguments(parser, required=False)
    parser.add_argument("--space", help="score as this space's search does (its data, recipe and seed rule); "
                                        "without --preset/--config, its base architecture")
    parser.add_argument("--trial", type=int, help="with --space: use trial N's seeds (reproduces its recorded "
                                                  "accuracy)")
    parser.add_argument("--data", help="digits (default), cifar10:PATH, cifar100:PATH or folder:PATH (replaces the "
                                       "space's)")
    parser.add_argument("--epochs", type=float, help="epochs, fractions allowed (default: the space's, else "
                                                     f"{DEFAULT_EPOCHS:g})")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the space's or the dataset's recipe)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the space's or the dataset's recipe)")
    parser.add_argument("--seed", type=seed_value,
                        help="seeds initialisation, splits and data order (default 0; with --space the space's "
                             "seed rule)")
    parser.add_argument("--device", help="cpu, cuda[:N] or auto (default: with --space the space's device, "
                                          "as its search trains; else cpu)")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), help="mixed precision (default: the recipe's, none)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--zero-cost", action="store_true", help="also print the zero-cost proxies "
                                                                 f"({', '.join(ZERO_COST_PROXIES)})")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def match_arch_to_data(arch: ArchConfig, data: Dataset, from_config: str | None) -> ArchConfig:
    """Fit a preset's classes, channels and input size to the data; a config file must already match."""
    from workbench.models.presets import apply_overrides

    wanted = {"num_classes": data.num_classes, "in_channels": data.in_channels, "input_size": data.input_size}
    if from_config is None:
        return apply_overrides(arch, wanted)
    for key, value in wanted.items():
        if getattr(arch, key) != value:
            raise WorkbenchError(f"{from_config}: {key} is {getattr(arch, key)} but dataset '{data.name}' has {value}")
    return arch


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe settings given on the command line."""
    changes: dict[str, Any] = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "amp": args.amp}
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.channels_last:
        changes["channels_last"] = True
    return changes


def _recipe(args: argparse.Namespace, dataset_name: str) -> ProxyRecipe:
    from workbench.training import ProxyRecipe

    changes = {"epochs": DEFAULT_EPOCHS, **_changes(args), "seed": 0 if args.seed is None else args.seed}
    from pydantic import ValidationError

    try:
        return ProxyRecipe.for_dataset(dataset_name, **changes)
    except ValidationError as error:  # the option as typed, the rule and the value, without pydantic's URL
        first = error.errors()[0]
        flag = "--" + str((first.get("loc") or ("?",))[0]).replace("_", "-")
        raise WorkbenchError(
            f"invalid training option {flag}: {first.get('msg')} (got {first.get('input')!r})"
        ) from None


def _space_device(space_name: str | None) -> str:
    """The device a space's search trains on (`auto`: CUDA when present), so that a trial's
    score is reproduced on the device that recorded it."""
    from workbench.profiling.protocol import resolve_device
    from workbench.search.loading import load_space

    latency = load_space(space_name, check_budgets=False).latency if space_name else None
    return resolve_device((latency or {}).get("device", "auto"))


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WorkbenchError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise WorkbenchError(f"--device {device}: unknown device (allowed: cpu, cuda, cuda:N)")


def run(args: argparse.Namespace) -> int:
    if args.device is None or args.device == "auto":
        args.device = _space_device(args.space) if args.space is not None or args.device == "auto" else "cpu"
    _check_device(args.device)
    if args.space is not None:
        report = _run_space(args)
    else:
        if args.trial is not None:
            raise WorkbenchError("--trial needs --space (the space whose seed rule numbers the trials)")
        if args.preset is None and args.config is None:
            raise WorkbenchError("give the architecture: --preset NAME or --config FILE (or --space NAME for its base)")
        report = _run_plain(args)
    if args.format == "json":
        print_json(report)
    else:
        _print_report(report)
    return 0


def _run_plain(args: argparse.Namespace) -> dict[str, Any]:
    from workbench.data import load_dataset
    from workbench.models import build_model
    from workbench.training import ZERO_COST_PROXIES, TrainingDiverged, seed_everything, train_proxy, zero_cost_score

    arch = resolve_arch(args)
    seed = 0 if args.seed is None else args.seed
    data = load_dataset(args.data or "digits", input_size=arch.input_size, in_channels=arch.in_channels, seed=seed)
    arch = match_arch_to_data(arch, data, args.config)
    recipe = _recipe(args, data.name)
    seed_everything(seed)
    model = build_model(arch)
    report: dict[str, Any] = {"arch": arch.name, "data": data.summary(), "recipe": recipe.model_dump()}
    if args.zero_cost:
        report["zero_cost"] = {name: zero_cost_score(name, model, data, seed=seed) for name in ZERO_COST_PROXIES}
    try:
        report["result"] = train_proxy(model, data, recipe, device=args.device).to_dict()
    except TrainingDiverged as error:
        raise WorkbenchError(f"training diverged: {error.reason}") from None
    return report


def _run_space(args: argparse.Namespace) -> dict[str, Any]:
    """Score as the space's search does; `score` holds the mean over the trial's seeds."""
    from workbench.models import build_model
    from workbench.models.presets import apply_overrides
    from workbench.search.loading import load_space
    from workbench.search.scoring import accuracy_figures, train_candidate
    from workbench.search.space_resolve import resolve_space
    from workbench.search.workers import load_search_data
    from workbench.training import ZERO_COST_PROXIES, TrainingDiverged, seed_everything, zero_cost_score

    if args.trial is not None and args.trial < 0:
        raise WorkbenchError(f"--trial must be a trial number (0 or more), got {args.trial}")
    if args.trial is not None and args.seed is not None:
        raise WorkbenchError("give --trial N (its seeds) or --seed S, not both")
    space = load_space(args.space, data=args.data, check_budgets=False)
    if space.accuracy.source != "proxy":
        raise WorkbenchError(
            f"{space.source}: accuracy.source is '{space.accuracy.source}'; train-proxy --space needs "
            "a proxy-trained space"
        )
    if args.config is not None and args.trial is not None:
        note = check_trial_claim(args.config, space, args.trial)
        if note:
            print(f"note: {note}", file=sys.stderr)
    changes = _changes(args)
    if changes:  # the score then no longer reproduces the study's
        space = space.replace(recipe={**space.recipe, **changes})
    resolved = resolve_space(space, device="cpu")
    base = resolved.base
    data = load_search_data(resolved, args.device)
    if args.preset is None and args.config is None:
        overrides = parse_set_values(args.set)
        if args.input_size is not None:
            overrides["input_size"] = args.input_size
        arch = match_arch_to_data(apply_overrides(base, overrides) if overrides else base, data, None)
    else:
        arch = match_arch_to_data(resolve_arch(args), data, args.config)
    if args.trial is not None:
        seeds = space.trial_seeds(args.trial)
    else:
        seeds = [space.seed if args.seed is None else args.seed]
    recipe = resolved.recipe.model_copy(update={"seed": seeds[0]})
    report: dict[str, Any] = {
        "arch": arch.name,
        "space": space.source,
        "trial": args.trial,
        "data": data.summary(),
        "recipe": recipe.model_dump(),
    }
    if args.zero_cost:
        seed_everything(seeds[0])
        report["zero_cost"] = {
            name: zero_cost_score(name, build_model(arch), data, seed=seeds[0]) for name in ZERO_COST_PROXIES
        }
    runs = []
    for seed in seeds:
        try:
            runs.append(train_candidate(resolved.recipe, arch, data, seed, device=args.device).to_dict())
        except TrainingDiverged as error:
            raise WorkbenchError(f"training diverged (seed {seed}): {error.reason}") from None
    report["result"] = runs[0]
    report["runs"] = runs
    report["score"] = {**accuracy_figures([run["val_accuracy"] for run in runs], len(data.val_y)), "seeds": seeds}
    return report


def _print_report(report: dict[str, Any]) -> None:
    result, data = report["result"], report["data"]
    print(f"{report['arch']} on {data['name']} (train {data['train']}, val {data['val']}, {data['input_size']}px)")
    for index, run in enumerate(report.get("runs") or [result]):
        if len(report.get("runs") or []) > 1:
            print(f"seed {report['score']['seeds'][index]}:")
        rows = [
            {"epoch": i + 1, "val_accuracy": f"{acc:.4f}", "train_loss": f"{loss:.4f}"}
            for i, (acc, loss) in enumerate(zip(run["val_curve"], run["loss_curve"]))
        ]
        print_table(rows, ["epoch", "val_accuracy", "train_loss"])
    print(
        f"\nval accuracy {result['val_accuracy']:.4f} (best {result['best_val_accuracy']:.4f}) after "
        f"{result['epochs_run']:g} epochs; train {result['train_seconds']:.1f} s, eval {result['eval_seconds']:.1f} "
        "s, "
        f"{result['images_per_second']:.0f} images/s"
    )
    score = report.get("score")
    if score is not None:
        seeds = ", ".join(str(s) for s in score["seeds"])
        trial = f"trial {report['trial']} of " if report.get("trial") is not None else ""
        spread = f", sd {score['accuracy_sd']:.4f}" if score.get("accuracy_sd") is not None else ""
        print(
            f"score as {trial}{report['space']}: accuracy {score['accuracy']:.4f} (95% interval "
            f"{score['accuracy_ci_low']:.4f}-{score['accuracy_ci_high']:.4f} from {score['val_size']} validation "
            f"images{spread}; seeds {seeds})"
        )
    for note in result["notes"]:
        print(f"note: {note}")
    for name, value in report.get("zero_cost", {}).items():
        print(f"zero-cost {name}: {value:.6g}")
