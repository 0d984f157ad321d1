"""The elastic layers of a Ghost supernet: each holds its largest tensors and gives, for one
subnet layer, the tensors under the standalone model's names (`layout` says which rows,
columns and kernel centre). The gathers are differentiable, so training a subnet trains the
supernet's shared tensors.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from workbench.errors import WorkbenchError
from workbench.supernet.envelope import BlockDims, GhostDims, ghost_dims
from workbench.supernet.layout import centre, cheap_rows, gather, ghost_layout

State = dict[str, Tensor]


class ElasticConvBN(nn.Module):
    """A conv (no bias) + BatchNorm of `out_ch` x `in_ch` channels and a `kernel` x `kernel`
    kernel, depthwise when `depthwise` (then `in_ch` is ignored)."""

    def __init__(self, out_ch: int, in_ch: int, kernel: int, depthwise: bool = False) -> None:
        super().__init__()
        self.depthwise = depthwise
        reference = nn.Conv2d(1 if depthwise else in_ch, out_ch, kernel, bias=False)  # PyTorch's own init
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bn_weight = nn.Parameter(torch.ones(out_ch))
        self.bn_bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("running_mean", torch.zeros(out_ch))
        self.register_buffer("running_var", torch.ones(out_ch))

    def state(self, rows: Tensor, cols: Tensor | None, kernel: int, what: str) -> State:
        """The standalone `conv_bn` tensors ("0.weight", "1.weight", ...) for output channels
        `rows`, input channels `cols` (None for a depthwise conv) and kernel `kernel`."""
        weight = gather(self.weight, 0, rows, what)
        if not self.depthwise and cols is not None:
            weight = gather(weight, 1, cols, what)
        return {
            "0.weight": centre(weight, kernel),
            "1.weight": self.bn_weight.index_select(0, rows.to(self.bn_weight.device)),
            "1.bias": self.bn_bias.index_select(0, rows.to(self.bn_bias.device)),
            "1.running_mean": self.running_mean.index_select(0, rows.to(self.running_mean.device)),
            "1.running_var": self.running_var.index_select(0, rows.to(self.running_var.device)),
            "1.num_batches_tracked": torch.zeros((), dtype=torch.long, device=self.weight.device),
        }


class ElasticGhostModule(nn.Module):
    """A Ghost module elastic in outputs n, ratio s, primary kernel and cheap kernel d."""

    def __init__(self, dims: GhostDims) -> None:
        super().__init__()
        self.dims = dims
        self.primary_conv = ElasticConvBN(dims.init_max, dims.in_sem, dims.kernel)
        self.cheap_operation = (ElasticConvBN(dims.init_max * dims.gmax, 1, dims.dw_size, depthwise=True)
                                if dims.gmax else None)

    def state(self, module: nn.Module, cols: Tensor, what: str) -> tuple[State, Tensor]:
        """The tensors of the standalone `GhostModule` `module` (built on any device; only its
        sizes are read) fed by supernet channels `cols`, and the layout of its outputs."""
        init, ghosts, kernel, dw_size = ghost_dims(module)
        ratio = ghosts + 1
        if math.ceil(module.out_ch / ratio) != init:
            raise ValueError(f"{what}: not a GhostModule of ratio {ratio}")
        out = prefixed("primary_conv.", self.primary_conv.state(torch.arange(init), cols, kernel, what))
        if ghosts:
            if self.cheap_operation is None:
                raise_outside(f"{what} has ghost maps; the supernet's module has none")
            rows = cheap_rows(init, ratio, self.dims.gmax)
            out.update(prefixed("cheap_operation.", self.cheap_operation.state(rows, None, dw_size, what)))
        return out, ghost_layout(module.out_ch, ratio, self.dims.init_max, self.dims.gmax)


class ElasticSE(nn.Module):
    """Squeeze-excite over `mid_sem` supernet channels, elastic in its reduced width."""

    def __init__(self, mid_sem: int, reduced: int) -> None:
        super().__init__()
        reduce, expand = nn.Conv2d(mid_sem, reduced, 1), nn.Conv2d(reduced, mid_sem, 1)
        self.reduce_weight = nn.Parameter(reduce.weight.detach().clone())
        self.reduce_bias = nn.Parameter(reduce.bias.detach().clone())
        self.expand_weight = nn.Parameter(expand.weight.detach().clone())
        self.expand_bias = nn.Parameter(expand.bias.detach().clone())

    def state(self, se: nn.Module, mid: Tensor, what: str) -> State:
        """The tensors of the standalone `SqueezeExcite` `se` over supernet channels `mid`."""
        reduced = torch.arange(se.conv_reduce.out_channels)
        return {
            "conv_reduce.weight": gather(gather(self.reduce_weight, 0, reduced, what), 1, mid, what),
            "conv_reduce.bias": gather(self.reduce_bias, 0, reduced, what),
            "conv_expand.weight": gather(gather(self.expand_weight, 0, mid, what), 1, reduced, what),
            "conv_expand.bias": gather(self.expand_bias, 0, mid, what),
        }


class ElasticBottleneck(nn.Module):
    """A Ghost bottleneck position: both Ghost modules, the stride-2 depthwise conv, SE when any
    covered subnet has it, and the projecting shortcut when any may need it."""

    def __init__(self, dims: BlockDims) -> None:
        super().__init__()
        self.dims = dims
        mid_sem = dims.ghost1.out_sem
        self.ghost1 = ElasticGhostModule(dims.ghost1)
        self.conv_dw = ElasticConvBN(mid_sem, 1, dims.dw_kernel, depthwise=True) if dims.dw_kernel else None
        self.se = ElasticSE(mid_sem, dims.se_reduced) if dims.se_reduced else None
        self.ghost2 = ElasticGhostModule(dims.ghost2)
        if dims.shortcut_kernel:
            self.shortcut_dw = ElasticConvBN(dims.ghost1.in_sem, 1, dims.shortcut_kernel, depthwise=True)
            self.shortcut_pw = ElasticConvBN(dims.ghost2.out_sem, dims.ghost1.in_sem, 1)
        else:
            self.shortcut_dw = self.shortcut_pw = None

    def state(self, block: nn.Module, cols: Tensor, what: str) -> tuple[State, Tensor]:
        """The tensors of the standalone `GhostBottleneck` `block` fed by supernet channels
        `cols`, and the layout of its outputs."""
        out: State = {}
        first, mid = self.ghost1.state(block.ghost1, cols, f"{what} ghost1")
        out.update(prefixed("ghost1.", first))
        if block.conv_dw is not None:
            if self.conv_dw is None:
                raise_outside(f"{what} has a strided depthwise conv; the supernet's block has none")
            out.update(prefixed("conv_dw.", self.conv_dw.state(mid, None, block.conv_dw[0].kernel_size[0], what)))
        if block.se is not None:
            if self.se is None:
                raise_outside(f"{what} has squeeze-excite; no subnet of the supernet has it there")
            out.update(prefixed("se.", self.se.state(block.se, mid, f"{what} se")))
        second, layout = self.ghost2.state(block.ghost2, mid, f"{what} ghost2")
        out.update(prefixed("ghost2.", second))
        if not isinstance(block.shortcut, nn.Identity):
            if self.shortcut_dw is None or self.shortcut_pw is None:
                raise_outside(f"{what} needs a projecting shortcut; the supernet's block adds its input")
            kernel = block.shortcut[0][0].kernel_size[0]
            out.update(prefixed("shortcut.0.", self.shortcut_dw.state(cols, None, kernel, f"{what} shortcut")))
            out.update(prefixed("shortcut.1.", self.shortcut_pw.state(layout, cols, 1, f"{what} shortcut")))
        return out, layout


def raise_outside(detail: str) -> Any:
    """Raise the one-line refusal of a subnet the supernet does not cover."""
    raise WorkbenchError(f"subnet outside the supernet: {detail}")


def prefixed(prefix: str, state: State) -> State:
    """`state` with every key prefixed (a child module's tensors under its parent's names)."""
    return {prefix + key: value for key, value in state.items()}
