"""`workbench confirm`: re-train a study's front (and its top K) longer with several seeds,
store the confirmed accuracies and the proxy-to-confirmed Kendall tau, print both."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from workbench.cli.common import add_study_arguments, print_json, print_table

if TYPE_CHECKING:
    from workbench.confirm import ConfirmSummary

NAME = "confirm"
HELP = "re-train the front and the top trials longer, with several seeds; store the proxy's tau"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.confirm import DEFAULT_SEEDS, DEFAULT_TOP, EPOCHS_FACTOR
    from workbench.profiling.protocol import DEVICE_CHOICES

    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Re-train each Pareto trial of a study, plus its top K by proxy accuracy, with the study's own "
                    "recipe but longer and with several seeds (seed i of trial n: space seed + n + 1000*i, so the "
                    "first seed is the trial's own). Each finished seed is stored at once (study attribute "
                    "'confirm:<trial>'), so Ctrl-C keeps it and the same command resumes. Then Kendall's tau of "
                    "proxy against confirmed accuracy, with a bootstrap interval, is stored as "
                    "'fidelity_kendall_tau' (needs 3 confirmed trials).",
    )
    add_study_arguments(parser)
    parser.add_argument("--top", type=int, default=DEFAULT_TOP,
                        help=f"also confirm the K best trials by proxy accuracy (default {DEFAULT_TOP}; 0: front only)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help=f"seeds per trial (default {DEFAULT_SEEDS})")
    parser.add_argument("--epochs", type=float, default=None,
                        help=f"training epochs per run (default {EPOCHS_FACTOR}x the space's proxy epochs: 15 for "
                             "digits, the long run of the fidelity benchmark); another value than a stored "
                             "confirmation's starts that trial over")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where to train (default auto: CUDA when present)")
    parser.add_argument("--data", help="dataset spec replacing the study's (e.g. cifar10:/path/to/cifar-10-batches-py)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.confirm import confirm_study

    summary = confirm_study(args.study, args.storage, top=args.top, seeds=args.seeds, epochs=args.epochs,
                            device=args.device, data=args.data, progress=not args.no_progress)
    if args.format == "json":
        print_json(summary.to_dict())
    else:
        print_summary(summary)
    return 130 if summary.interrupted else 0


def print_summary(summary: ConfirmSummary) -> None:
    """What was confirmed (or kept, when interrupted), one row per trial, then the tau line."""
    if summary.interrupted:
        kept = sum(len(c.samples) for c in summary.confirmations if c.epochs == summary.epochs)
        print(f"interrupted: the running seed was stopped; {kept} finished seed run(s) are kept "
              "(run the same command again to resume)")
    for note in summary.notes:
        print(f"note: {note}")
    print(f"study '{summary.study_name}' in {summary.storage}: {len(summary.confirmations)} trials at "
          f"{summary.epochs:g} epochs x {summary.seeds} seeds on {summary.device}; "
          f"this run trained {summary.trained} seed run(s) in {summary.seconds:.0f} s")
    rows = []
    for item in summary.confirmations:
        confirmed = "" if item.accuracy is None else f"{item.accuracy:.4f}"
        confirmed += f" ± {item.sd:.4f}" if item.sd is not None else ""
        rows.append({"trial": item.number, "chosen": "+".join(item.chosen), "proxy": f"{item.proxy_accuracy:.4f}",
                     "confirmed": confirmed, "seeds": len(item.samples),
                     "epochs": "" if item.epochs is None else f"{item.epochs:g}"})
    print_table(rows, ["trial", "chosen", "proxy", "confirmed", "seeds", "epochs"])
    tau = summary.tau
    if tau is not None:
        interval = "" if tau["low"] is None else f" (95% bootstrap interval {tau['low']:.2f} to {tau['high']:.2f})"
        value = "undefined (all tied)" if tau["tau"] is None else f"{tau['tau']:.2f}"
        print(f"Kendall tau, proxy vs confirmed accuracy: {value}{interval}; n = {tau['n']} trials, "
              f"{tau['epochs']:g} epochs, at least {tau['seeds']} seeds each "
              "(stored as study attribute fidelity_kendall_tau)")
    elif not summary.interrupted:
        print("Kendall tau: not stored (see the note above)")
