"""Named reference architectures, each an `ArchConfig`.

* `ghostnet_050/100/130` — the paper's ImageNet GhostNets (Table 7), 224x224, 1000 classes.
* `ghostnet_cifar_050/100` — the same blocks for 32x32 inputs: stride-1 stem and no stride in
  the first downsampling block (output stride 8 instead of 32), 10 classes.
* `vgg16_cifar`, `resnet56_cifar` and `ghost_vgg16_cifar`, `ghost_resnet56_cifar` — the
  CIFAR-10 networks of the paper's Table 3, plain and ghosted (s=2, d=3).
"""

from __future__ import annotations

from typing import Any, Callable

from workbench.config.arch import ArchConfig
from workbench.config.io import parse_model
from workbench.errors import WorkbenchError

# The GhostNet table: one list per stage of (dw kernel, mid channels, out channels, SE ratio, stride).
GHOSTNET_STAGES: tuple[tuple[tuple[int, int, int, float, int], ...], ...] = (
    ((3, 16, 16, 0.0, 1),),
    ((3, 48, 24, 0.0, 2),),
    ((3, 72, 24, 0.0, 1),),
    ((5, 72, 40, 0.25, 2),),
    ((5, 120, 40, 0.25, 1),),
    ((3, 240, 80, 0.0, 2),),
    ((3, 200, 80, 0.0, 1), (3, 184, 80, 0.0, 1), (3, 184, 80, 0.0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)),
    ((5, 672, 160, 0.25, 2),),
    ((5, 960, 160, 0.0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0.0, 1), (5, 960, 160, 0.25, 1)),
)

# Stage whose stride-2 is dropped for 32x32 inputs (together with the stem's).
_CIFAR_UNSTRIDED_STAGE = 1


def _stages(cifar: bool) -> list[dict[str, Any]]:
    stages = []
    for index, stage in enumerate(GHOSTNET_STAGES):
        blocks = []
        for kernel, mid, out, se, stride in stage:
            if cifar and index == _CIFAR_UNSTRIDED_STAGE:
                stride = 1
            blocks.append({"kernel": kernel, "mid": mid, "out": out, "se": se, "stride": stride})
        stages.append({"blocks": blocks})
    return stages


def ghostnet_imagenet(width: float, name: str) -> ArchConfig:
    """The paper's ImageNet GhostNet at a width multiplier."""
    return ArchConfig.model_validate(
        {"name": name, "family": "ghostnet", "input_size": 224, "in_channels": 3, "num_classes": 1000,
         "width": width, "stem": {"channels": 16, "kernel": 3, "stride": 2}, "stages": _stages(cifar=False)}
    )


def ghostnet_cifar(width: float, name: str) -> ArchConfig:
    """GhostNet adapted to 32x32 inputs and 10 classes."""
    return ArchConfig.model_validate(
        {"name": name, "family": "ghostnet", "input_size": 32, "in_channels": 3, "num_classes": 10,
         "width": width, "stem": {"channels": 16, "kernel": 3, "stride": 1}, "stages": _stages(cifar=True)}
    )


def _plain(family: str, name: str, ghosted: bool) -> ArchConfig:
    return ArchConfig.model_validate(
        {"name": name, "family": family, "input_size": 32, "in_channels": 3, "num_classes": 10,
         "ghostify": ghosted, "ghost": {"ratio": 2, "dw_size": 3}}
    )


PRESETS: dict[str, Callable[[], ArchConfig]] = {
    "ghostnet_050": lambda: ghostnet_imagenet(0.5, "ghostnet_050"),
    "ghostnet_100": lambda: ghostnet_imagenet(1.0, "ghostnet_100"),
    "ghostnet_130": lambda: ghostnet_imagenet(1.3, "ghostnet_130"),
    "ghostnet_cifar_050": lambda: ghostnet_cifar(0.5, "ghostnet_cifar_050"),
    "ghostnet_cifar_100": lambda: ghostnet_cifar(1.0, "ghostnet_cifar_100"),
    "vgg16_cifar": lambda: _plain("vgg16_cifar", "vgg16_cifar", False),
    "ghost_vgg16_cifar": lambda: _plain("vgg16_cifar", "ghost_vgg16_cifar", True),
    "resnet56_cifar": lambda: _plain("resnet56_cifar", "resnet56_cifar", False),
    "ghost_resnet56_cifar": lambda: _plain("resnet56_cifar", "ghost_resnet56_cifar", True),
}

# Knobs every preset takes as overrides, with the ArchConfig field each one sets.
OVERRIDE_FIELDS: dict[str, tuple[str, ...]] = {
    "ratio": ("ghost", "ratio"),
    "dw_size": ("ghost", "dw_size"),
    "primary_kernel": ("ghost", "primary_kernel"),
    "cheap_op": ("ghost", "cheap_op"),
    "width": ("width",),
    "input_size": ("input_size",),
    "num_classes": ("num_classes",),
    "in_channels": ("in_channels",),
}
_GHOST_ONLY = {"ratio", "dw_size", "primary_kernel", "cheap_op"}


def preset_names() -> list[str]:
    """All preset names, in a stable order."""
    return list(PRESETS)


def get_preset(name: str, **overrides: Any) -> ArchConfig:
    """The named preset with optional overrides (`ratio`, `dw_size`, `width`, ...).

    Example:
        >>> get_preset("ghostnet_cifar_100", ratio=3, width=0.75).ghost.ratio
        3
    """
    if name not in PRESETS:
        raise WorkbenchError(f"unknown preset '{name}' (allowed: {', '.join(PRESETS)})")
    return apply_overrides(PRESETS[name](), overrides)


def apply_overrides(arch: ArchConfig, overrides: dict[str, Any]) -> ArchConfig:
    """Set the common knobs on an architecture, validating every value."""
    data = arch.model_dump()
    for key, value in overrides.items():
        if key not in OVERRIDE_FIELDS:
            raise WorkbenchError(f"unknown override '{key}' (allowed: {', '.join(OVERRIDE_FIELDS)})")
        if key in _GHOST_ONLY and arch.family != "ghostnet" and not arch.ghostify:
            raise WorkbenchError(f"override '{key}' needs a Ghost network; '{arch.name}' is plain "
                                 "(use its ghost_ preset)")
        *parents, leaf = OVERRIDE_FIELDS[key]
        target = data
        for part in parents:
            target = target[part]
        target[leaf] = value
    return parse_model(ArchConfig, data, source=f"preset '{arch.name}'")
