"""Entry point of the `workbench` command.

Each subcommand lives in its own module of this package and exposes `NAME`, `HELP` (its line
in `workbench --help`) and `register(subparsers)`, which adds its parser and sets `handler` to
a function taking the parsed arguments and returning an exit code. A `WorkbenchError` becomes
one line on stderr and exit code 2; `--debug` shows the traceback instead.

Start-up stays short: the command modules import nothing heavy at module level, and only the
command being run registers its arguments (which may import what their choices and defaults
come from); the others are listed by name and help line only. So `workbench --help` and
`workbench studies --help` never load torch.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from typing import Sequence

from workbench import __version__
from workbench.errors import WorkbenchError

# Subcommand modules, in the order `workbench --help` lists them.
COMMAND_MODULES = (
    "presets_cmd",
    "profile_cmd",
    "train_proxy_cmd",
    "search_cmd",
    "confirm_cmd",
    "studies_cmd",
    "report_cmd",
    "export_cmd",
    "train_cmd",
    "weights_cmd",
    "predict_cmd",
    "storage_cmd",
    "device_cmd",
    "supernet_cmd",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors use the same exit code (2) and one-line style as ours."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


ALL = "*"
# A write the disk refused (full, over quota or the file size limit, read-only) is the
# machine's state, not a bug: one line naming the file, wherever it was raised.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def build_parser(command: str | None = ALL) -> argparse.ArgumentParser:
    """The parser; `command`'s arguments are registered in full, every other subcommand by its
    name and help line only (`ALL`, the default: every subcommand in full; None: none)."""
    parser = _Parser(prog="workbench", description="Search, profile and ship efficient Ghost-style vision "
                                                   "architectures.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"workbench.cli.{name}")
        if command in (ALL, module.NAME):
            module.register(subparsers)
        else:
            subparsers.add_parser(module.NAME, help=module.HELP)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv`: its first word that is not an option (the top-level
    options take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 2 user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # registering a command imports what its choices come from: Ctrl-C may land here
        parser = build_parser(command_of(argv))
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except WorkbenchError as error:
        if args.debug:
            traceback.print_exc()
        print(f"workbench {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        if error.errno not in _DISK_ERRORS:
            raise
        if args.debug:
            traceback.print_exc()
        where = f" ({error.filename})" if error.filename else ""
        print(f"workbench {args.command}: error: cannot write{where}: {error.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted", file=sys.stderr)
        return 130


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
