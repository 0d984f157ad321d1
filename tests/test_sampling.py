"""Sampling: every knob of a space is suggested and lands in the ArchConfig, per-stage
overrides included; depth keeps a stage's first (strided) block or repeats its last."""

from __future__ import annotations

import optuna
import pytest

from workbench.search.arch_sampling import arch_from_params, param_names, sample_params
from workbench.search.loading import load_space
from workbench.search.space import KNOB_TABLE, parse_space
from workbench.search.space_resolve import base_arch

FULL = {
    "name": "full",
    "base": "ghostnet_cifar_050",
    "dataset": "digits",
    "input_size": 32,
    "knobs": {
        "ratio": {"low": 2, "high": 5},
        "dw_size": {"choices": [1, 3, 5, 7]},
        "cheap_op": {"choices": ["dw", "pw"]},
        "primary_kernel": {"choices": [1, 3], "scope": "per_stage", "stages": [2]},
        "kernel": {"choices": [3, 5, 7], "scope": "per_stage", "stages": [3, 7]},
        "width": {"low": 0.35, "high": 1.0, "step": 0.05},
        "stage_width": {"low": 0.5, "high": 1.5, "scope": "per_stage", "stages": [5]},
        "se": {"choices": [True, False], "scope": "per_stage", "stages": [0, 6]},
        "depth": {"low": 1, "high": 7, "scope": "per_stage", "stages": [6, 7]},
        "attention": {"choices": ["none", "se", "dfc"], "scope": "per_stage", "stages": [4]},
        "ghost": {"choices": ["concat", "rep"]},
    },
    "recipe": {"epochs": 0.2},
}


@pytest.fixture(scope="module")
def space():
    return parse_space(FULL, "full.yaml")


def test_every_knob_is_suggested(space) -> None:
    assert {name for name, _ in space.knobs.items()} == set(KNOB_TABLE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = sample_params(trial, space, base_arch(space))
    expected = {p for knob in KNOB_TABLE for p in param_names(space, knob, base_arch(space))}
    assert set(params) == expected == set(trial.params)
    assert {"kernel_s3", "kernel_s7", "se_s0", "se_s6", "depth_s6", "depth_s7", "stage_width_s5",
            "primary_kernel_s2"} <= expected


def test_values_land_in_the_arch(space) -> None:
    params = {"ratio": 4, "dw_size": 5, "cheap_op": "pw", "primary_kernel_s2": 3, "kernel_s3": 7, "kernel_s7": 3,
              "width": 0.75, "stage_width_s5": 1.25, "se_s0": True, "se_s6": False, "depth_s6": 2, "depth_s7": 3,
              "attention_s4": "dfc", "ghost": "concat"}
    base = base_arch(space)
    arch = arch_from_params(space, params, base_arch(space))
    assert (arch.ghost.ratio, arch.ghost.dw_size, arch.ghost.cheap_op, arch.width) == (4, 5, "pw", 0.75)
    assert arch.stages[2].ghost.primary_kernel == 3 and arch.resolved_ghost(2, 0).primary_kernel == 3
    assert arch.resolved_ghost(1, 0).primary_kernel == base.ghost.primary_kernel
    assert all(b.kernel == 7 for b in arch.stages[3].blocks) and all(b.kernel == 3 for b in arch.stages[7].blocks)
    assert arch.stages[5].width == 1.25 and arch.stages[4].width == 1.0
    assert arch.stages[0].blocks[0].se == 0.25          # switched on
    assert all(b.se == 0.0 for b in arch.stages[6].blocks)   # switched off
    # depth: stage 6 (5 blocks) shrinks to its first 2; stage 7 (1 strided block) grows to 3
    assert [b.mid for b in arch.stages[6].blocks] == [b.mid for b in base.stages[6].blocks[:2]]
    assert [b.stride for b in arch.stages[7].blocks] == [2, 1, 1]
    assert arch.output_stride() == base.output_stride()
    import torch

    from workbench.models import build_model

    model = build_model(arch).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, arch.num_classes)


def test_sampling_is_seeded_and_pure(space) -> None:
    def run(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return [sample_params(study.ask(), space, base_arch(space)) for _ in range(5)]

    assert run(3) == run(3) != run(4)
    params = run(3)[0]
    assert arch_from_params(space, params, base_arch(space)) == arch_from_params(space, params, base_arch(space))


def test_global_kernel_and_se_apply_to_every_block() -> None:
    space = parse_space({**FULL, "knobs": {"kernel": {"choices": [5, 7]}, "se": {"choices": [False]}}}, "g.yaml")
    arch = arch_from_params(space, {"kernel": 7, "se": False}, base_arch(space))
    assert all(b.kernel == 7 and b.se == 0.0 for s in arch.stages for b in s.blocks)


def test_plain_ghost_base_takes_ratio_and_dw_size() -> None:
    space = load_space("ghost_vgg16_cifar")
    arch = arch_from_params(space, {"ratio": 3, "dw_size": 7}, base_arch(space))
    assert arch.family == "vgg16_cifar" and arch.ghostify and (arch.ghost.ratio, arch.ghost.dw_size) == (3, 7)


def test_num_classes_and_channels_follow_the_data(space) -> None:
    params = sample_params(optuna.create_study().ask(), space, base_arch(space))
    arch = arch_from_params(space, params, base_arch(space), num_classes=7, in_channels=1)
    assert (arch.num_classes, arch.in_channels) == (7, 1)
