"""Tables of one architecture: stage by stage, and the per-layer MACs and parameters.

Example:
    >>> from workbench.models import get_preset
    >>> architecture_table(get_preset("ghostnet_cifar_050"))["stage"].tolist()[:3]
    ['stem', '0', '1']
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.config.arch import ArchConfig
from workbench.models import build_model
from workbench.models.ghostnet import channels
from workbench.profiling.counting import count_model

ARCH_COLUMNS = ["stage", "blocks", "channels", "mid channels", "kernels", "strides", "ratio", "dw size", "cheap op",
                "primary kernel", "SE"]


def _values(items: list[Any]) -> str:
    """'3' for one distinct value, '3, 5' for several (in first-seen order)."""
    seen = list(dict.fromkeys(items))
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in seen)


def architecture_table(arch: ArchConfig) -> pd.DataFrame:
    """The architecture stage by stage: blocks, output channels after the width multipliers,
    expansion (mid) channels, depthwise kernels, strides, the resolved Ghost settings (ratio,
    dw size, cheap op, primary kernel) and the squeeze-excite ratios. Plain families
    (VGG/ResNet, optionally ghosted) are one row."""
    if arch.family != "ghostnet":
        ghost = arch.ghost
        return pd.DataFrame([{
            "stage": arch.family, "blocks": "fixed", "channels": f"width x{arch.width:g}", "mid channels": "–",
            "kernels": "3", "strides": "–", "ratio": ghost.ratio if arch.ghostify else "– (plain)",
            "dw size": ghost.dw_size if arch.ghostify else "–", "cheap op": ghost.cheap_op if arch.ghostify else "–",
            "primary kernel": ghost.primary_kernel if arch.ghostify else "–", "SE": "–",
        }], columns=ARCH_COLUMNS)
    plan = channels(arch)
    rows = [{"stage": "stem", "blocks": 1, "channels": str(plan.stem), "mid channels": "–",
             "kernels": str(arch.stem.kernel), "strides": str(arch.stem.stride), "ratio": "–", "dw size": "–",
             "cheap op": "–", "primary kernel": "–", "SE": "–"}]
    current = plan.stem
    for s, (stage, widths) in enumerate(zip(arch.stages, plan.stages)):
        ghosts = [arch.resolved_ghost(s, b) for b in range(len(stage.blocks))]
        rows.append({
            "stage": str(s), "blocks": len(stage.blocks), "channels": f"{current} → {widths[-1][2]}",
            "mid channels": _values([mid for _, mid, _ in widths]),
            "kernels": _values([block.kernel for block in stage.blocks]),
            "strides": _values([block.stride for block in stage.blocks]),
            "ratio": _values([g.ratio for g in ghosts]), "dw size": _values([g.dw_size for g in ghosts]),
            "cheap op": _values([g.cheap_op for g in ghosts]),
            "primary kernel": _values([g.primary_kernel for g in ghosts]),
            "SE": _values([block.se for block in stage.blocks]) if any(b.se for b in stage.blocks) else "none",
        })
        current = widths[-1][2]
    rows.append({"stage": "head", "blocks": 1,
                 "channels": f"{current} → {plan.last} → {arch.head.features} → {arch.num_classes}",
                 "mid channels": "–", "kernels": "1", "strides": "–", "ratio": "–", "dw size": "–", "cheap op": "–",
                 "primary kernel": "–", "SE": "–"})
    return pd.DataFrame(rows, columns=ARCH_COLUMNS)


def layer_table(arch: ArchConfig, max_depth: int = 3) -> pd.DataFrame:
    """Per-module parameters, MACs and fvcore FLOPs at batch 1 (one fvcore trace of the
    model built from `arch`), down to `max_depth` levels of module nesting, with each
    module's share of the model's MACs. The first row (`(model)`) is the whole network."""
    model = build_model(arch)
    counts = count_model(model, arch)
    types = {name: type(module).__name__ for name, module in model.named_modules()}
    table = counts.table(max_depth=max_depth)
    table.insert(1, "type", table["module"].map(types))
    table = table[(table["params"] > 0) | (table["macs"] > 0) | (table["depth"] == 0)].copy()
    table["module"] = table["module"].replace("", "(model)")
    total = max(int(counts.macs), 1)
    table["MACs %"] = (100.0 * table["macs"] / total).round(2)
    return table.reset_index(drop=True)
