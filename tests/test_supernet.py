"""The once-for-all supernet: exactness of subnets against standalone `build_model` models,
the weight-sharing rules checked against the supernet's raw tensors, and the refusals.

Every expected value comes from somewhere other than the code under test: logits of a model
built by `build_model` and loaded with the extracted tensors, or convolutions computed here with
`torch.nn.functional` from the supernet's own tensors by the rule the docstrings state.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.search.arch_sampling import arch_from_params
from workbench.search.space_resolve import base_arch
from workbench.search.supernet_cover import check_params, corner_archs, corner_params, random_params
from workbench.search.supernet_run import load_space_to_train
from workbench.supernet import GhostSupernet, envelope_of


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    space = load_space_to_train("digits_per_stage")
    base = base_arch(space)
    net = GhostSupernet(envelope_of(corner_archs(space, base)))
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine terms, so a wrong gather shows
        for name, tensor in net.state_dict().items():
            if "running_var" in name:
                tensor.uniform_(0.5, 2.0)
            elif tensor.is_floating_point() and ("running_mean" in name or "bn_" in name):
                tensor.normal_(0.0, 0.3).add_(1.0 if "bn_weight" in name else 0.0)
    return space, base, net.eval()


def arch_of(space, base, params):
    return arch_from_params(space, params, base)


def standalone_logits(net: GhostSupernet, arch, x: torch.Tensor) -> torch.Tensor:
    model = build_model(arch)
    model.load_state_dict({k: v.detach().clone() for k, v in net.subnet_state(arch).items()})
    return model.eval()(x)


def test_largest_subnet_equals_supernet(setup) -> None:
    space, base, net = setup
    largest = arch_of(space, base, corner_params(space, base, largest=True))
    x = torch.randn(4, base.in_channels, base.input_size, base.input_size)
    with torch.no_grad():
        expected = standalone_logits(net, largest, x)
        got = net(x, largest)
        assert torch.allclose(got, expected, rtol=0, atol=1e-5)
        assert torch.allclose(net.extract(largest)(x), expected, rtol=0, atol=1e-5)
    assert expected.std() > 0.01  # not a degenerate net that maps everything alike


@pytest.mark.parametrize("seed", range(5))
def test_random_subnets_match_standalone_models(setup, seed: int) -> None:
    space, base, net = setup
    arch = arch_of(space, base, random_params(space, base, random.Random(seed)))
    size = (3, base.in_channels, base.input_size, base.input_size)
    x = torch.randn(*size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert torch.allclose(net(x, arch), standalone_logits(net, arch, x), rtol=0, atol=1e-5)


def test_smallest_subnet_matches_and_differs_from_largest(setup) -> None:
    space, base, net = setup
    small = arch_of(space, base, corner_params(space, base, largest=False))
    big = arch_of(space, base, corner_params(space, base, largest=True))
    x = torch.randn(2, base.in_channels, base.input_size, base.input_size)
    with torch.no_grad():
        assert torch.allclose(net(x, small), standalone_logits(net, small, x), rtol=0, atol=1e-5)
        assert not torch.allclose(net(x, small), net(x, big))
    def count(arch):
        return sum(p.numel() for p in build_model(arch).parameters())

    assert count(small) < count(big)


def _params(space, base, **fixed):
    params = corner_params(space, base, largest=True)
    for key, value in fixed.items():
        params.update({name: value for name in params if name == key or name.startswith(f"{key}_s")})
    return params


def test_width_keeps_the_leading_channels(setup) -> None:
    space, base, net = setup
    wide = net.extract(arch_of(space, base, _params(space, base, width=0.6)))
    narrow = net.extract(arch_of(space, base, _params(space, base, width=0.3)))
    rows = narrow.stem[0].weight.shape[0]
    assert rows < wide.stem[0].weight.shape[0]
    assert torch.equal(narrow.stem[0].weight, net.stem.weight[:rows])
    assert torch.equal(narrow.stem[0].weight, wide.stem[0].weight[:rows])


def test_ratio_keeps_each_intrinsic_map_and_its_ghosts(setup) -> None:
    """Cheap filter m of intrinsic map i is supernet filter i * gmax + m at every ratio."""
    space, base, net = setup
    gmax = net.stages[0][0].ghost1.dims.gmax
    for ratio in (2, 3, 4):
        model = net.extract(arch_of(space, base, _params(space, base, ratio=ratio)))
        module = model.stages[0][0].ghost1
        init = module.primary_conv[0].weight.shape[0]
        assert init == math.ceil(module.out_ch / ratio)
        super_primary = net.stages[0][0].ghost1.primary_conv.weight
        cols = module.primary_conv[0].weight.shape[1]
        assert torch.equal(module.primary_conv[0].weight, super_primary[:init, :cols])
        cheap = module.cheap_operation[0].weight
        super_cheap = net.stages[0][0].ghost1.cheap_operation.weight
        for i in range(init):
            for m in range(ratio - 1):
                assert torch.equal(cheap[i * (ratio - 1) + m], super_cheap[i * gmax + m])


def test_cheap_kernel_is_the_centre_of_the_largest(setup) -> None:
    space, base, net = setup
    def cheap(d):
        model = net.extract(arch_of(space, base, _params(space, base, dw_size=d)))
        return model.stages[0][0].ghost1.cheap_operation[0].weight

    d5, d3, d1 = cheap(5), cheap(3), cheap(1)
    assert d5.shape[-1] == 5 and d3.shape[-1] == 3 and d1.shape[-1] == 1
    assert torch.equal(d3, d5[..., 1:4, 1:4]) and torch.equal(d1, d5[..., 2:3, 2:3])


def test_ghost_module_by_hand(setup) -> None:
    """The first Ghost module of a ratio-3 subnet computed with F.conv2d from the supernet's raw
    tensors by the documented rule equals the extracted standalone module's output."""
    space, base, net = setup
    model = net.extract(arch_of(space, base, _params(space, base, ratio=3, dw_size=3)))
    module, elastic = model.stages[0][0].ghost1, net.stages[0][0].ghost1
    x = torch.randn(2, module.primary_conv[0].in_channels, 6, 6)
    n, init, gmax = module.out_ch, math.ceil(module.out_ch / 3), elastic.dims.gmax

    def bn(y, conv, rows):
        return F.batch_norm(y, conv.running_mean[rows], conv.running_var[rows], conv.bn_weight[rows],
                            conv.bn_bias[rows], training=False, eps=1e-5)

    rows = torch.arange(init)
    primary = F.relu(bn(F.conv2d(x, elastic.primary_conv.weight[:init, : x.shape[1]]), elastic.primary_conv, rows))
    cheap_rows = torch.tensor([i * gmax + m for i in range(init) for m in range(2)])
    kernel = elastic.cheap_operation.weight[cheap_rows]
    start = (kernel.shape[-1] - 3) // 2
    ghosts = F.conv2d(primary, kernel[..., start:start + 3, start:start + 3], padding=1, groups=init)
    ghosts = F.relu(bn(ghosts, elastic.cheap_operation, cheap_rows))
    expected = torch.cat([primary, ghosts], dim=1)[:, :n]
    with torch.no_grad():
        assert torch.allclose(module(x), expected, atol=1e-5)


