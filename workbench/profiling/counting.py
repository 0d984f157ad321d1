"""Parameters, MACs, fvcore FLOPs and activations from one jit trace.

`macs` follows the GhostNet paper: multiply-accumulates of convolution and linear layers
only (fvcore counts one per multiply-accumulate for these ops). `flops_fvcore` is fvcore's
total with the extra handles of `handles.py` (BatchNorm, pooling, elementwise ops too).

fvcore's FlopCountAnalysis and ActivationCountAnalysis would each trace the model; here one
`JitModelAnalysis` carries both handle sets, each op reporting `flops.<op>` and `acts.<op>`
counts, so a single trace answers totals, per-operator and per-module questions.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Number
from typing import Any, Iterator

import torch
from fvcore.nn.jit_analysis import JitModelAnalysis
from torch import nn

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.profiling.crosscheck import cross_check
from workbench.profiling.handles import EXTRA_FLOP_HANDLES, FVCORE_ACTIVATION_HANDLES, FVCORE_FLOP_HANDLES, Handle

# fvcore operator names whose counts are conv/linear multiply-accumulates.
MAC_OPERATORS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum", "mm")
_FLOPS, _ACTS = "flops.", "acts."


@dataclass(frozen=True)
class ModuleCount:
    """One row of the per-module breakdown (depth 0 is the whole model)."""

    module: str
    depth: int
    params: int
    macs: int
    flops_fvcore: int
    activations: int


@dataclass(frozen=True)
class CountResult:
    """What counting one model at one input size (batch 1) found."""

    params: int
    macs: int
    flops_fvcore: int = 0
    activations: int = 0
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    by_operator: dict[str, int] = field(default_factory=dict)
    modules: tuple[ModuleCount, ...] = field(default=(), repr=False)
    crosscheck_macs: int | None = None
    crosscheck_rel_diff: float | None = None
    crosscheck_ok: bool | None = None

    def by_module(self, max_depth: int | None = None) -> list[dict[str, Any]]:
        """Breakdown rows (module, depth, params, macs, flops_fvcore, activations)."""
        return [vars(row).copy() for row in self.modules if max_depth is None or row.depth <= max_depth]

    def table(self, max_depth: int | None = None) -> "Any":
        """The breakdown as a pandas DataFrame.

        Example:
            >>> from workbench.models import build_model, get_preset
            >>> arch = get_preset("ghostnet_cifar_050")
            >>> count_model(build_model(arch), arch).table(max_depth=1).columns[0]
            'module'
        """
        import pandas as pd

        return pd.DataFrame(self.by_module(max_depth), columns=[f for f in ModuleCount.__dataclass_fields__])


def count_params(model: nn.Module) -> int:
    """All trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def example_input(arch: ArchConfig, batch_size: int = 1) -> torch.Tensor:
    """A random input of the architecture's shape."""
    return torch.randn(batch_size, arch.in_channels, arch.input_size, arch.input_size)


def check_input_size(arch: ArchConfig) -> None:
    """Refuse input sizes that the network's downsampling would shrink below one pixel (below two
    for a network with DFC attention, whose 2x2 average pool needs a 2x2 map in every stage;
    strided convolutions round up, so an input one pixel larger than the stride is enough)."""
    stride = arch.output_stride()
    dfc = any(block.dfc for stage in (arch.stages or []) for block in getattr(stage, "blocks", []) or [])
    needed = stride + 1 if dfc else stride
    if arch.input_size < needed:
        why = " and its DFC attention pools 2x2" if dfc else ""
        raise WorkbenchError(
            f"input size {arch.input_size} is too small for '{arch.name}': its feature extractor "
            f"downsamples by {stride}{why}, so the input must be at least {needed}x{needed}"
        )


def count_model(model: nn.Module, arch: ArchConfig, *, crosscheck: bool = False) -> CountResult:
    """Count parameters, conv/linear MACs, fvcore FLOPs and activations of `model` at the
    architecture's input size (batch 1, eval mode), from a single trace.

    `crosscheck=True` also runs FlopCounterMode and records its MACs and the relative
    difference; a disagreement above 1% gives `crosscheck_ok=False`.

    Example:
        >>> from workbench.models import build_model, get_preset
        >>> arch = get_preset("ghostnet_100")
        >>> round(count_model(build_model(arch), arch).macs / 1e6)
        141
    """
    check_input_size(arch)
    return count_inputs(model, example_input(arch), crosscheck=crosscheck, name=arch.name)


