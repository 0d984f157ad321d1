"""GhostNet Workbench: search, profile and ship efficient Ghost-style vision architectures.

The public names are imported on first use (PEP 562 `__getattr__`), so that `import workbench`
and `workbench --help` stay fast and do not load torch until a model is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_PUBLIC = {
    "ArchConfig": "workbench.config",
    "ExportConfig": "workbench.config",
    "TrainRecipe": "workbench.config",
    "load_config": "workbench.config",
    "WorkbenchError": "workbench.errors",
    "load_model": "workbench.inference",
    "build_model": "workbench.models",
}

__all__ = ["ArchConfig", "ExportConfig", "TrainRecipe", "WorkbenchError", "__version__", "build_model", "load_config",
           "load_model"]

if TYPE_CHECKING:
    from workbench.config import ArchConfig, ExportConfig, TrainRecipe, load_config
    from workbench.errors import WorkbenchError
    from workbench.inference import load_model
    from workbench.models import build_model


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
