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
from workbench.config.io import dump_model, load_model, load_arch, parse_model

__all__ = [
    "ArchConfig",
    "BlockConfig",
    "GhostOverrides",
    "GhostSettings",
    "HeadConfig",
    "StageConfig",
    "StemConfig",
    "dump_model",
    "load_arch",
    "load_model",
    "parse_model",
]
