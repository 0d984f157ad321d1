"""Weights that travel: timm checkpoint import and model files refreshed with their preprocessing.

The preprocessing record lives in `workbench.data.preprocessing`, partial inheritance in
`workbench.training.inherit`.
"""

from workbench.training.model_files import read_state_dict
from workbench.weights.timm import TIMM_KEYS, TIMM_PRESETS, map_timm_state, rename_timm_key

__all__ = [
    "TIMM_KEYS",
    "TIMM_PRESETS",
    "map_timm_state",
    "read_state_dict",
    "rename_timm_key",
]
