"""Counting: MACs against hand formulas, the extra fvcore handles, the FlopCounterMode
cross-check on every preset, and the published GhostNet figures."""

from __future__ import annotations

import logging

import pytest
import torch
from fvcore.nn import ActivationCountAnalysis
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models import GhostModule, build_model, get_preset, preset_names
from workbench.models.blocks import HardSigmoid
from workbench.profiling import count_inputs, count_model, cross_check

torch.set_num_threads(1)


class _Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)


def _count(model: nn.Module, *shape: int):
    return count_inputs(model, torch.randn(*shape), crosscheck=True)


@pytest.mark.parametrize(
    ("model", "shape", "macs"),
    [
        (nn.Conv2d(3, 8, 3, padding=1, bias=False), (2, 3, 10, 10), 2 * 8 * 3 * 3 * 3 * 10 * 10),
        (nn.Conv2d(8, 16, 3, stride=2, padding=1), (1, 8, 10, 10), 16 * 8 * 3 * 3 * 5 * 5),
        (nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False), (1, 8, 10, 10), 8 * 5 * 5 * 10 * 10),
        (nn.Linear(16, 10), (4, 16), 4 * 16 * 10),
    ],
    ids=["conv", "strided-conv", "depthwise", "linear"],
)
def test_macs_of_single_layers_equal_the_formula(model: nn.Module, shape: tuple[int, ...], macs: int) -> None:
    result = _count(model, *shape)
    assert result.macs == macs
    assert result.crosscheck_macs == macs and result.crosscheck_ok


@pytest.mark.parametrize(("ratio", "dw_size"), [(2, 3), (3, 3), (4, 5)])
def test_macs_of_a_ghost_module_equal_the_formula(ratio: int, dw_size: int) -> None:
    in_ch, out_ch, hw = 8, 16, 10
    intrinsic = -(-out_ch // ratio)
    ghosts = intrinsic * (ratio - 1)
    expected = intrinsic * in_ch * hw * hw + ghosts * dw_size * dw_size * hw * hw
    result = _count(GhostModule(in_ch, out_ch, kernel=1, ratio=ratio, dw_size=dw_size), 1, in_ch, hw, hw)
    assert result.macs == expected
    assert result.crosscheck_ok


def test_add_of_two_tensors_counts_one_per_element() -> None:
    a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    result = count_inputs(_Lambda(lambda x, y: x + y), (a, b))
    assert result.by_operator == {"add": 2 * 3 * 4 * 5}
    assert result.unsupported_ops == {}


def test_broadcast_multiply_of_squeeze_excite_counts_the_output() -> None:
    scale = torch.randn(2, 3, 1, 1)
    result = count_inputs(_Lambda(lambda x: x * scale), torch.randn(2, 3, 4, 5))
    assert result.by_operator == {"mul": 2 * 3 * 4 * 5}


def test_hard_sigmoid_counts_add_relu6_and_div() -> None:
    n = 2 * 3 * 4 * 5
    result = count_inputs(HardSigmoid(), torch.randn(2, 3, 4, 5))
    assert result.by_operator == {"add": n, "relu6": n, "div": n}
    assert result.flops_fvcore == 3 * n


def test_hardtanh_and_max_pool_are_counted() -> None:
    result = count_inputs(nn.Sequential(nn.Hardtanh(), nn.MaxPool2d(2)), torch.randn(1, 2, 4, 4))
    assert result.by_operator == {"hardtanh": 32, "max_pool2d": 32}


def test_cat_and_slice_are_free() -> None:
    result = count_inputs(_Lambda(lambda x: torch.cat([x, x], dim=1)[:, :3]), torch.randn(1, 2, 4, 4))
    assert result.flops_fvcore == 0 and result.unsupported_ops == {}


def test_unsupported_ops_are_reported_by_name_and_count_without_logging(caplog: pytest.LogCaptureFixture) -> None:
    model = _Lambda(lambda x: torch.exp(x) + torch.exp(x))
    with caplog.at_level(logging.DEBUG, logger="fvcore"):
        result = count_inputs(model, torch.randn(1, 4))
    assert result.unsupported_ops == {"aten::exp": 2}
    assert not [r for r in caplog.records if r.name.startswith("fvcore")]


def test_an_untraceable_model_is_a_workbench_error() -> None:
    with pytest.raises(WorkbenchError, match="cannot trace"):
        count_inputs(_Lambda(lambda x: 3), torch.randn(1, 4))


def test_input_too_small_is_a_workbench_error() -> None:
    arch = get_preset("ghostnet_050", input_size=16)
    with pytest.raises(WorkbenchError, match="too small"):
        count_model(build_model(arch), arch)


def test_disagreement_is_reported_not_hidden() -> None:
    check = cross_check(nn.Linear(4, 3), torch.ones(1, 4), fvcore_macs=10)
    assert check.macs == 12 and not check.ok and check.rel_diff == pytest.approx(2 / 12)


@pytest.mark.parametrize("name", preset_names())
def test_fvcore_and_flop_counter_mode_agree_on_every_preset(name: str) -> None:
    arch = get_preset(name)
    small = 64 if name.startswith("ghostnetv2") else 32  # DFC's 2x2 pool needs a 2x2 map in the last stage
    if arch.input_size > small:
        arch = get_preset(name, input_size=small)
    model = build_model(arch)
    result = count_model(model, arch, crosscheck=True)
    assert result.crosscheck_ok, (result.macs, result.crosscheck_macs)
    assert result.crosscheck_rel_diff < 0.01
    assert result.unsupported_ops == {}
    assert model.training  # counting must not leave the model in eval mode


def test_published_ghostnet_figures() -> None:
    expected = {"ghostnet_050": (2.59e6, 42e6), "ghostnet_100": (5.18e6, 141e6), "ghostnet_130": (7.36e6, 226e6)}
    for name, (params, macs) in expected.items():
        arch = get_preset(name)
        result = count_model(build_model(arch), arch)
        assert result.params == pytest.approx(params, rel=0.005)
        assert result.macs == pytest.approx(macs, rel=0.01)


def test_one_trace_gives_fvcore_activations_and_a_consistent_breakdown() -> None:
    arch = get_preset("ghostnet_cifar_050")
    model = build_model(arch).eval()
    result = count_model(model, arch)
    reference = ActivationCountAnalysis(model, torch.randn(1, 3, 32, 32))
    reference.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert result.activations == reference.total()
    rows = result.by_module()
    root = rows[0]
    assert (root["module"], root["depth"], root["params"], root["macs"]) == ("", 0, result.params, result.macs)
    top = [r for r in rows if r["depth"] == 1]
    for key in ("params", "macs", "flops_fvcore", "activations"):
        assert sum(r[key] for r in top) == root[key]
    table = result.table(max_depth=3)
    assert list(table.columns) == ["module", "depth", "params", "macs", "flops_fvcore", "activations"]
    assert "stages.0.0" in set(table["module"]) and table["depth"].max() == 3


def test_flops_fvcore_also_counts_batchnorm_pooling_and_elementwise() -> None:
    arch = get_preset("ghostnet_cifar_050")
    result = count_model(build_model(arch), arch)
    assert {"batch_norm", "adaptive_avg_pool2d", "add", "mul"} <= set(result.by_operator)
    assert result.flops_fvcore == sum(result.by_operator.values()) > result.macs
