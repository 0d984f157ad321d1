"""Named reference architectures, each an `ArchConfig`.

* `ghostnet_050/100/130` — the paper's ImageNet GhostNets (Table 7), 224x224, 1000 classes.
* `ghostnetv2_100/130/160` — GhostNetV2 (NeurIPS 2022): V1's table with DFC attention on the
  expanding Ghost module of every block after the first two (timm's `layer_idx > 1`).
* `repghostnet_050` ... `repghostnet_200` — RepGhostNet (2022): RepGhost modules (`merge: rep`) on
  its own table (half V1's expansion widths; the head's last conv keeps 960 x width).
* `ghostnet_cifar_050/100` — the same blocks for 32x32 inputs: stride-1 stem and no stride in
  the first downsampling block (output stride 8 instead of 32), 10 classes.
* `vgg16_cifar`, `resnet56_cifar` and `ghost_vgg16_cifar`, `ghost_resnet56_cifar` — the
  CIFAR-10 networks of the paper's Table 3, plain and ghosted (s=2, d=3).
"""

from __future__ import annotations

from dataclasses import dataclass
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

# RepGhostNet's table (same layout): the primary conv makes every map, so mid widths are halved.
REPGHOST_STAGES: tuple[tuple[tuple[int, int, int, float, int], ...], ...] = (
    ((3, 8, 16, 0.0, 1),),
    ((3, 24, 24, 0.0, 2),),
    ((3, 36, 24, 0.0, 1),),
    ((5, 36, 40, 0.25, 2),),
    ((5, 60, 40, 0.25, 1),),
    ((3, 120, 80, 0.0, 2),),
    ((3, 100, 80, 0.0, 1), (3, 120, 80, 0.0, 1), (3, 120, 80, 0.0, 1), (3, 240, 112, 0.25, 1), (3, 336, 112, 0.25, 1)),
    ((5, 336, 160, 0.25, 2),),
    ((5, 480, 160, 0.0, 1), (5, 480, 160, 0.25, 1), (5, 480, 160, 0.0, 1), (5, 480, 160, 0.25, 1)),
)

# GhostNetV2 puts DFC attention on every block from this stage on (the first two blocks have none).
_V2_FIRST_DFC_STAGE = 2

# Stage whose stride-2 is dropped for 32x32 inputs (together with the stem's).
_CIFAR_UNSTRIDED_STAGE = 1


def _stages(cifar: bool, table: tuple = GHOSTNET_STAGES, first_dfc_stage: int | None = None) -> list[dict[str, Any]]:
    stages = []
    for index, stage in enumerate(table):
        blocks = []
        for kernel, mid, out, se, stride in stage:
            if cifar and index == _CIFAR_UNSTRIDED_STAGE:
                stride = 1
            dfc = first_dfc_stage is not None and index >= first_dfc_stage
            blocks.append({"kernel": kernel, "mid": mid, "out": out, "se": se, "stride": stride, "dfc": dfc})
        stages.append({"blocks": blocks})
    return stages


def ghostnet_imagenet(width: float, name: str) -> ArchConfig:
    """The paper's ImageNet GhostNet at a width multiplier."""
    return _imagenet(name, width, _stages(cifar=False))


def ghostnetv2_imagenet(width: float, name: str) -> ArchConfig:
    """GhostNetV2 (ImageNet, 224 px) at a width multiplier: timm's `ghostnetv2_*`.

    Example:
        >>> sum(block.dfc for stage in ghostnetv2_imagenet(1.0, "v2").stages for block in stage.blocks)
        14
    """
    return _imagenet(name, width, _stages(cifar=False, first_dfc_stage=_V2_FIRST_DFC_STAGE))


def repghostnet_imagenet(width: float, name: str) -> ArchConfig:
    """RepGhostNet (ImageNet, 224 px) at a width multiplier: timm's `repghostnet_*`.

    Example:
        >>> repghostnet_imagenet(0.5, "r").ghost.merge
        'rep'
    """
    return _imagenet(name, width, _stages(cifar=False, table=REPGHOST_STAGES), merge="rep")


