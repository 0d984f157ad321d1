"""Ghost modules, bottlenecks, ghostify and BatchNorm folding."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.models import randomise_bn
from torch import nn

from workbench.models import (
    GhostBottleneck,
    GhostModule,
    SqueezeExcite,
    build_model,
    fold_batchnorm,
    get_preset,
    ghostify,
    make_divisible,
)
from workbench.models.deploy import count_batchnorms
from workbench.models.plain import ResNet56Cifar, VGG16Cifar
from workbench.profiling.counting import count_model


@pytest.mark.parametrize("out_ch,ratio", [(16, 2), (17, 2), (30, 3), (32, 4), (8, 1)])
def test_ghost_module_channels(out_ch: int, ratio: int) -> None:
    module = GhostModule(8, out_ch, ratio=ratio, dw_size=3)
    intrinsic = math.ceil(out_ch / ratio)
    assert module.primary_conv[0].out_channels == intrinsic
    if ratio > 1:
        assert module.cheap_operation[0].out_channels == intrinsic * (ratio - 1)
        assert module.cheap_operation[0].groups == intrinsic
        assert module.cheap_operation[0].kernel_size == (3, 3)
    out = module(torch.randn(2, 8, 10, 10))
    assert out.shape == (2, out_ch, 10, 10)


def test_pointwise_cheap_operation() -> None:
    module = GhostModule(8, 16, ratio=2, cheap_op="pw")
    assert module.cheap_operation[0].kernel_size == (1, 1)
    assert module.cheap_operation[0].groups == 1
    assert module(torch.randn(1, 8, 6, 6)).shape == (1, 16, 6, 6)


def test_ghost_module_relu_flag() -> None:
    with_relu = GhostModule(4, 8, relu=True)
    without = GhostModule(4, 8, relu=False)
    assert any(isinstance(m, nn.ReLU) for m in with_relu.modules())
    assert not any(isinstance(m, nn.ReLU) for m in without.modules())


@pytest.mark.parametrize("stride,in_ch,out_ch,identity", [(1, 16, 16, True), (2, 16, 24, False), (1, 16, 24, False)])
def test_bottleneck_shapes_and_shortcut(stride: int, in_ch: int, out_ch: int, identity: bool) -> None:
    block = GhostBottleneck(in_ch, 48, out_ch, dw_kernel=5, stride=stride, se_ratio=0.25)
    assert isinstance(block.shortcut, nn.Identity) is identity
    assert (block.conv_dw is not None) is (stride > 1)
    out = block(torch.randn(2, in_ch, 16, 16))
    assert out.shape == (2, out_ch, 16 // stride, 16 // stride)


def test_squeeze_excite_rounds_to_four_and_gates() -> None:
    se = SqueezeExcite(72, 0.25)
    assert se.conv_reduce.out_channels == 20  # 72 * 0.25 = 18 -> 20
    x = torch.randn(2, 72, 5, 5)
    gate = (se(x) / x).detach()
    assert torch.all(gate >= 0) and torch.all(gate <= 1)


def test_make_divisible() -> None:
    assert make_divisible(18) == 20
    assert make_divisible(16 * 0.5) == 8
    assert make_divisible(1) == 4
    assert make_divisible(960 * 1.3) == 1248


@pytest.mark.parametrize("plain_cls", [VGG16Cifar, ResNet56Cifar])
@pytest.mark.parametrize("ratio", [2, 4])
def test_ghostify_keeps_shapes_and_divides_macs(plain_cls: type[nn.Module], ratio: int) -> None:
    arch = get_preset("vgg16_cifar" if plain_cls is VGG16Cifar else "resnet56_cifar")
    plain = plain_cls()
    ghosted = ghostify(plain_cls(), ratio=ratio, dw_size=3)
    plain_convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    ghost_modules = [m for m in ghosted.modules() if isinstance(m, GhostModule)]
    assert len(ghost_modules) == len(plain_convs)
    for conv, ghost in zip(plain_convs, ghost_modules):
        primary = ghost.primary_conv[0]
        assert (primary.kernel_size, primary.stride, ghost.out_ch) == (conv.kernel_size, conv.stride, conv.out_channels)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert ghosted.eval()(x).shape == plain.eval()(x).shape
    plain_macs = count_model(plain, arch).macs
    ghost_macs = count_model(ghosted, arch).macs
    # The cheap d x d depthwise ops add a little on top of the s-fold saving of the primary convs.
    assert plain_macs / ratio <= ghost_macs <= plain_macs / ratio * 1.15


@pytest.mark.parametrize("name", ["ghostnet_cifar_050", "ghost_vgg16_cifar", "ghost_resnet56_cifar", "resnet56_cifar"])
def test_batchnorm_folding_keeps_outputs(name: str) -> None:
    arch = get_preset(name)
    torch.manual_seed(0)
    model = build_model(arch)
    randomise_bn(model)
    model.eval()
    folded = fold_batchnorm(model)
    if arch.family == "ghostnet" or not arch.ghostify:
        assert count_batchnorms(folded) == 0
    else:
        assert count_batchnorms(folded) < count_batchnorms(model)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected, actual = model(x), folded(x)
    assert torch.allclose(actual, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
    assert count_batchnorms(model) > 0, "folding must not modify the original model"


def test_imagenet_ghostnet_folds_exactly_at_224() -> None:
    arch = get_preset("ghostnet_050")
    torch.manual_seed(1)
    model = build_model(arch)
    randomise_bn(model)
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected, actual = model(x), folded(x)
    assert (actual - expected).abs().max() <= 1e-5 * expected.abs().max() + 1e-6
