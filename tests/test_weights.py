"""timm GhostNet weights: the key mapping against timm's own key list, the import of .pth, .bin
and .safetensors checkpoints reproducing timm's logits, inheritance for `train --init`, the
refresh of an older model file, and every bad input (exit 2, one line, nothing written).

The reference (`tests/data/timm_ghostnet_reference.json`: timm 1.0.31's keys and shapes for
ghostnet_050/100/130 and its float64 logits for the deterministic weights of `fake_timm.py`) was made
with real timm, not with this package:

    .venv/bin/pip download timm==1.0.31 --no-deps -d /tmp/timmdl
    mkdir -p /tmp/timmsrc && unzip -q -o /tmp/timmdl/timm-1.0.31-py3-none-any.whl 'timm/*' -d /tmp/timmsrc
    OMP_NUM_THREADS=1 .venv/bin/python tools/make_timm_ghostnet_reference.py /tmp/timmsrc
"""

from __future__ import annotations

import json
import math
import pathlib

import pytest
import torch
from fake_timm import VARIANTS, fake_input, fake_state, reference
from helpers.train import exported, tiny_arch

from workbench.cli.main import main
from workbench.config import dump_model
from workbench.config.io import to_plain
from workbench.inference import load_model
from workbench.models import build_model, get_preset
from workbench.training.checkpoint import save_model_file, save_weights
from workbench.training.inherit import inherit_weights
from workbench.weights import rename_timm_key

REF = reference()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def _write(state: dict, path: pathlib.Path) -> pathlib.Path:
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    elif path.suffix == ".bin":
        torch.save({"state_dict": state}, path)  # the wrapped form training scripts save
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize("variant", VARIANTS)
def test_mapping_places_every_timm_key_on_the_preset(variant) -> None:
    entries = REF["variants"][variant]["keys"]
    ours = build_model(get_preset(variant)).state_dict()
    assert len(entries) == len(ours) == 512
    mapped = [rename_timm_key(name) for name, _ in entries]
    assert mapped == list(ours)  # same entries, same order
    for (name, shape), target in zip(entries, mapped):
        assert list(ours[target].shape) == shape, name


@pytest.mark.parametrize("variant, suffix", [("ghostnet_050", ".safetensors"), ("ghostnet_100", ".pth"),
                                             ("ghostnet_100", ".bin"), ("ghostnet_100", ".safetensors"),
                                             ("ghostnet_130", ".pth")])
def test_import_reproduces_timm_logits(tmp_path, capsys, variant, suffix) -> None:
    record = REF["variants"][variant]
    source = _write(fake_state(record["keys"]), tmp_path / f"timm{suffix}")
    assert main(["weights", "import", "--from", "timm", str(source), "--preset", variant,
                 "--out", str(tmp_path / "w.pt")]) == 0
    assert "imported 512 tensors" in capsys.readouterr().out
    payload = torch.load(tmp_path / "w.pt", weights_only=True)
    cfg = record["pretrained_cfg"]
    pre = payload["preprocessing"]
    assert (pre["mean"], pre["std"], pre["crop_pct"], pre["interpolation"]) == \
        (cfg["mean"], cfg["std"], cfg["crop_pct"], cfg["interpolation"])
    assert [pre["channels"], pre["input_size"], pre["input_size"]] == cfg["input_size"]
    model, _ = load_model(tmp_path / "w.pt")
    with torch.no_grad():  # in float64, as the reference: float32 results depend on threads and CPU kernels
        logits = model.double()(fake_input().double())
    torch.testing.assert_close(logits, torch.tensor(record["logits_float64"], dtype=torch.float64), atol=1e-6, rtol=0)


def test_against_installed_timm() -> None:
    timm = pytest.importorskip("timm")
    from workbench.weights import map_timm_state

    for variant in VARIANTS:
        theirs = timm.create_model(variant).eval()
        ours = build_model(get_preset(variant)).eval()
        ours.load_state_dict(map_timm_state(theirs.state_dict(), get_preset(variant), variant))
        x = torch.randn(2, 3, 224, 224)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


