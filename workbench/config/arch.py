"""`ArchConfig`: the single description of an architecture.

Everything that builds, measures, searches, exports or trains a network speaks in
`ArchConfig`s. A GhostNet is described block by block (the table of the paper); the plain
CIFAR reference networks (VGG-16, ResNet-56) are described by their family name, a width
multiplier and whether their convolutions are ghosted.

Ghost settings (`ratio` s, cheap-operation kernel `dw_size` d, `primary_kernel`,
`cheap_op`, `merge`: concatenated ghosts as in GhostNet or RepGhost's re-parameterised sum)
are global defaults that a stage or a block may override; `resolved_ghost`
gives the effective settings of one block.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Family = Literal["ghostnet", "vgg16_cifar", "resnet56_cifar"]
# The largest kernel any convolution may have: large-kernel ConvNets stop at 31; a larger one
# would only make a model too big to build (a 10001-wide kernel asks for tens of GB).
MAX_KERNEL = 31
CheapOp = Literal["dw", "pw"]
Merge = Literal["concat", "rep"]


def _check_odd_kernel(value: Optional[int]) -> Optional[int]:
    if value is not None and (value <= 0 or value % 2 == 0 or value > MAX_KERNEL):
        raise ValueError(f"kernel size must be a positive odd integer up to {MAX_KERNEL} (1, 3, 5, 7, ...)")
    return value


class _Strict(BaseModel):
    """Base for config models: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GhostSettings(_Strict):
    """How every Ghost module is built unless a stage or block says otherwise.

    `ratio` is the paper's s (output maps per intrinsic map; 1 means a plain conv),
    `dw_size` the paper's d (kernel of the cheap operation), `primary_kernel` the kernel of
    the primary convolution, `cheap_op` the cheap operation: `dw` (the paper's depthwise
    d x d conv) or `pw` (a 1x1 conv, friendlier to GPUs). `merge` is how the ghost maps join the
    intrinsic ones: `concat` (GhostNet) or `rep` (RepGhost: the cheap op and an identity-BN branch
    are added and fused into one conv at deploy time; `ratio` does not apply, the primary conv
    makes every output map).
    """

    ratio: int = Field(2, ge=1, le=16)
    dw_size: int = 3
    primary_kernel: int = 1
    cheap_op: CheapOp = "dw"
    merge: Merge = "concat"

    _odd = field_validator("dw_size", "primary_kernel")(_check_odd_kernel)


class GhostOverrides(_Strict):
    """Optional per-stage or per-block replacements of the global `GhostSettings`."""

    ratio: Optional[int] = Field(None, ge=1, le=16)
    dw_size: Optional[int] = None
    primary_kernel: Optional[int] = None
    cheap_op: Optional[CheapOp] = None
    merge: Optional[Merge] = None

    _odd = field_validator("dw_size", "primary_kernel")(_check_odd_kernel)

    def apply_to(self, base: GhostSettings) -> GhostSettings:
        """Return `base` with every field set here replacing the base value."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


class BlockConfig(_Strict):
    """One Ghost bottleneck: depthwise `kernel`, expansion channels `mid`, output channels
    `out` (both before width multipliers), squeeze-excite ratio `se` (0 = none), `stride`,
    and `dfc`: DFC attention (GhostNetV2) on the expanding Ghost module."""

    kernel: int = 3
    mid: int = Field(gt=0)
    out: int = Field(gt=0)
    se: float = Field(0.0, ge=0.0, le=1.0)
    stride: Literal[1, 2] = 1
    dfc: bool = False
    ghost: Optional[GhostOverrides] = None

    _odd = field_validator("kernel")(_check_odd_kernel)


class StageConfig(_Strict):
    """A run of blocks sharing a width multiplier and optional Ghost overrides."""

    blocks: list[BlockConfig] = Field(min_length=1)
    width: float = Field(1.0, gt=0.0, le=8.0)
    ghost: Optional[GhostOverrides] = None


class StemConfig(_Strict):
    """The first convolution (conv-BN-ReLU)."""

    channels: int = Field(16, gt=0)
    kernel: int = 3
    stride: Literal[1, 2] = 2

    _odd = field_validator("kernel")(_check_odd_kernel)


class HeadConfig(_Strict):
    """The classifier: 1x1 conv to `last_channels` (scaled by width), global pool,
    1x1 conv to `features`, ReLU, dropout, linear to the classes."""

    last_channels: int = Field(960, gt=0)
    features: int = Field(1280, gt=0)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class ArchConfig(_Strict):
    """The single description of an architecture; `build_model(arch)` turns it into a model.

    Example:
        >>> from workbench.models.presets import get_preset
        >>> arch = get_preset("ghostnet_100")
        >>> arch.width, arch.ghost.ratio
        (1.0, 2)
    """

    name: str = "custom"
    family: Family = "ghostnet"
    input_size: int = Field(224, ge=8, le=2048)
    in_channels: int = Field(3, ge=1, le=64)
    num_classes: int = Field(1000, ge=2)
    width: float = Field(1.0, gt=0.0, le=8.0)
    ghost: GhostSettings = Field(default_factory=GhostSettings)
    ghostify: bool = False
    stem: StemConfig = Field(default_factory=StemConfig)
    stages: list[StageConfig] = Field(default_factory=list)
    head: HeadConfig = Field(default_factory=HeadConfig)

    @model_validator(mode="after")
    def _family_consistency(self) -> "ArchConfig":
        if self.family == "ghostnet" and not self.stages:
            raise ValueError("a ghostnet needs at least one stage in 'stages'")
        if self.family != "ghostnet" and self.stages:
            raise ValueError(f"family '{self.family}' has a fixed layout; 'stages' must be empty")
        if self.family == "ghostnet" and self.ghostify:
            raise ValueError("'ghostify' applies to the plain families (vgg16_cifar, resnet56_cifar) only")
        return self

    def resolved_ghost(self, stage_index: int, block_index: int) -> GhostSettings:
        """The effective Ghost settings of one block: global, then stage, then block overrides."""
        settings = self.ghost
        stage = self.stages[stage_index]
        for overrides in (stage.ghost, stage.blocks[block_index].ghost):
            if overrides is not None:
                settings = overrides.apply_to(settings)
        return settings

    def output_stride(self) -> int:
        """Total downsampling factor of the network's feature extractor."""
        if self.family == "vgg16_cifar":
            return 32
        if self.family == "resnet56_cifar":
            return 4
        stride = self.stem.stride
        for stage in self.stages:
            for block in stage.blocks:
                stride *= block.stride
        return stride
