"""`Envelope`: the largest tensors every layer of a supernet needs to cover a set of architectures.

The envelope is measured, not derived by formula: each corner architecture is built on PyTorch's
meta device (shapes only) and every layer keeps the largest size any corner asks of it. The search
side passes the corners (the widest, deepest, largest-kernel net at the smallest and at the largest
ghost ratio); any architecture between them fits, and one that does not is refused when its
weights are gathered (`workbench.supernet.layout`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import torch
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.models import build_model


@dataclass
class GhostDims:
    """One Ghost module: input channels (supernet numbering), intrinsic maps, ghosts per map, kernels."""

    in_sem: int = 0
    init_max: int = 0
    gmax: int = 0
    kernel: int = 1
    dw_size: int = 1

    @property
    def out_sem(self) -> int:
        """How many supernet channels its outputs are numbered in (intrinsic, then ghosts)."""
        return self.init_max * (1 + self.gmax)


@dataclass
class BlockDims:
    """One bottleneck position: its two Ghost modules, the stride-2 depthwise kernel (0: none),
    the SE reduction (0: never SE) and the shortcut's depthwise kernel (0: always identity)."""

    ghost1: GhostDims = field(default_factory=GhostDims)
    ghost2: GhostDims = field(default_factory=GhostDims)
    stride: int = 1
    kernel: int = 1
    dw_kernel: int = 0
    se_reduced: int = 0
    shortcut_kernel: int = 0


@dataclass
class Envelope:
    """The supernet's layer sizes; plain data (`to_dict` / `from_dict`) so a file can carry it."""

    in_channels: int
    stem_out: int
    stem_kernel: int
    stem_stride: int
    stages: list[list[BlockDims]]
    last: int
    features: int
    num_classes: int

    @property
    def head_in_sem(self) -> int:
        """Input channels of the head conv: the largest numbering of any last-stage block."""
        return max(block.ghost2.out_sem for block in self.stages[-1])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Envelope":
        """The inverse of `to_dict`."""
        stages = [[BlockDims(ghost1=GhostDims(**b["ghost1"]), ghost2=GhostDims(**b["ghost2"]),
                             **{k: v for k, v in b.items() if k not in ("ghost1", "ghost2")})
                   for b in stage] for stage in data["stages"]]
        return cls(**{**data, "stages": stages})


def envelope_of(archs: Iterable[ArchConfig]) -> Envelope:
    """The envelope covering `archs` (GhostNets of the same stem, head, classes and stage count).

    Example:
        >>> from workbench.models import get_preset
        >>> env = envelope_of([get_preset("ghostnet_cifar_050", ratio=2), get_preset("ghostnet_cifar_050", ratio=3)])
        >>> env.stem_out, env.stages[0][0].ghost1.init_max, env.stages[0][0].ghost1.gmax
        (8, 4, 2)

    Raises:
        WorkbenchError: an architecture is not a GhostNet of concatenated Ghost modules, or the
            architectures differ in what a supernet cannot vary.
    """
    archs = list(archs)
    env: Envelope | None = None
    for arch in archs:
        check_ghost_blocks(arch)
        with torch.device("meta"):
            model = build_model(arch)
        env = _merge(env, model, arch)
    if env is None:
        raise WorkbenchError("a supernet needs at least one architecture to cover")
    for index, stage in enumerate(env.stages):
        feed = env.stem_out if index == 0 else max(block.ghost2.out_sem for block in env.stages[index - 1])
        for position, block in enumerate(stage):
            block.ghost1.in_sem = feed if position == 0 else stage[position - 1].ghost2.out_sem
            block.ghost2.in_sem = block.ghost1.out_sem
        # A stage's first block meets the previous stage's width: the corners may add identically
        # (equal widths) where a subnet between them needs the projecting shortcut.
        stage[0].shortcut_kernel = stage[0].kernel
    return env


