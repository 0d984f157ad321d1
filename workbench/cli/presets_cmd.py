"""`workbench presets`: list the reference architectures with parameters and MACs."""

from __future__ import annotations

import argparse

from workbench.cli.common import human, print_json, print_table

NAME = "presets"
HELP = "list reference architectures with params and MACs"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(NAME, help=HELP)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.models import build_model, get_preset, preset_names
    from workbench.profiling.counting import count_model

    rows = []
    for name in preset_names():
        arch = get_preset(name)
        counts = count_model(build_model(arch), arch)
        rows.append({"name": name, "family": arch.family, "input_size": arch.input_size,
                     "num_classes": arch.num_classes, "params": counts.params, "macs": counts.macs})
    if args.format == "json":
        print_json(rows)
    else:
        print_table([{**r, "params": human(r["params"]), "macs": human(r["macs"])} for r in rows],
                    ["name", "family", "input_size", "num_classes", "params", "macs"])
        print("\nmacs = multiply-accumulates of conv and linear layers (the GhostNet paper's 'FLOPs').")
    return 0