def count_inputs(model: nn.Module, inputs: torch.Tensor, *, crosscheck: bool = False,
                 name: str = "model") -> CountResult:
    """`count_model` for any module and input tensor (the model is counted in eval mode and
    its train/eval state restored).

    Example:
        >>> count_inputs(nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.ones(1, 3, 10, 10)).macs
        21600
    """
    was_training = model.training
    model.eval()
    try:
        analysis = _analysis(model, inputs)
        with torch.no_grad(), _quiet_fvcore():
            try:
                per_module = analysis.by_module_and_operator()
            except Exception as error:  # a trace failure is the user's model, not our bug
                raise WorkbenchError(f"cannot trace '{name}' for counting: {_one_line(error)}") from error
            unsupported = dict(analysis.unsupported_ops())
        flops, acts = _split(per_module[""])
        macs = _macs(flops)
        check = cross_check(model, inputs, macs) if crosscheck else None
    finally:
        model.train(was_training)
    return CountResult(
        params=count_params(model),
        macs=macs,
        flops_fvcore=sum(flops.values()),
        activations=sum(acts.values()),
        unsupported_ops={op: int(n) for op, n in sorted(unsupported.items())},
        by_operator=dict(flops),
        modules=_module_rows(model, per_module),
        crosscheck_macs=check.macs if check else None,
        crosscheck_rel_diff=check.rel_diff if check else None,
        crosscheck_ok=check.ok if check else None,
    )


def _analysis(model: nn.Module, inputs: torch.Tensor) -> JitModelAnalysis:
    flop_handles: dict[str, Handle] = {**FVCORE_FLOP_HANDLES, **EXTRA_FLOP_HANDLES}
    act_handles = FVCORE_ACTIVATION_HANDLES
    handles = {op: _combined(op, flop_handles.get(op), act_handles.get(op)) for op in {*flop_handles, *act_handles}}
    return (
        JitModelAnalysis(model, inputs)
        .set_op_handle(**handles)
        .unsupported_ops_warnings(False)
        .uncalled_modules_warnings(False)
        .tracer_warnings("none")
    )


def _combined(op: str, flop: Handle | None, act: Handle | None) -> Handle:
    """One handle reporting both flops and activations of an op, under prefixed names."""
    name = op.split("::", 1)[-1]

    def handle(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for prefix, inner in ((_FLOPS, flop), (_ACTS, act)):
            if inner is not None:
                result = inner(inputs, outputs)
                items = {name: result} if isinstance(result, Number) else result
                counts.update({prefix + key: int(value) for key, value in items.items()})
        return counts

    return handle


def _split(counts: Counter[str]) -> tuple[Counter[str], Counter[str]]:
    flops: Counter[str] = Counter()
    acts: Counter[str] = Counter()
    for key, value in counts.items():
        (flops if key.startswith(_FLOPS) else acts)[key.split(".", 1)[1]] += int(value)
    return flops, acts


def _macs(flops: Counter[str]) -> int:
    return sum(int(flops.get(op, 0)) for op in MAC_OPERATORS)


def _module_rows(model: nn.Module, per_module: dict[str, Counter[str]]) -> tuple[ModuleCount, ...]:
    params: Counter[str] = Counter()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            parts = name.split(".")[:-1]
            for depth in range(len(parts) + 1):
                params[".".join(parts[:depth])] += parameter.numel()
    rows = []
    for module, counts in per_module.items():
        flops, acts = _split(counts)
        rows.append(ModuleCount(
            module=module, depth=module.count(".") + 1 if module else 0, params=params[module],
            macs=_macs(flops), flops_fvcore=sum(flops.values()), activations=sum(acts.values()),
        ))
    return tuple(rows)


@contextmanager
def _quiet_fvcore() -> Iterator[None]:
    """fvcore logs skipped ops through its logger; we report them as data instead."""
    logger = logging.getLogger("fvcore")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]