def check_ghost_blocks(arch: ArchConfig) -> None:
    """Refuse an architecture a Ghost supernet cannot hold: not a GhostNet, RepGhost's summed
    modules, the 1x1 cheap operation or DFC attention.

    Raises:
        WorkbenchError: naming what is not supported.
    """
    if arch.family != "ghostnet":
        raise WorkbenchError(f"architecture '{arch.name}' is a '{arch.family}' without Ghost bottleneck blocks; a "
                             "supernet needs a ghostnet base")
    for s, stage in enumerate(arch.stages):
        for b, block in enumerate(stage.blocks):
            ghost = arch.resolved_ghost(s, b)
            if ghost.merge != "concat" or ghost.cheap_op != "dw" or block.dfc:
                raise WorkbenchError(f"architecture '{arch.name}', stage {s} block {b}: a supernet holds GhostNet "
                                     "modules (merge: concat, cheap_op: dw, no DFC attention); got "
                                     f"merge {ghost.merge}, cheap_op {ghost.cheap_op}, dfc {block.dfc}")


def ghost_dims(module: nn.Module) -> tuple[int, int, int, int]:
    """(intrinsic maps, ghosts per map, primary kernel, cheap kernel) of a standalone `GhostModule`."""
    primary = module.primary_conv[0]
    init = primary.out_channels
    cheap = module.cheap_operation
    ghosts = cheap[0].out_channels // init if cheap is not None else 0
    return init, ghosts, primary.kernel_size[0], cheap[0].kernel_size[0] if cheap is not None else 1


def _merge(env: Envelope | None, model: nn.Module, arch: ArchConfig) -> Envelope:
    stem = model.stem[0]
    if env is None:
        env = Envelope(in_channels=arch.in_channels, stem_out=0, stem_kernel=stem.kernel_size[0],
                       stem_stride=stem.stride[0], stages=[[] for _ in arch.stages], last=0,
                       features=arch.head.features, num_classes=arch.num_classes)
    fixed = (env.in_channels, env.stem_kernel, env.stem_stride, env.features, env.num_classes, len(env.stages))
    if fixed != (arch.in_channels, stem.kernel_size[0], stem.stride[0], arch.head.features, arch.num_classes,
                 len(arch.stages)):
        raise WorkbenchError(f"architecture '{arch.name}' differs from the others in its stem, head, classes or "
                             "stage count, which a supernet does not vary")
    env.stem_out = max(env.stem_out, stem.out_channels)
    env.last = max(env.last, model.head_conv[0].out_channels)
    for index, stage in enumerate(model.stages):
        for position, block in enumerate(stage):
            dims = env.stages[index]
            if position == len(dims):
                dims.append(BlockDims(stride=_stride(block)))
            dims[position].kernel = max(dims[position].kernel, arch.stages[index].blocks[position].kernel)
            _merge_block(dims[position], block, f"stage {index} block {position}")
    return env


def _stride(block: nn.Module) -> int:
    return block.conv_dw[0].stride[0] if block.conv_dw is not None else 1


def _merge_block(dims: BlockDims, block: nn.Module, where: str) -> None:
    if dims.stride != _stride(block):
        raise WorkbenchError(f"{where}: stride differs between the architectures a supernet covers")
    for own, module in ((dims.ghost1, block.ghost1), (dims.ghost2, block.ghost2)):
        init, ghosts, kernel, dw_size = ghost_dims(module)
        own.init_max = max(own.init_max, init)
        own.gmax, own.kernel, own.dw_size = max(own.gmax, ghosts), max(own.kernel, kernel), max(own.dw_size, dw_size)
    if block.conv_dw is not None:
        dims.dw_kernel = max(dims.dw_kernel, block.conv_dw[0].kernel_size[0])
    if block.se is not None:
        dims.se_reduced = max(dims.se_reduced, block.se.conv_reduce.out_channels)
    if not isinstance(block.shortcut, nn.Identity):
        dims.shortcut_kernel = max(dims.shortcut_kernel, block.shortcut[0][0].kernel_size[0])
