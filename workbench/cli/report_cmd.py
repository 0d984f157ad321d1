"""`workbench report`: a study as a self-contained HTML page, CSV tables and a Markdown summary."""

from __future__ import annotations

import argparse

from workbench.cli.common import add_force_argument, add_study_arguments

NAME = "report"
HELP = "write a study's report: index.html (offline), trials.csv, pareto.csv, summary.md"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Write a study's report folder: a self-contained index.html with the Pareto fronts, "
                    "hypervolume, importance and MACs-vs-latency charts; trials.csv; pareto.csv; summary.md.",
    )
    add_study_arguments(parser)
    parser.add_argument("--out", help="output folder (default: reports/<study>/)")
    add_force_argument(parser, "report files in --out")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.report import write_report

    paths = write_report(args.study, storage=args.storage, out=args.out, force=args.force)
    print(f"report of '{args.study}' written to {paths.folder}/: "
          f"{paths.html.name}, {paths.trials_csv.name}, {paths.pareto_csv.name}, {paths.summary_md.name}")
    return 0
