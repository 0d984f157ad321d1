"""`workbench profile`: parameters and MACs of a preset or an ArchConfig file."""

from __future__ import annotations

import argparse

from workbench.cli.common import add_arch_arguments, human, print_json, print_table, resolve_arch
from workbench.models import build_model
from workbench.profiling.counting import count_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("profile", help="measure a preset or an ArchConfig file")
    add_arch_arguments(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    arch = resolve_arch(args)
    counts = count_model(build_model(arch), arch)
    result = {"name": arch.name, "input_size": arch.input_size, "params": counts.params, "macs": counts.macs}
    if args.format == "json":
        print_json(result)
    else:
        print_table([{**result, "params": human(counts.params), "macs": human(counts.macs)}],
                    ["name", "input_size", "params", "macs"])
    return 0
