"""The devices folder: where imported device measurements and bundled manifests live.

    devices/                          (default ./devices; --devices DIR or env WORKBENCH_DEVICES)
      bundles/<bundle id>/manifest.json   the manifest of every bundle made here (import checks against it)
      <name>/device.json                  one device: its facts, measurements and fitted predictors

Why a folder and not the Optuna storage: a device's facts and measurements belong to no study.
Every study, in every storage (SQLite files, journals, a PostgreSQL server), may search for the
same Raspberry Pi, so its figures are kept once, beside the storages rather than inside one of
them. They are plain JSON, readable without Optuna or the workbench, and a folder is copied
between machines (or committed to a repository) as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from workbench.config.io import write_text_atomic
from workbench.errors import WorkbenchError

DEVICES_ENV = "WORKBENCH_DEVICES"
DEFAULT_DEVICES = "devices"
BUNDLES = "bundles"
DEVICE_FILE = "device.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def devices_folder(given: str | Path | None = None) -> Path:
    """The devices folder: `given`, else $WORKBENCH_DEVICES, else ./devices.

    Example:
        >>> str(devices_folder("/tmp/d"))
        '/tmp/d'

    Raises:
        WorkbenchError: the path is a file (an empty listing or a "foreign bundle" would mislead).
    """
    folder = Path(given or os.environ.get(DEVICES_ENV) or DEFAULT_DEVICES)
    if folder.exists() and not folder.is_dir():
        raise WorkbenchError(f"devices folder {folder} is a file, not a folder (--devices DIR or ${DEVICES_ENV} "
                             "names the folder that holds one folder per device)")
    return folder


def manifest_path(folder: Path, bundle_id: str) -> Path:
    """Where the manifest of bundle `bundle_id` is kept in the devices folder."""
    return folder / BUNDLES / bundle_id / "manifest.json"


def device_path(folder: Path, name: str) -> Path:
    """The device file of device `name`.

    Raises:
        WorkbenchError: a name that is not a plain folder name.
    """
    if not _NAME.match(name) or name == BUNDLES:
        raise WorkbenchError(f"--name '{name}': give a device name of letters, digits, '.', '_' or '-' "
                             f"(up to 64, not '{BUNDLES}'), e.g. pi5")
    return folder / name / DEVICE_FILE


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of `data`.

    Example:
        >>> sha256_bytes(b"")[:12]
        'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def json_text(data: Any) -> str:
    """The one JSON layout of every file written here (stable, so its hash is too)."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON atomically (a reader never sees half a file)."""
    write_text_atomic(path, json_text(data))


def read_json(path: Path, what: str) -> Any:
    """A JSON file's content.

    Raises:
        WorkbenchError: the file is missing or not JSON, naming it as `what`.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise WorkbenchError(f"{what} {path}: cannot be read as JSON ({error})") from None


def device_names(folder: Path) -> list[str]:
    """The devices imported into `folder`, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p.parent.name for p in folder.glob(f"*/{DEVICE_FILE}") if p.parent.name != BUNDLES)
