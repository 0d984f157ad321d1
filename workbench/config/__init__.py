"""Validated descriptions of architectures and the YAML/JSON files that hold them."""

from workbench.config.arch import (
    ArchConfig,
    BlockConfig,
    GhostOverrides,
    GhostSettings,
    HeadConfig,
    StageConfig,
    StemConfig,
)
from workbench.config.export import ExportConfig, MeasuredFigures, Provenance, TrainConfig, TrainRecipe, load_config
from workbench.config.io import dump_model, load_arch, load_model, parse_model

__all__ = [
    "ArchConfig",
    "BlockConfig",
    "ExportConfig",
    "GhostOverrides",
    "GhostSettings",
    "HeadConfig",
    "MeasuredFigures",
    "Provenance",
    "StageConfig",
    "StemConfig",
    "TrainConfig",
    "TrainRecipe",
    "dump_model",
    "load_arch",
    "load_config",
    "load_model",
    "parse_model",
]
