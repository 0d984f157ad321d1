"""GhostNetV2 and RepGhostNet: the DFC and RepGhost modules, tensor-for-tensor equality with timm,
deploy-time fusion, and `weights import --from timm` for both families.

The reference (`tests/data/timm_ghost_family_reference.json`: timm 1.0.31's keys per family, shapes
and parameter counts per variant, and float64 logits for the deterministic weights of `fake_timm.py`
on a 2x3x64x64 input, RepGhostNet also in timm's deploy form) was made with real timm:

    .venv/bin/pip download timm==1.0.31 --no-deps -d /tmp/timmdl
    mkdir -p /tmp/timmsrc && unzip -q -o /tmp/timmdl/timm-1.0.31-py3-none-any.whl 'timm/*' -d /tmp/timmsrc
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/make_timm_ghost_family_reference.py /tmp/timmsrc
"""

from __future__ import annotations

import pathlib

import pytest
import torch
from fake_timm import FAMILY_INPUT_SHAPE, FAMILY_LOGITS, FAMILY_VARIANTS, fake_input, fake_state, family_entries
from fake_timm import family_reference as _family_reference
from helpers.models import randomise_bn

from workbench.cli.main import main
from workbench.inference import load_model
from workbench.models import build_model, fold_batchnorm, get_preset
from workbench.models.blocks import DFCAttention, GhostBottleneck, GhostModule, RepGhostModule
from workbench.models.deploy import count_batchnorms
from workbench.profiling.counting import count_model
from workbench.weights import map_timm_state, rename_timm_key

REF = _family_reference()
ALL = [variant for variants in FAMILY_VARIANTS.values() for variant in variants]


