"""`workbench studies`: the studies in a storage with their trial counts, objectives and devices."""

from __future__ import annotations

import argparse
import json

from workbench.cli.common import print_table
from workbench.results import list_studies
from workbench.storage import DEFAULT_STORAGE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("studies", help="list the studies in a storage")
    parser.add_argument("--storage", help=f"Optuna storage URL, a .db file or a journal file (default: {DEFAULT_STORAGE})")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
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