def _imagenet(name: str, width: float, stages: list[dict[str, Any]], merge: str = "concat") -> ArchConfig:
    return ArchConfig.model_validate(
        {"name": name, "family": "ghostnet", "input_size": 224, "in_channels": 3, "num_classes": 1000,
         "width": width, "ghost": {"merge": merge}, "stem": {"channels": 16, "kernel": 3, "stride": 2},
         "stages": stages}
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


# timm's RepGhostNet widths, by the tag of its name.
REPGHOST_WIDTHS = {"050": 0.5, "058": 0.58, "080": 0.8, "100": 1.0, "111": 1.11, "130": 1.3, "150": 1.5, "200": 2.0}

PRESETS: dict[str, Callable[[], ArchConfig]] = {
    "ghostnet_050": lambda: ghostnet_imagenet(0.5, "ghostnet_050"),
    "ghostnet_100": lambda: ghostnet_imagenet(1.0, "ghostnet_100"),
    "ghostnet_130": lambda: ghostnet_imagenet(1.3, "ghostnet_130"),
    "ghostnetv2_100": lambda: ghostnetv2_imagenet(1.0, "ghostnetv2_100"),
    "ghostnetv2_130": lambda: ghostnetv2_imagenet(1.3, "ghostnetv2_130"),
    "ghostnetv2_160": lambda: ghostnetv2_imagenet(1.6, "ghostnetv2_160"),
    **{f"repghostnet_{tag}": (lambda w=width, t=tag: repghostnet_imagenet(w, f"repghostnet_{t}"))
       for tag, width in REPGHOST_WIDTHS.items()},
    "ghostnet_cifar_050": lambda: ghostnet_cifar(0.5, "ghostnet_cifar_050"),
    "ghostnet_cifar_100": lambda: ghostnet_cifar(1.0, "ghostnet_cifar_100"),
    "vgg16_cifar": lambda: _plain("vgg16_cifar", "vgg16_cifar", False),
    "ghost_vgg16_cifar": lambda: _plain("vgg16_cifar", "ghost_vgg16_cifar", True),
    "resnet56_cifar": lambda: _plain("resnet56_cifar", "resnet56_cifar", False),
    "ghost_resnet56_cifar": lambda: _plain("resnet56_cifar", "ghost_resnet56_cifar", True),
}



@dataclass(frozen=True)
class Published:
    """A preset's published cost: `params` within `params_tol` (absolute), `macs` within
    `macs_rel` (relative), and where the figures come from."""

    params: float
    macs: float
    params_tol: float
    macs_rel: float
    source: str


# Published figures, beside the registry; one test runs over this table. MACs are the conv and
# linear multiply-accumulates at 224 px that fvcore counts (`count_model(...).macs`), the papers'
# "FLOPs"; DFC's pooling, sigmoid, upsampling and gating product are in `flops_fvcore` only.
# RepGhost's deploy fusion removes a BatchNorm branch, not a conv, so its trained and deployed
# forms have the same MACs. Params are also exactly timm 1.0.31's count (tests/data).
_V1 = "GhostNet paper Table 7 (params to 10k, MACs 1%)"
_V2 = "GhostNetV2 paper (params given to 0.1M, rounded down: within 0.1M; MACs 1%)"
_REP = "RepGhost paper / its checkpoint names (params to 0.1M: within 0.05M; MACs 1%)"
PUBLISHED: dict[str, Published] = {
    "ghostnet_050": Published(2.59e6, 42e6, 5e3, 0.01, _V1),
    "ghostnet_100": Published(5.18e6, 141e6, 5e3, 0.01, _V1),
    "ghostnet_130": Published(7.36e6, 226e6, 5e3, 0.01, _V1),
    "ghostnetv2_100": Published(6.1e6, 167e6, 0.1e6, 0.01, _V2),
    "ghostnetv2_130": Published(8.9e6, 269e6, 0.1e6, 0.01, _V2),
    "ghostnetv2_160": Published(12.3e6, 399e6, 0.1e6, 0.01, _V2),
    "repghostnet_050": Published(2.3e6, 43e6, 0.05e6, 0.01, _REP),
    "repghostnet_058": Published(2.5e6, 60e6, 0.05e6, 0.01, _REP),
    "repghostnet_080": Published(3.3e6, 96e6, 0.05e6, 0.01, _REP),
    "repghostnet_100": Published(4.1e6, 142e6, 0.05e6, 0.01, _REP),
    "repghostnet_111": Published(4.5e6, 170e6, 0.05e6, 0.01, _REP),
    "repghostnet_130": Published(5.5e6, 231e6, 0.05e6, 0.01, _REP),
    "repghostnet_150": Published(6.6e6, 301e6, 0.05e6, 0.01, _REP),
    "repghostnet_200": Published(9.8e6, 516e6, 0.05e6, 0.01, _REP),
}

# Knobs every preset takes as overrides, with the ArchConfig field each one sets.
OVERRIDE_FIELDS: dict[str, tuple[str, ...]] = {
    "ratio": ("ghost", "ratio"),
    "dw_size": ("ghost", "dw_size"),
    "primary_kernel": ("ghost", "primary_kernel"),
    "cheap_op": ("ghost", "cheap_op"),
    "merge": ("ghost", "merge"),
    "width": ("width",),
    "input_size": ("input_size",),
    "num_classes": ("num_classes",),
    "in_channels": ("in_channels",),
}
_GHOST_ONLY = {"ratio", "dw_size", "primary_kernel", "cheap_op", "merge"}


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
