"""timm GhostNet (v1) state dicts -> workbench GhostNet state dicts.

timm 1.0's `ghostnet_050/100/130` and the workbench presets of the same names hold the same
512 tensors in the same order with the same shapes; only the names differ, and `TIMM_KEYS` is
the whole difference. Everything else is refused: a key no rule places (a checkpoint of
another family, or GhostNetV2/V3), a key the preset lacks, or a shape that differs.

Example:
    >>> rename_timm_key("blocks.3.0.bn_dw.running_var")
    'stages.3.0.conv_dw.1.running_var'
"""

from __future__ import annotations

import re

import torch

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.models import build_model

TIMM_PRESETS = ("ghostnet_050", "ghostnet_100", "ghostnet_130")

_BLOCK = r"blocks\.(\d+)\.(\d+)"
# (timm name pattern, workbench name template), tried in order; the first match wins.
TIMM_KEYS: tuple[tuple[str, str], ...] = (
    (r"conv_stem\.weight", r"stem.0.weight"),
    (r"bn1\.(.+)", r"stem.1.\1"),
    # The last entry of timm's `blocks` is the ConvBnAct before pooling: our `head_conv`.
    (r"blocks\.\d+\.0\.conv\.weight", r"head_conv.0.weight"),
    (r"blocks\.\d+\.0\.bn1\.(.+)", r"head_conv.1.\1"),
    (_BLOCK + r"\.(ghost[12]\.(?:primary_conv|cheap_operation)\.[01]\..+)", r"stages.\1.\2.\3"),
    (_BLOCK + r"\.conv_dw\.weight", r"stages.\1.\2.conv_dw.0.weight"),
    (_BLOCK + r"\.bn_dw\.(.+)", r"stages.\1.\2.conv_dw.1.\3"),
    (_BLOCK + r"\.(se\.conv_(?:reduce|expand)\.(?:weight|bias))", r"stages.\1.\2.\3"),
    (_BLOCK + r"\.shortcut\.0\.(weight)", r"stages.\1.\2.shortcut.0.0.\3"),
    (_BLOCK + r"\.shortcut\.1\.(.+)", r"stages.\1.\2.shortcut.0.1.\3"),
    (_BLOCK + r"\.shortcut\.2\.(weight)", r"stages.\1.\2.shortcut.1.0.\3"),
    (_BLOCK + r"\.shortcut\.3\.(.+)", r"stages.\1.\2.shortcut.1.1.\3"),
    (r"conv_head\.(weight|bias)", r"conv_head.\1"),
    (r"classifier\.(weight|bias)", r"classifier.\1"),
)
_COMPILED = tuple((re.compile(pattern), template) for pattern, template in TIMM_KEYS)
# Operation counters some tools (thop) leave in state dicts; timm's own filter drops them too.
_IGNORED = re.compile(r"(^|\.)total_(ops|params)$")


def rename_timm_key(key: str) -> str | None:
    """The workbench name of a timm GhostNet key, or None when no rule places it."""
    for pattern, template in _COMPILED:
        match = pattern.fullmatch(key)
        if match:
            return match.expand(template)
    return None


def map_timm_state(state: dict[str, torch.Tensor], arch: ArchConfig, source: str) -> dict[str, torch.Tensor]:
    """Rename a timm GhostNet state dict for `arch` and check it fits exactly.

    Returns the tensors in the order of the workbench model's own state dict.

    Raises:
        WorkbenchError: naming the first key that has no place, is missing, or has another shape.
    """
    expected = build_model(arch).state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if _IGNORED.search(key):
            continue
        name = rename_timm_key(key)
        if name is None or name not in expected:
            raise WorkbenchError(f"{source}: key '{key}' has no place in a workbench GhostNet "
                                 f"('{arch.name}'); is this a timm GhostNet (v1) checkpoint?")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise WorkbenchError(f"{source}: key '{key}' has shape {list(tensor.shape)} but '{arch.name}' needs "
                                 f"{list(expected[name].shape)} (another width? allowed presets: "
                                 f"{', '.join(TIMM_PRESETS)})")
        mapped[name] = tensor
    missing = [name for name in expected if name not in mapped]
    if missing:
        raise WorkbenchError(f"{source}: no tensor for '{missing[0]}' ({len(missing)} of {len(expected)} missing); "
                             "the checkpoint is incomplete or of another model")
    return {name: mapped[name].to(expected[name].dtype) for name in expected}
