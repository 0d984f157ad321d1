"""timm GhostNet, GhostNetV2 and RepGhostNet state dicts -> workbench GhostNet state dicts.

timm 1.0's `ghostnet_050/100/130`, `ghostnetv2_100/130/160` and `repghostnet_050` ... `_200` and the
workbench presets of the same names hold the same tensors (512, 764 and 672) in the same order with
the same shapes; only the names differ, and `TIMM_KEYS` is the whole difference. Everything else is
refused: a checkpoint of one family offered to a preset of another (named by the key that tells the
family), a key no rule places (another architecture, or GhostNetV3), a key the preset lacks, or a
shape that differs.

Example:
    >>> rename_timm_key("blocks.3.0.bn_dw.running_var")
    'stages.3.0.conv_dw.1.running_var'
    >>> rename_timm_key("blocks.2.0.ghost1.short_conv.3.weight")
    'stages.2.0.ghost1.dfc.horizontal.1.weight'
"""

from __future__ import annotations

import re

import torch

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.models import build_model

# The timm families, each with its presets and the key fragment only its checkpoints carry.
TIMM_FAMILIES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "GhostNet (v1)": (("ghostnet_050", "ghostnet_100", "ghostnet_130"), None),
    "GhostNetV2": (("ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160"), ".short_conv."),
    "RepGhostNet": (tuple(f"repghostnet_{tag}" for tag in ("050", "058", "080", "100", "111", "130", "150", "200")),
                    ".fusion_bn."),
}
# The first key of each family that only that family's checkpoints hold.
_FIRST_OWN_KEY = {"GhostNetV2": "blocks.2.0.ghost1.short_conv.0.weight",
                  "RepGhostNet": "blocks.0.0.ghost1.fusion_bn.0.weight"}
TIMM_PRESETS = tuple(name for presets, _ in TIMM_FAMILIES.values() for name in presets)

_BLOCK = r"blocks\.(\d+)\.(\d+)"
# (timm name pattern, workbench name template), tried in order; the first match wins.
TIMM_KEYS: tuple[tuple[str, str], ...] = (
    (r"conv_stem\.weight", r"stem.0.weight"),
    (r"bn1\.(.+)", r"stem.1.\1"),
    # The last entry of timm's `blocks` is the ConvBnAct before pooling: our `head_conv`.
    (r"blocks\.\d+\.0\.conv\.weight", r"head_conv.0.weight"),
    (r"blocks\.\d+\.0\.bn1\.(.+)", r"head_conv.1.\1"),
    (_BLOCK + r"\.(ghost[12]\.(?:primary_conv|cheap_operation)\.[01]\..+)", r"stages.\1.\2.\3"),
    # RepGhost's identity branch (its `fusion_conv` is an nn.Identity, without tensors).
    (_BLOCK + r"\.(ghost[12])\.fusion_bn\.0\.(.+)", r"stages.\1.\2.\3.identity_bn.\4"),
    # GhostNetV2's DFC branch: one flat Sequential in timm, three conv-BN pairs here.
    (_BLOCK + r"\.ghost1\.short_conv\.0\.(weight)", r"stages.\1.\2.ghost1.dfc.compress.0.\3"),
    (_BLOCK + r"\.ghost1\.short_conv\.1\.(.+)", r"stages.\1.\2.ghost1.dfc.compress.1.\3"),
    (_BLOCK + r"\.ghost1\.short_conv\.2\.(weight)", r"stages.\1.\2.ghost1.dfc.horizontal.0.\3"),
    (_BLOCK + r"\.ghost1\.short_conv\.3\.(.+)", r"stages.\1.\2.ghost1.dfc.horizontal.1.\3"),
    (_BLOCK + r"\.ghost1\.short_conv\.4\.(weight)", r"stages.\1.\2.ghost1.dfc.vertical.0.\3"),
    (_BLOCK + r"\.ghost1\.short_conv\.5\.(.+)", r"stages.\1.\2.ghost1.dfc.vertical.1.\3"),
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


def timm_family(state: dict[str, torch.Tensor]) -> tuple[str, str | None]:
    """The timm family a checkpoint's keys belong to, and the first key that says so (None for
    GhostNet v1, which has no key of its own).

    Example:
        >>> timm_family({"blocks.0.0.ghost1.fusion_bn.0.weight": torch.ones(1)})
        ('RepGhostNet', 'blocks.0.0.ghost1.fusion_bn.0.weight')
    """
    for family, (_, marker) in TIMM_FAMILIES.items():
        key = next((key for key in state if marker is not None and marker in key), None)
        if key is not None:
            return family, key
    return "GhostNet (v1)", None


def _check_family(state: dict[str, torch.Tensor], arch: ArchConfig, source: str) -> None:
    family, key = timm_family(state)
    wanted = next((name for name, (presets, _) in TIMM_FAMILIES.items() if arch.name in presets), None)
    if wanted is None or wanted == family:
        return
    presets = ", ".join(TIMM_FAMILIES[family][0])
    if key is not None:
        raise WorkbenchError(f"{source}: key '{key}' has no place in '{arch.name}' (a {wanted} preset): it is a "
                             f"timm {family} key; import this checkpoint with one of {presets}")
    raise WorkbenchError(f"{source}: no key '{_FIRST_OWN_KEY[wanted]}' (nor any '*{TIMM_FAMILIES[wanted][1]}*'), which "
                         f"every timm {wanted} checkpoint has, so it does not fit '{arch.name}' (a {family} "
                         f"checkpoint? its presets: {presets})")


def map_timm_state(state: dict[str, torch.Tensor], arch: ArchConfig, source: str) -> dict[str, torch.Tensor]:
    """Rename a timm GhostNet, GhostNetV2 or RepGhostNet state dict for `arch` and check it fits exactly.

    Returns the tensors in the order of the workbench model's own state dict.

    Raises:
        WorkbenchError: a checkpoint of another family than the preset's (naming the key that
            tells), or naming the first key that has no place, is missing, or has another shape.
    """
    _check_family(state, arch, source)
    expected = build_model(arch).state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if _IGNORED.search(key):
            continue
        name = rename_timm_key(key)
        if name is None or name not in expected:
            raise WorkbenchError(f"{source}: key '{key}' has no place in a workbench GhostNet "
                                 f"('{arch.name}'); is this a timm GhostNet, GhostNetV2 or RepGhostNet checkpoint?")
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
