"""`workbench export`: write one trial of a study as a config that `workbench train` rebuilds."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli.common import add_force_argument, add_study_arguments, human

NAME = "export"
HELP = "export a picked trial as a config (architecture + training recipe + provenance)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        NAME, help=HELP,
        description="Pick a trial of a study under its budgets (the study's stored budgets, overridden by the "
                    "--max-* flags) and write its architecture, a full-training recipe and its provenance. Accuracies "
                    "within each other's noise are ties, and a tie goes to the cheaper trial.",
    )
    add_study_arguments(parser)
    parser.add_argument("--pick", default="knee", metavar="SPEC",
                        help="knee | best-accuracy | cheapest-within:POINTS | trial:N (default: knee)")
    parser.add_argument("--by", choices=("proxy", "confirmed"), default="proxy",
                        help="rank on the search's proxy accuracy or on the accuracy `workbench confirm` measured "
                             "(trials without a confirmation are left out; default: proxy)")
    parser.add_argument("--max-latency-ms", type=float, help="latency budget (p50, ms) for the pick")
    parser.add_argument("--max-macs", type=float, help="MACs budget for the pick")
    parser.add_argument("--max-params", type=float, help="parameter budget for the pick")
    parser.add_argument("--epochs", type=float, default=None, help="full-training epochs written into the recipe "
                                                                   "(default 30)")
    parser.add_argument("--out", required=True, help="the config file to write (.yaml or .json)")
    add_force_argument(parser, "an existing --out file")
    parser.add_argument("--format", choices=("yaml", "json"), help="file format (default: from --out's suffix, else "
                                                                   "yaml)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workbench.config.export import DEFAULT_EPOCHS
    from workbench.export import export_study

    config, _ = export_study(
        args.study, pick=args.pick, storage=args.storage, out=args.out, fmt=args.format,
        max_params=args.max_params, max_macs=args.max_macs, max_latency_ms=args.max_latency_ms,
        epochs=args.epochs if args.epochs is not None else DEFAULT_EPOCHS, by=args.by, force=args.force,
    )
    prov = config.provenance
    figures = prov.measured
    from workbench.export_inherited import is_inherited

    kind = "inherited (supernet)" if is_inherited(config) else "proxy"
    accuracy = f"{kind} accuracy {figures.accuracy:.4f}" if figures.accuracy is not None else "never scored"
    if args.by == "confirmed":
        accuracy = f"confirmed accuracy {_confirmed(args, prov.trial)}, {accuracy}"
    print(f"exported trial {prov.trial} of '{prov.study}' ({prov.pick}): {accuracy}, "
          f"{human(figures.params or 0)} params, {human(figures.macs or 0)} MACs{_latency(args, figures)} "
          f"-> {args.out}", file=sys.stdout)
    _inherited_weights(args, config)
    return 0


def _inherited_weights(args: argparse.Namespace, config: Any) -> None:
    """A supernet trial's inherited weights beside its config (for `workbench train --init`)."""
    from workbench.export_inherited import is_inherited, weights_path, write_inherited_weights
    from workbench.results import open_results

    if not is_inherited(config):
        return
    study, _ = open_results(config.provenance.study, args.storage)
    weights = write_inherited_weights(study, config, weights_path(args.out), force=args.force)
    print(f"inherited weights (from the supernet, not trained) -> {weights}; fine-tune with "
          f"`workbench train --config {args.out} --init {weights}`", file=sys.stdout)


def _latency(args: argparse.Namespace, figures: Any) -> str:
    """', latency p50 0.31 ms on ort-cpu': the headline target's figure ('' when not measured)."""
    from workbench.record import StudyRecord
    from workbench.results.frame import headline_target
    from workbench.storage import load_study

    target = headline_target(StudyRecord.of(load_study(args.study, args.storage)).latency_targets)
    value = (figures.latency_targets_p50_ms or {}).get(target) if target else figures.latency_p50_ms
    if value is None:
        return ""
    return f", latency p50 {value:.3g} ms" + (f" on {target}" if target else "")


def _confirmed(args: argparse.Namespace, number: int) -> str:
    """The picked trial's confirmed accuracy with its recipe, '0.9700 ± 0.0040 (sd) at 15 epochs × 3 seeds'
    (it was picked on it)."""
    from workbench.record import StudyRecord
    from workbench.storage import load_study

    found = StudyRecord.of(load_study(args.study, args.storage)).confirmations.get(number) or {}
    sd, epochs, samples = found.get("sd"), found.get("epochs"), found.get("samples") or []
    return (f"{float(found.get('accuracy', float('nan'))):.4f}" + (f" ± {float(sd):.4f} (sd)" if sd is not None else "")
            + (f" at {float(epochs):g} epochs × {len(samples)} seeds" if epochs is not None else ""))
