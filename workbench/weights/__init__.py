"""Weights that travel: timm checkpoint import, preprocessing records, partial inheritance."""

from workbench.weights.files import read_state_dict
from workbench.weights.inherit import InheritReport, inherit_weights
from workbench.weights.preprocessing import IMAGENET, Preprocessing, preprocess_image, preprocessing_of
from workbench.weights.timm import TIMM_KEYS, TIMM_PRESETS, map_timm_state, rename_timm_key

__all__ = [
    "IMAGENET",
    "InheritReport",
    "Preprocessing",
    "TIMM_KEYS",
    "TIMM_PRESETS",
    "inherit_weights",
    "map_timm_state",
    "preprocess_image",
    "preprocessing_of",
    "read_state_dict",
    "rename_timm_key",
]
