"""A tiny architecture and its export config, shared by the train, weights, ONNX, predict and BN tests."""

from __future__ import annotations

import torch

from workbench.config import ArchConfig, ExportConfig, MeasuredFigures, Provenance, TrainRecipe
from workbench.models import build_model, get_preset
from workbench.profiling.counting import count_model

SIZE = 16


def tiny_arch(width: float = 0.35) -> ArchConfig:
    data = get_preset("ghostnet_cifar_050", width=width, input_size=SIZE).model_dump()
    data["head"].update(last_channels=128, features=128)
    return ArchConfig.model_validate(data)


def exported(arch: ArchConfig, **train) -> ExportConfig:
    counts = count_model(build_model(arch), arch)
    recipe = TrainRecipe(dataset="digits", input_size=SIZE, epochs=2, batch_size=32, lr=0.05, seed=3, **train)
    provenance = Provenance(study="test", trial=0, pick="trial:0",
                            measured=MeasuredFigures(params=counts.params, macs=counts.macs),
                            workbench_version="0", torch_version=torch.__version__, exported_at="now")
    return ExportConfig(arch=arch, train=recipe, provenance=provenance)


