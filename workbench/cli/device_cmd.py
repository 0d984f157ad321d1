"""`workbench device bundle | import | list`: measure a space's models on a device that cannot
run the workbench, import the measurements, list the devices."""

from __future__ import annotations

import argparse
import sys

from workbench.cli.common import print_table, seed_value

NAME = "device"
HELP = "bundle models to time on another device, import its measurements, list devices"
DEVICES_HELP = "the devices folder (default: $WORKBENCH_DEVICES, else ./devices)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(NAME, help=HELP, description=HELP)
    commands = parser.add_subparsers(dest="device_command", metavar="SUBCOMMAND", parser_class=type(parser))
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)
    _register_bundle(commands)
    _register_import(commands)
    listing = commands.add_parser("list", help="the imported devices, their measurements and predictor errors")
    listing.add_argument("--devices", help=DEVICES_HELP)
    listing.set_defaults(handler=run_list)


def _register_bundle(commands: argparse._SubParsersAction) -> None:
    bundle = commands.add_parser(
        "bundle", help="write a folder and .zip of ONNX models of a space, a manifest and a self-contained runner",
        description="Choose architectures spanning a space (scrambled Sobol samples spread over its MACs range, "
                    "plus a study's Pareto front), export their BN-folded ONNX graphs (and int8 ones with --int8) "
                    "and write them with manifest.json, run_bundle.py (needs only Python 3, numpy, onnxruntime) "
                    "and a README. The manifest is kept in the devices folder for `workbench device import`.")
    bundle.add_argument("--space", required=True, help="a space name or YAML file")
    bundle.add_argument("--archs", type=int, default=100, help="space-filling architectures (default 100)")
    bundle.add_argument("--study", help="also bundle this study's Pareto front")
    bundle.add_argument("--storage", help="the study's storage URL or path (default: sqlite:///workbench.db)")
    bundle.add_argument("--front", action="store_true", help="with --study: bundle only its front (a round of "
                                                              "active learning: measure what the search found)")
    bundle.add_argument("--int8", action="store_true", help="also bundle int8 graphs (calibrated on the space's "
                                                             "training images, as a search's int8 target)")
    bundle.add_argument("--int8-for", choices=("any", "x86", "arm"), default="any",
                        help="the CPU family the int8 graphs are quantized for (default any: 7-bit weights, safe on "
                             "x86 without VNNI; arm: full 8-bit weights)")
    bundle.add_argument("--seed", type=seed_value, default=0, help="Sobol scrambling and weight seed (default 0)")
    bundle.add_argument("--out", required=True, help="the bundle folder to write (DIR and DIR.zip; must not exist)")
    bundle.add_argument("--devices", help=DEVICES_HELP)
    bundle.set_defaults(handler=run_bundle)


def _register_import(commands: argparse._SubParsersAction) -> None:
    imp = commands.add_parser(
        "import", help="check a bundle's results.json, store it as a device and fit its latency predictors",
        description="Check results.json against the bundle's manifest (bundle id, manifest and model sha256, "
                    "protocol, every model present), store the measurements as DIR/NAME/device.json and fit the "
                    "device's latency predictor per precision, printing its cross-validated error.")
    imp.add_argument("results", help="the results.json run_bundle.py wrote")
    imp.add_argument("--name", required=True, help="the device's name, e.g. pi5")
    imp.add_argument("--devices", help=DEVICES_HELP)
    imp.add_argument("--partial", action="store_true", help="import a run that did not time every model")
    imp.add_argument("--replace", action="store_true", help="replace a device of the same name")
    imp.add_argument("--add", action="store_true", help="add these measurements to the device of the same name "
                                                         "(a second bundle, e.g. --front; the predictor is refitted)")
    imp.set_defaults(handler=run_import)


def run_bundle(args: argparse.Namespace) -> int:
    from workbench.devices.bundle import make_bundle

    made = make_bundle(args.space, args.out, archs=args.archs, study=args.study, storage=args.storage,
                       front_only=args.front, int8=args.int8, seed=args.seed, devices=args.devices,
                       int8_for=args.int8_for,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    manifest = made.manifest
    archs = len({m["arch_hash"] for m in manifest["models"]})
    for reason in made.skipped:
        print(f"left out (does not export): {reason}", file=sys.stderr)
    print(f"bundle {manifest['bundle_id']}: {len(manifest['models'])} models of {archs} architectures of space "
          f"'{manifest['space']}' -> {made.folder} and {made.zip_path}")
    print(f"on the device: python3 run_bundle.py in that folder; then: workbench device import "
          f"{made.folder / 'results.json'} --name DEVICE")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from workbench.devices.importing import import_results

    done = import_results(args.results, args.name, devices=args.devices, partial=args.partial,
                          replace=args.replace, add=args.add)
    device = done.device
    added = ", ".join(f"{p} {n}" for p, n in sorted(done.added.items()))
    print(f"device '{args.name}': {added} measurements imported ({len(device['measurements'])} in all) -> {done.path}")
    for precision, entry in sorted(device["predictors"].items()):
        if precision in done.before:
            print(f"  {precision} before: {done.before[precision]['summary']}")
        if precision in done.held_out:
            held = done.held_out[precision]
            print(f"  {precision} the earlier predictor on the {held['architectures']} new architectures: MAPE "
                  f"{held['mape']:.1%}, {held['within_10pct']:.0%} within +-10%")
        print(f"  {precision}{' now' if precision in done.before else ''}: {entry['summary']}"
              f"{'' if entry['offered'] else ' (not offered: it does not beat the MACs baseline)'}")
    for precision, reason in sorted(device["predictors_skipped"].items()):
        print(f"  {precision}: no predictor ({reason})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from workbench.devices.catalog import device_rows
    from workbench.predictors.folder import devices_folder

    folder = devices_folder(args.devices)
    rows = device_rows(folder)
    if not rows:
        print(f"no devices in {folder} (import one with `workbench device import results.json --name NAME`)")
        return 0
    print_table(rows, ["name", "cpu", "machine", "onnxruntime", "threads", "bundles", "measured", "predictors"])
    return 0