def test_subnet_outside_the_ranges_is_refused(setup) -> None:
    space, base, net = setup
    too_many_ghosts = base.model_copy(update={"ghost": base.ghost.model_copy(update={"ratio": 6})})
    with pytest.raises(WorkbenchError, match="subnet outside the supernet"):
        net.subnet_state(too_many_ghosts)
    deeper = corner_params(space, base, largest=True)
    with pytest.raises(WorkbenchError, match=r"subnet outside the supernet: depth_s6 = 4 is outside"):
        check_params(space, base, {**deeper, "depth_s6": 4})
    wider = base.model_copy(update={"width": 1.0})
    with pytest.raises(WorkbenchError, match="subnet outside the supernet"):
        net.subnet_state(wider)


def test_train_mode_gradients_reach_the_shared_tensors(setup) -> None:
    space, base, _ = setup
    net = GhostSupernet(envelope_of(corner_archs(space, base))).train()
    small = arch_of(space, base, corner_params(space, base, largest=False))
    x = torch.randn(4, base.in_channels, base.input_size, base.input_size)
    net(x, small).sum().backward()
    grad = net.stem.weight.grad
    rows = build_model(small).stem[0].weight.shape[0]
    assert grad is not None and grad[:rows].abs().sum() > 0 and grad[rows:].abs().sum() == 0


def test_space_hash_ignores_an_absent_supernet_path() -> None:
    """A space without a supernet source hashes as before `accuracy.path` existed (the value
    below was computed by the workbench of commit 5bbd0b2), so stored studies still match."""
    from workbench.search.space import parse_space

    data = {"name": "pin", "base": "ghostnet_cifar_050", "dataset": "digits", "input_size": 8,
            "knobs": {"ratio": {"low": 2, "high": 4}}, "latency": None, "seed": 0}
    assert parse_space(data).space_hash() == "40768c2792c8b27cf48ebbad934ddce63294223b15fef36a68b7d272f963d2b9"
