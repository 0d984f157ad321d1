"""`workbench search`: run or continue a search of a space, then print its summary.

`workbench search --space digits` works with no other argument: the study is named after the
space and stored in `sqlite:///workbench.db` in the working directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from typing import TYPE_CHECKING, Any

from workbench.cli.common import human, positive_int, print_table, seed_value

if TYPE_CHECKING:
    from workbench.search.summary import SearchSummary

NAME = "search"
HELP = "search a space of Ghost architectures (create or continue a study)"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.profiling.protocol import DEVICE_CHOICES
    from workbench.search.optuna_samplers import SAMPLERS
    from workbench.search.runner import DEFAULT_HEARTBEAT_S
    from workbench.storage import DEFAULT_STORAGE

    parser = subparsers.add_parser(NAME, help=HELP)
    parser.add_argument("--space", default="digits", help="a space name (search_spaces/NAME.yaml) or a YAML path "
                                                          "(default: digits)")
    parser.add_argument("--study", help="study name (default: the space's name)")
    parser.add_argument("--storage", help="Optuna storage URL, a .db file or a journal file *.log (default: "
                                          f"{DEFAULT_STORAGE})")
    parser.add_argument("--trials", type=int, help="total trials the study should hold (counts earlier runs)")
    parser.add_argument("--timeout", type=float, help="total search seconds (counts earlier runs)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="tpe (default), nsga2, nsga3, gp or random")
    parser.add_argument("--workers", default=os.environ.get("WORKBENCH_WORKERS", "auto"),
                        help="local worker processes, or auto: one per core (default: $WORKBENCH_WORKERS, else auto); "
                             "on SQLite this command serves the file to its workers")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of each worker (default: 1; more fight the other workers for the cores)")
    parser.add_argument("--seed", type=seed_value, help="sampler and trial seed (default: the space's seed)")
    parser.add_argument("--device", choices=DEVICE_CHOICES,
                        help="where to train and time (default: the space's latency device; auto = CUDA when present)")
    parser.add_argument("--data", help="dataset spec replacing the space's (e.g. cifar10:/path/to/cifar-10-batches-py)")
    parser.add_argument("--allow-space-change", action="store_true", help="continue a study whose space file changed")
    parser.add_argument("--heartbeat", type=positive_int, default=DEFAULT_HEARTBEAT_S,
                        help=f"seconds between worker heartbeats on a database server, at least 1 (default: "
                             f"{DEFAULT_HEARTBEAT_S})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="summary format")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.search.loading import load_space
    from workbench.search.runner import run_search

    space = load_space(args.space, data=args.data)
    summary = run_search(
        space, study_name=args.study, storage=args.storage, sampler=args.sampler, trials=args.trials,
        timeout=args.timeout, workers=args.workers, threads=args.threads, seed=args.seed, device=args.device,
        allow_space_change=args.allow_space_change, progress=not args.no_progress, heartbeat=args.heartbeat,
    )
    if args.format == "json":
        print(json.dumps(summary_dict(summary), indent=2, default=str))
    else:
        print_summary(summary, args.storage)
    return 130 if summary.interrupted else 0


def summary_dict(summary: SearchSummary) -> dict[str, Any]:
    """The summary as JSON-able data."""
    return {
        "study": summary.study_name, "storage": summary.storage, "ran": summary.ran,
        "seconds": round(summary.seconds, 2),
        "states": summary.states, "statuses": summary.statuses, "objectives": summary.metric_names,
        "pareto": summary.pareto, "best": summary.best, "interrupted": summary.interrupted,
        "orphans_failed": summary.orphans_failed, "noise": summary.noise, "ladder": summary.ladder,
    }


def print_summary(summary: SearchSummary, storage_arg: str | None) -> None:
    """Trials by state, the Pareto trials and where to look next."""
    if summary.interrupted:
        print("interrupted: the running trial was stopped; every finished trial is kept")
    states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(summary.states.items()))
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items()))
    print(f"study '{summary.study_name}' in {summary.storage}: {sum(summary.states.values())} trials ({states}); "
          f"by status: {statuses}; this run: {summary.ran} trials in {summary.seconds:.0f} s")
    if summary.orphans_failed:
        print(f"{summary.orphans_failed} trial(s) left running by a dead worker were marked failed")
    if summary.noise:
        print(noise_line(summary.noise))
    inherited = [source for source in summary.accuracy_sources if source.startswith("supernet")]
    if inherited:
        print(f"accuracy inherited from a supernet, never trained ({'; '.join(inherited)}); confirm a front "
              "with `workbench confirm` to train it from scratch")
    for target, note in summary.law_notes.items():
        print(f"latency on {target}: {note}")
    if summary.ladder:
        print(f"ladder: {summary.ladder} (candidates past the zero-cost screen / screened; candidates scored on "
              "each rung); the front below is the top rung's")
    if summary.pareto:
        rows = []
        for row in summary.pareto:
            rows.append({
                "trial": row["number"],
                "accuracy": f"{row['accuracy']:.4f}" if row.get("accuracy") is not None else "",
                "macs": human(row["macs"]) if row.get("macs") is not None else "",
                "params": human(row["params"]) if row.get("params") is not None else "",
                summary.latency_name: f"{row['latency_ms']:.2f}" if row.get("latency_ms") is not None else "",
                "knobs": ", ".join(f"{k}={_short(v)}" for k, v in (row.get("knobs") or {}).items()),
            })
        print(f"Pareto trials ({', '.join(summary.metric_names)}; feasible only):")
        print_table(rows, ["trial", "accuracy", "macs", "params", summary.latency_name, "knobs"])
    else:
        print("no feasible completed trial yet")
    storage = f" --storage {shlex.quote(storage_arg)}" if storage_arg else ""
    study = shlex.quote(summary.study_name)
    print("next:")
    print("  streamlit run app.py")
    print(f"  workbench report --study {study}{storage}")
    print(f"  workbench export --study {study}{storage} --pick knee --out best.yaml")


def noise_line(noise: dict[str, Any]) -> str:
    """`seed noise: sd 0.8 points over 3 trials x 3 seeds` (accuracy points = percent).

    Example:
        >>> noise_line({"sd": 0.0081, "trials": 3, "seeds": 3})
        'seed noise: sd 0.81 points over 3 trials x 3 seeds'
    """
    return f"seed noise: sd {noise['sd'] * 100:.2g} points over {noise['trials']} trials x {noise['seeds']} seeds"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