class _RunsCode:
    """Unpickling this would create `marker`: a stand-in for a hostile checkpoint."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _bad_files(tmp_path: pathlib.Path) -> dict[str, tuple[pathlib.Path, str]]:
    g100 = fake_state(REF["variants"]["ghostnet_100"]["keys"])
    good = _write(g100, tmp_path / "good.pth")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:4096])
    safet = _write(g100, tmp_path / "good.safetensors")
    truncated_st = tmp_path / "truncated.safetensors"
    truncated_st.write_bytes(safet.read_bytes()[:4096])
    text = tmp_path / "notes.bin"
    text.write_text("these are not tensors\n")
    hostile = tmp_path / "hostile.pth"
    torch.save({"conv_stem.weight": _RunsCode(tmp_path / "ran")}, hostile)
    numbers = tmp_path / "numbers.pth"
    torch.save({"conv_stem.weight": 3, "epoch": 5}, numbers)
    resnet = _write({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 2048)},
                    tmp_path / "resnet.safetensors")
    v2 = dict(g100, **{"blocks.2.0.ghost1.short_conv.0.weight": torch.zeros(48, 16, 1, 5)})
    ghostnetv2 = _write(v2, tmp_path / "ghostnetv2.pth")
    partial = _write({k: v for k, v in g100.items() if k != "classifier.bias"}, tmp_path / "partial.pth")
    return {
        "another family": (resnet, "key 'conv1.weight' has no place"),
        "GhostNetV2": (ghostnetv2, "key 'blocks.2.0.ghost1.short_conv.0.weight' has no place"),
        "wrong width": (good, "key 'conv_stem.weight' has shape [16, 3, 3, 3] but 'ghostnet_130' needs [20, 3, 3, 3]"),
        "missing key": (partial, "no tensor for 'classifier.bias'"),
        "truncated .pth": (truncated, "truncated or not a PyTorch tensor file"),
        "truncated .safetensors": (truncated_st, "not a readable safetensors file"),
        "not a tensor file": (text, "not a PyTorch tensor file"),
        "pickle that runs code": (hostile, "a file that asks to run code"),
        "non-tensor values": (numbers, "entry 'conv_stem.weight' holds int, not a tensor"),
    }


def test_bad_checkpoints_are_refused_with_one_line(tmp_path, capsys) -> None:
    for case, (path, message) in _bad_files(tmp_path).items():
        preset = "ghostnet_130" if case == "wrong width" else "ghostnet_100"
        out = tmp_path / "out" / "w.pt"
        argv = ["weights", "import", "--from", "timm", str(path), "--preset", preset, "--out", str(out)]
        assert main(argv) == 2, case
        err = _one_line_error(capsys)
        assert message in err and str(path) in err, (case, err)
        assert not (tmp_path / "out").exists(), case
    assert not (tmp_path / "ran").exists()  # the hostile pickle never ran
    assert main(["weights", "import", "--from", "timm", str(tmp_path / "good.pth"), "--preset", "ghostnet_cifar_050",
                 "--out", str(tmp_path / "w.pt")]) == 2
    assert "ghostnet_050, ghostnet_100, ghostnet_130" in _one_line_error(capsys)


# --- inheritance ---------------------------------------------------------------------------------

def test_inherit_takes_leading_channels_and_kernel_centres() -> None:
    small = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    big = torch.nn.Sequential(torch.nn.Conv2d(4, 5, 5), torch.nn.BatchNorm2d(5), torch.nn.Conv2d(5, 5, 1))
    torch.nn.init.normal_(big[1].weight)
    report = inherit_weights(small, big.state_dict(), "big")
    assert torch.equal(small[0].weight, big[0].weight[:3, :2, 1:4, 1:4])
    assert torch.equal(small[0].bias, big[0].bias[:3])
    assert torch.equal(small[1].weight, big[1].weight[:3])
    assert (report.whole, report.partial, report.fresh) == (1, 6, 0)  # num_batches_tracked whole
    assert report.fraction == 1.0


def test_inherit_reinitialises_only_a_different_classifier() -> None:
    source = build_model(get_preset("ghostnet_100")).state_dict()
    arch = get_preset("ghostnet_100", num_classes=10, input_size=32)
    model = build_model(arch)
    fresh_classifier = model.classifier.weight.detach().clone()
    report = inherit_weights(model, source, "w.pt")
    assert torch.equal(model.classifier.weight, fresh_classifier)
    assert torch.equal(model.stem[0].weight, source["stem.0.weight"])
    total = sum(p.numel() for p in model.parameters())
    assert report.fraction == pytest.approx((total - (1280 * 10 + 10)) / total)
    assert (report.whole, report.partial, report.fresh) == (510, 0, 2)
    assert "classifier re-initialised (1000 classes in the weights, 10 here)" in report.summary()


def test_train_init_reports_what_it_inherited(tmp_path, capsys) -> None:
    wide = tiny_arch(0.5).model_copy(update={"num_classes": 5})
    torch.manual_seed(1)
    donor = build_model(wide)
    save_weights(donor, {"arch": to_plain(wide)}, tmp_path / "donor.pt")
    dump_model(exported(tiny_arch(0.35)), tmp_path / "c.yaml")
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "c.yaml"), "--init", str(tmp_path / "donor.pt"), "--epochs", "0.1",
                 "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "classifier re-initialised (5 classes in the weights, 10 here)" in printed
    assert "try: workbench predict" in printed
    init = json.loads((out / "metrics.json").read_text())["init"]
    target = build_model(tiny_arch(0.35))
    donor_state = donor.state_dict()
    expected = sum(math.prod(min(a, b) for a, b in zip(p.shape, donor_state[n].shape))
                   for n, p in target.named_parameters() if not n.startswith("classifier"))
    assert init["inherited_params"] == expected
    assert f"inherited {100 * init['fraction']:.1f}% of the parameters" in printed
    assert 0.0 < init["fraction"] < 1.0 and init["partial"] > 0


def test_train_init_bad_input_writes_nothing(tmp_path, capsys) -> None:
    dump_model(exported(tiny_arch()), tmp_path / "c.yaml")
    (tmp_path / "junk.pt").write_text("junk")
    other = get_preset("resnet56_cifar")
    save_model_file(build_model(other).state_dict(), {"arch": to_plain(other)}, tmp_path / "resnet.pt")
    for init, message in (("junk.pt", "not a readable checkpoint"), ("missing.pt", "no such model file"),
                          ("resnet.pt", "weights of a 'resnet56_cifar' network")):
        out = tmp_path / "run"
        assert main(["train", str(tmp_path / "c.yaml"), "--init", str(tmp_path / init), "--epochs", "0.1",
                     "--out", str(out), "--no-progress", "--device", "cpu"]) == 2
        assert message in _one_line_error(capsys), init
        assert not out.exists(), init
    assert main(["train", str(tmp_path / "c.yaml"), "--init", str(tmp_path / "resnet.pt"), "--resume",
                 "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu"]) == 2
    assert "--init starts a fresh run" in _one_line_error(capsys)


# --- older model files ------------------------------------------------------------------------------

def test_refresh_gives_an_old_model_file_its_preprocessing(tmp_path, capsys) -> None:
    arch = tiny_arch()
    old = tmp_path / "model.pt"
    torch.save({"state_dict": build_model(arch).state_dict(), "config": {"arch": to_plain(arch)}}, old)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8), 128).save(image)
    assert main(["predict", str(old), str(image)]) == 2
    assert f"workbench weights refresh {old}" in _one_line_error(capsys)
    assert main(["weights", "refresh", str(old)]) == 0
    capsys.readouterr()
    payload = torch.load(old, weights_only=True)
    # The digits normalisation the issue quotes (16 px; default recipe: seed 0, 20% test, 20% validation).
    assert [round(v, 4) for v in payload["preprocessing"]["mean"]] == [0.3052] * 3
    assert [round(v, 4) for v in payload["preprocessing"]["std"]] == [0.3190] * 3
    assert payload["class_names"] == [str(d) for d in range(10)]
    assert main(["predict", str(old), str(image), "--top", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: ")


def test_imported_imagenet_weights_predict_class_indices(tmp_path, capsys) -> None:
    record = REF["variants"]["ghostnet_050"]
    source = _write(fake_state(record["keys"]), tmp_path / "timm.safetensors")
    assert main(["weights", "import", "--from", "timm", str(source), "--preset", "ghostnet_050",
                 "--out", str(tmp_path / "w.pt")]) == 0
    from PIL import Image

    Image.new("RGB", (300, 200), (120, 30, 200)).save(tmp_path / "photo.jpg")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "w.pt"), str(tmp_path / "photo.jpg"), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    names = line.split(": ", 1)[1].split()[0::2]
    assert len(names) == 2 and all(name.isdigit() and int(name) < 1000 for name in names)
