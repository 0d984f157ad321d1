"""Helpers shared by the subcommands: choosing an architecture, parsing `--set`, printing."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.config.arch import ArchConfig

# Only what a command uses is imported, when it runs: `workbench --help` stays torch-free.


def add_arch_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """`--preset NAME | --config FILE` (one of them unless `required=False`), `--set
    key=value` and `--input-size N`."""
    from workbench.models.presets import OVERRIDE_FIELDS

    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--preset", help="a preset name (see `workbench presets`)")
    source.add_argument("--config", help="an ArchConfig YAML/JSON file, or an exported config")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help=f"override a knob (allowed keys: {', '.join(OVERRIDE_FIELDS)}); repeatable",
    )
    parser.add_argument("--input-size", type=int, help="input resolution (overrides the architecture's)")


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """`--study NAME` (required) and `--storage URL` for commands that read a finished study."""
    parser.add_argument("--study", required=True, help="study name")
    parser.add_argument("--storage", help="storage URL or path (default: sqlite:///workbench.db)")


def seed_value(text: str) -> int:
    """argparse type of a `--seed`: an integer in 0..MAX_SEED (numpy's generators refuse others)."""
    from workbench.config.export import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is an integer in 0..{MAX_SEED}, got {text[:40]!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is an integer in 0..{MAX_SEED}, got {text[:40]}")
    return value


def positive_int(text: str) -> int:
    """argparse type of a count or a number of seconds that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text[:40]}")
    return value


def add_force_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """`--force`: overwrite `what` (e.g. "an existing --out file") that the workbench did not write;
    a study storage is never overwritten (`workbench.outputs.check_output`)."""
    parser.add_argument("--force", action="store_true",
                        help=f"overwrite {what} that the workbench did not write (a study storage is never "
                             "overwritten)")


def parse_set_values(items: Iterable[str]) -> dict[str, Any]:
    """Turn `["ratio=3", "width=0.75"]` into typed values (YAML scalars)."""
    from workbench.config.io import yaml_value
    from workbench.models.presets import OVERRIDE_FIELDS

    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkbenchError(f"--set expects KEY=VALUE, got {item[:60]!r}")
        if key not in OVERRIDE_FIELDS:
            raise WorkbenchError(f"--set: unknown key {key[:60]!r} (allowed: {', '.join(OVERRIDE_FIELDS)})")
        values[key] = yaml_value(raw, f"--set {key}")
    return values


def resolve_arch(args: argparse.Namespace) -> ArchConfig:
    """The architecture named on the command line, with its overrides applied."""
    from workbench.config.io import load_arch
    from workbench.models.presets import apply_overrides, get_preset

    overrides = parse_set_values(args.set)
    if args.input_size is not None:
        overrides["input_size"] = args.input_size
    if args.preset:
        return get_preset(args.preset, **overrides)
    return apply_overrides(load_arch(args.config), overrides)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) if cells else len(col) for i, col in enumerate(columns)]
    print("  ".join(col.ljust(w) for col, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(value.ljust(w) for value, w in zip(row, widths)))


def print_json(data: Any) -> None:
    """Print JSON with a stable layout."""
    print(json.dumps(data, indent=2, default=str))


def human(value: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:g}"
