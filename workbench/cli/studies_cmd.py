"""`workbench studies`: the studies in a storage with their trial counts, objectives and devices."""

from __future__ import annotations

import argparse
import json

from workbench.cli.common import print_table

NAME = "studies"
HELP = "list the studies in a storage"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.storage import DEFAULT_STORAGE

    parser = subparsers.add_parser(NAME, help=HELP)
    parser.add_argument("--storage", help="Optuna storage URL, a .db file or a journal file (default: "
                                          f"{DEFAULT_STORAGE})")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.results import list_studies

    frame = list_studies(args.storage)
    rows = frame.to_dict(orient="records")
    for row in rows:
        row["started"] = row["started"].strftime("%Y-%m-%d %H:%M") if row.get("started") is not None else ""
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print("no studies (run `workbench search --space digits`)")
    else:
        print_table(rows, list(frame.columns))
    return 0
