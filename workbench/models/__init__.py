"""Ghost modules, GhostNet, the plain CIFAR references, ghostify, BN folding and presets."""

from workbench.models.blocks import GhostBottleneck, GhostModule, SqueezeExcite, make_divisible
from workbench.models.build import build_model
from workbench.models.deploy import fold_batchnorm
from workbench.models.ghostify import ghostify
from workbench.models.ghostnet import GhostNet
from workbench.models.presets import get_preset, preset_names

__all__ = [
    "GhostBottleneck",
    "GhostModule",
    "GhostNet",
    "SqueezeExcite",
    "build_model",
    "fold_batchnorm",
    "get_preset",
    "ghostify",
    "make_divisible",
    "preset_names",
]
