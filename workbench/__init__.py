"""GhostNet Workbench: search, profile and ship efficient Ghost-style vision architectures."""

from __future__ import annotations

__version__ = "0.1.0"

from workbench.config import ArchConfig, ExportConfig, TrainRecipe, load_config
from workbench.errors import WorkbenchError
from workbench.inference import load_model
from workbench.models import build_model

__all__ = ["ArchConfig", "ExportConfig", "TrainRecipe", "WorkbenchError", "__version__", "build_model", "load_config",
           "load_model"]
