"""`workbench supernet train`: train the once-for-all supernet of a space (sandwich rule,
in-place distillation); the file resumes after Ctrl-C and feeds `accuracy: {source: supernet}`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.common import add_force_argument, positive_int
from workbench.errors import WorkbenchError

NAME = "supernet"
HELP = "train a weight-sharing supernet whose subnets a search scores in seconds"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(NAME, help=HELP)
    actions = parser.add_subparsers(dest="supernet_action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train (or resume) the supernet of a space into a file")
    train.add_argument("--space", required=True, help="the space whose subnets the supernet covers (name or path)")
    train.add_argument("--epochs", type=positive_int, default=20, help="epochs of the sandwich rule (default 20)")
    train.add_argument("--out", required=True, help="the supernet file to write (an unfinished one is resumed)")
    train.add_argument("--randoms", type=int, default=4, choices=range(0, 9), metavar="N",
                       help="random subnets per step beside the largest and smallest (default 4: inherited "
                            "tau 0.33 vs 0.11 with 2 in bench_supernet)")
    train.add_argument("--device", default="auto", help="cpu, cuda[:N] or auto (default: CUDA when present)")
    train.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    add_force_argument(train, "an existing --out file (training starts over)")
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from workbench.search.supernet_run import load_space_to_train, train_space_supernet
    from workbench.search.threads import set_torch_threads

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WorkbenchError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    set_torch_threads(args.threads)
    space = load_space_to_train(args.space)

    def say(entry: dict) -> None:
        print(f"epoch {entry['epoch']}: loss {entry['loss']:.3f}, validation accuracy largest "
              f"{entry['largest_accuracy']:.4f}, smallest {entry['smallest_accuracy']:.4f} "
              f"({entry['seconds']:.0f} s) -> {args.out}", file=sys.stderr)

    try:
        result = train_space_supernet(space, args.out, epochs=args.epochs, device=device, randoms=args.randoms,
                                      force=args.force, on_epoch=say)
    except KeyboardInterrupt:
        if Path(args.out).exists():
            print(f"stopped; the last finished epoch is in {args.out}: run the same command to resume", file=sys.stderr)
        else:
            print(f"stopped before the first epoch ended; nothing was written to {args.out}", file=sys.stderr)
        return 130
    last = result["history"][-1] if result.get("history") else None
    tail = (f"largest {last['largest_accuracy']:.4f}, smallest {last['smallest_accuracy']:.4f}" if last else "")
    print(f"supernet of space '{space.name}' trained {result['epoch']} epochs ({tail}) -> {args.out}")
    return 0