def _loaded(variant: str, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """Our preset with timm's deterministic reference weights, renamed, in eval mode."""
    arch = get_preset(variant)
    state = map_timm_state(fake_state(family_entries(REF, variant)), arch, variant)
    model = build_model(arch)
    model.load_state_dict(state)
    return model.to(dtype).eval()


def _leading_logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(fake_input(FAMILY_INPUT_SHAPE).double())[:, :FAMILY_LOGITS]


# --- the modules ------------------------------------------------------------------------------------

def test_dfc_gate_is_a_sigmoid_upsampled_to_the_output() -> None:
    dfc = DFCAttention(8, 16).eval()
    features = torch.ones(2, 16, 7, 9)  # odd sizes: pooling floors, nearest upsampling restores
    gated = dfc(torch.randn(2, 8, 7, 9), features)
    assert gated.shape == features.shape
    assert torch.all((gated > 0) & (gated < 1))
    assert dfc.horizontal[0].kernel_size == (1, 5) and dfc.vertical[0].kernel_size == (5, 1)
    assert dfc.horizontal[0].groups == 16


def test_ghost_module_with_dfc_keeps_v1_tensors_first() -> None:
    plain, v2 = GhostModule(8, 16), GhostModule(8, 16, dfc=True)
    keys = list(v2.state_dict())
    assert keys[: len(plain.state_dict())] == list(plain.state_dict())
    assert keys[len(plain.state_dict())].startswith("dfc.compress.0.")


@pytest.mark.parametrize("kwargs", [{}, {"dw_size": 5}, {"cheap_op": "pw"}, {"relu": False}, {"stride": 2},
                                    {"kernel": 3, "dfc": True}])
def test_repghost_module_fuses_into_one_conv(kwargs: dict) -> None:
    torch.manual_seed(0)
    module = RepGhostModule(8, 12, **kwargs)
    randomise_bn(module)
    module.eval()
    x = torch.randn(2, 8, 12, 12)
    with torch.no_grad():
        trained = module(x)
        fused = module.reparameterize()
        deployed = fused(x)
    assert fused.identity_bn is None and len(fused.cheap_operation) == 1
    assert fused.cheap_operation[0].bias is not None
    torch.testing.assert_close(deployed, trained, rtol=1e-5, atol=1e-5 * trained.abs().max().item())
    assert fused.reparameterize() is fused  # a second call is a no-op


def test_bottleneck_merge_rep_builds_repghost_modules() -> None:
    block = GhostBottleneck(16, 24, 16, merge="rep")
    assert isinstance(block.ghost1, RepGhostModule) and isinstance(block.ghost2, RepGhostModule)
    assert block.ghost1.primary_conv[0].out_channels == 24  # no ratio: the primary conv makes every map
    with pytest.raises(ValueError, match="allowed: 'concat', 'rep'"):
        GhostBottleneck(16, 24, 16, merge="sum")


# --- tensor for tensor with timm --------------------------------------------------------------------

@pytest.mark.parametrize("variant", ALL)
def test_preset_is_timms_model_tensor_for_tensor(variant: str) -> None:
    entries = family_entries(REF, variant)
    model = build_model(get_preset(variant))
    ours = model.state_dict()
    assert len(entries) == len(ours)
    mapped = [rename_timm_key(name) for name, _ in entries]
    assert mapped == list(ours)  # one rename table: same entries, same order
    for (name, shape), target in zip(entries, mapped):
        assert list(ours[target].shape) == shape, name
    assert sum(p.numel() for p in model.parameters()) == REF["variants"][variant]["params"]


@pytest.mark.parametrize("variant", ALL)
def test_preset_reproduces_timms_logits(variant: str) -> None:
    expected = torch.tensor(REF["variants"][variant]["logits_float64"], dtype=torch.float64)
    # float64 on both sides: float32 sums depend on threads and CPU kernels; these agree to ~1e-15.
    torch.testing.assert_close(_leading_logits(_loaded(variant)), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("variant", ["repghostnet_050", "repghostnet_111"])
def test_deployed_repghostnet_matches_timms_deploy_form(variant: str) -> None:
    expected = torch.tensor(REF["variants"][variant]["deploy_logits_float64"], dtype=torch.float64)
    deployed = fold_batchnorm(_loaded(variant))
    assert count_batchnorms(deployed) == 0
    torch.testing.assert_close(_leading_logits(deployed), expected, rtol=1e-9, atol=1e-9)


def test_against_installed_timm() -> None:
    timm = pytest.importorskip("timm")
    for variant in ("ghostnetv2_100", "repghostnet_100"):
        theirs = timm.create_model(variant).eval()
        ours = build_model(get_preset(variant)).eval()
        ours.load_state_dict(map_timm_state(theirs.state_dict(), get_preset(variant), variant))
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


# --- deploy form ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["repghostnet_050", "repghostnet_100", "ghostnetv2_100"])
def test_deploy_form_equals_the_trained_form(name: str) -> None:
    arch = get_preset(name, input_size=64)
    torch.manual_seed(0)
    model = build_model(arch)
    randomise_bn(model)
    model.eval()
    deployed = fold_batchnorm(model)
    assert count_batchnorms(deployed) == 0
    assert not any(m.identity_bn is not None for m in deployed.modules() if isinstance(m, RepGhostModule))
    assert count_batchnorms(model) > 0, "the deploy transform must not modify the original model"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, actual = model(x), deployed(x)
    assert (actual - expected).abs().max() <= 1e-5 * expected.abs().max()


@pytest.mark.parametrize("name", ["repghostnet_100", "ghostnetv2_100"])
def test_deployed_macs_counted_by_fvcore(name: str) -> None:
    arch = get_preset(name)
    model = build_model(arch)
    trained, deployed = count_model(model, arch), count_model(fold_batchnorm(model), arch)
    # MACs (conv + linear, the papers' convention) are unchanged: fusion removes BN branches only.
    assert deployed.macs == trained.macs
    assert deployed.unsupported_ops == {} and "batch_norm" not in deployed.by_operator
    assert deployed.flops_fvcore < trained.flops_fvcore
    assert deployed.params < trained.params


def test_dfc_pooling_and_upsampling_are_counted_outside_macs() -> None:
    arch = get_preset("ghostnetv2_100")
    counts = count_model(build_model(arch), arch)
    assert {"avg_pool2d", "upsample_nearest2d", "sigmoid"} <= set(counts.by_operator)
    assert counts.unsupported_ops == {}


# --- weights import ---------------------------------------------------------------------------------

def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("variant", ["ghostnetv2_100", "repghostnet_058"])
def test_weights_import_reads_the_new_families(tmp_path: pathlib.Path, capsys, variant: str) -> None:
    source = tmp_path / "timm.pth"
    torch.save(fake_state(family_entries(REF, variant)), source)
    assert main(["weights", "import", "--from", "timm", str(source), "--preset", variant,
                 "--out", str(tmp_path / "w.pt")]) == 0
    assert f"imported {len(family_entries(REF, variant))} tensors" in capsys.readouterr().out
    model, _ = load_model(tmp_path / "w.pt")
    expected = torch.tensor(REF["variants"][variant]["logits_float64"], dtype=torch.float64)
    torch.testing.assert_close(_leading_logits(model.double().eval()), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("variant, preset, message", [
    ("repghostnet_100", "ghostnetv2_100",
     "key 'blocks.0.0.ghost1.fusion_bn.0.weight' has no place in 'ghostnetv2_100' (a GhostNetV2 preset): "
     "it is a timm RepGhostNet key"),
    ("ghostnetv2_100", "repghostnet_100", "key 'blocks.2.0.ghost1.short_conv.0.weight' has no place"),
    ("ghostnetv2_100", "ghostnet_100", "key 'blocks.2.0.ghost1.short_conv.0.weight' has no place"),
    ("repghostnet_100", "ghostnet_100", "key 'blocks.0.0.ghost1.fusion_bn.0.weight' has no place"),
])
def test_a_checkpoint_of_another_family_is_refused_naming_the_key(tmp_path, capsys, variant, preset,
                                                                   message) -> None:
    source = tmp_path / "timm.pth"
    torch.save(fake_state(family_entries(REF, variant)), source)
    out = tmp_path / "out" / "w.pt"
    assert main(["weights", "import", "--from", "timm", str(source), "--preset", preset, "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert message in err and str(source) in err, err
    assert not out.parent.exists()


def test_a_v1_checkpoint_for_a_v2_preset_is_refused_naming_the_missing_key(tmp_path, capsys) -> None:
    source = tmp_path / "v1.pth"
    torch.save({"conv_stem.weight": torch.zeros(16, 3, 3, 3), "blocks.0.0.ghost1.cheap_operation.0.weight":
                torch.zeros(8, 1, 3, 3)}, source)  # names that every timm family shares
    for preset, key in (("ghostnetv2_100", "blocks.2.0.ghost1.short_conv.0.weight"),
                        ("repghostnet_100", "blocks.0.0.ghost1.fusion_bn.0.weight")):
        assert main(["weights", "import", "--from", "timm", str(source), "--preset", preset,
                     "--out", str(tmp_path / "w.pt")]) == 2
        assert f"no key '{key}'" in _one_line_error(capsys)


# --- the family knobs -------------------------------------------------------------------------------

def _space_file(tmp_path: pathlib.Path, base: str, knobs: dict) -> pathlib.Path:
    import yaml

    data = {"name": "family", "base": base, "dataset": "digits", "input_size": 16, "knobs": knobs,
            "objectives": ["accuracy", "macs"], "recipe": {"epochs": 0.2, "batch_size": 64}, "latency": None}
    path = tmp_path / "family.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_family_space_samples_every_variant_and_they_build() -> None:
    from workbench.search import load_space
    from workbench.search.arch_sampling import arch_from_params
    from workbench.search.space_check import cheapest_corners
    from workbench.search.space_resolve import base_arch

    space = load_space("ghost_family_digits")
    base = base_arch(space)
    corners = cheapest_corners(space, base)
    assert {(c["ghost"], c["attention_s3"]) for c in corners} == {(g, a) for g in ("concat", "rep")
                                                                   for a in ("none", "se", "dfc")}
    params = {"ghost": "rep", "ratio": 2, "width": 0.3, "attention_s3": "dfc", "attention_s4": "se",
              "attention_s6": "none", "attention_s8": "dfc"}
    arch = arch_from_params(space, params, base, num_classes=10, in_channels=1)
    assert arch.ghost.merge == "rep"
    assert [b.dfc for b in arch.stages[3].blocks] == [True] and arch.stages[3].blocks[0].se == 0.25  # base SE kept
    assert arch.stages[4].blocks[0].se == 0.25 and not arch.stages[4].blocks[0].dfc
    assert all(b.se == 0.0 and not b.dfc for b in arch.stages[6].blocks)
    model = build_model(arch)
    assert any(isinstance(m, RepGhostModule) and m.dfc is not None for m in model.modules())
    concat = build_model(arch_from_params(space, dict(params, ghost="concat"), base, num_classes=10, in_channels=1))
    assert not any(isinstance(m, RepGhostModule) for m in concat.modules())


@pytest.mark.parametrize("base, knobs, fragment", [
    ("ghost_vgg16_cifar", {"attention": {"choices": ["none", "dfc"]}},
     "knobs.attention: SE and DFC attention attach to GhostNet bottlenecks; the base 'ghost_vgg16_cifar' is "
     "family vgg16_cifar"),
    ("vgg16_cifar", {"attention": {"choices": ["dfc"]}}, "knobs.attention: SE and DFC attention attach"),
    ("resnet56_cifar", {"ghost": {"choices": ["rep"]}}, "knobs.ghost: RepGhost modules attach to GhostNet"),
    ("ghostnet_cifar_050", {"attention": {"choices": ["none", "cbam"]}},
     "knobs.attention.choices: attention takes choices from none, se, dfc"),
    ("ghostnet_cifar_050", {"ghost": {"choices": ["concat", "add"]}},
     "knobs.ghost.choices: ghost takes choices from concat, rep"),
])
def test_family_knobs_refuse_what_the_base_cannot_take(tmp_path, capsys, base, knobs, fragment) -> None:
    path = _space_file(tmp_path, base, knobs)
    assert main(["search", "--space", str(path), "--trials", "1", "--storage", str(tmp_path / "s.db"),
                 "--no-progress"]) == 2
    err = _one_line_error(capsys)
    assert fragment in err and str(path) in err, err
    assert not (tmp_path / "s.db").exists()


# sha256 of each preset's canonical JSON as workbench computed it before `ghost.merge` and `dfc`
# existed (run at commit 8f00b33): a study begun then must still find its architectures.
HASHES_BEFORE_THE_FAMILY = {
    "ghostnet_cifar_050": "248d7937de8f86453cd2a79271171bd202e1fbf66b02da897fd34906f132ad6a",
    "ghostnet_100": "14f45682737314864baf13a1fb345c6c7eae441d7f771107217d7fb8faf37519",
    "ghost_vgg16_cifar": "5870be39ecf3d01b3a10e0ef531301a720eeceba499277b1435605f067051e15",
}


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE_THE_FAMILY))
def test_v1_architectures_hash_as_before_the_new_fields(name: str) -> None:
    from workbench.search.dedupe import arch_hash

    assert arch_hash(get_preset(name))[1] == HASHES_BEFORE_THE_FAMILY[name]
    rep = get_preset(name)
    if rep.family == "ghostnet":
        changed = rep.model_copy(update={"ghost": rep.ghost.model_copy(update={"merge": "rep"})})
        assert arch_hash(changed)[1] != HASHES_BEFORE_THE_FAMILY[name]
