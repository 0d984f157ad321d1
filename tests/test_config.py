"""ArchConfig: YAML/JSON round trips and validation messages naming the field and the rule."""

from __future__ import annotations

import json

import pytest
import yaml

from workbench.config import ArchConfig, dump_model, load_arch, parse_model
from workbench.errors import WorkbenchError
from workbench.models import build_model, get_preset, preset_names


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_through_files(tmp_path, name: str, suffix: str) -> None:
    arch = get_preset(name)
    path = tmp_path / f"arch{suffix}"
    dump_model(arch, path)
    assert load_arch(path) == arch


def test_per_stage_and_block_overrides_resolve() -> None:
    data = get_preset("ghostnet_cifar_050").model_dump()
    data["ghost"] = {"ratio": 2, "dw_size": 3, "primary_kernel": 1, "cheap_op": "dw"}
    data["stages"][2]["ghost"] = {"ratio": 4}
    data["stages"][2]["blocks"][0]["ghost"] = {"dw_size": 5, "cheap_op": "pw"}
    arch = ArchConfig.model_validate(data)
    resolved = arch.resolved_ghost(2, 0)
    assert (resolved.ratio, resolved.dw_size, resolved.cheap_op) == (4, 5, "pw")
    assert arch.resolved_ghost(0, 0).ratio == 2
    model = build_model(arch)
    block = model.stages[2][0]
    assert block.ghost1.cheap_operation[0].kernel_size == (1, 1)
    assert block.ghost1.primary_conv[0].out_channels * 4 >= block.ghost1.out_ch


@pytest.mark.parametrize(
    "mutate,path,allowed",
    [
        (lambda d: d["ghost"].update(ratio=0), "ghost.ratio", "greater than or equal to 1"),
        (lambda d: d["ghost"].update(dw_size=4), "ghost.dw_size", "positive odd integer"),
        (lambda d: d["stages"][1]["blocks"][0].update(kernel=-3), "stages.1.blocks.0.kernel", "positive odd integer"),
        (lambda d: d.update(width=-0.5), "width", "greater than 0"),
        (lambda d: d["stages"][3].update(width=0), "stages.3.width", "greater than 0"),
        (lambda d: d["stages"][0]["blocks"][0].update(out=-16), "stages.0.blocks.0.out", "greater than 0"),
        (lambda d: d["ghost"].update(cheap_op="fft"), "ghost.cheap_op", "'dw' or 'pw'"),
        (lambda d: d["stages"][0]["blocks"][0].update(stride=3), "stages.0.blocks.0.stride", "1 or 2"),
        (lambda d: d.update(colour="red"), "colour", "allowed keys:"),
        (lambda d: d["stages"][2]["blocks"][0].update(expansion=3), "stages.2.blocks.0.expansion",
         "allowed keys: dfc, ghost, kernel, mid, out, se, stride"),
    ],
)
def test_validation_errors_name_the_field_and_the_rule(tmp_path, mutate, path: str, allowed: str) -> None:
    data = get_preset("ghostnet_cifar_050").model_dump(mode="json")
    mutate(data)
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(WorkbenchError) as info:
        load_arch(file)
    message = str(info.value)
    assert str(file) in message
    assert f"{path}:" in message
    assert allowed in message
    assert "\n" not in message


def test_invalid_yaml_and_missing_file(tmp_path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("stages: [\n  - {blocks: ")
    with pytest.raises(WorkbenchError, match="not valid YAML"):
        load_arch(bad)
    with pytest.raises(WorkbenchError, match="file not found"):
        load_arch(tmp_path / "missing.yaml")


def test_exported_config_with_arch_section_loads(tmp_path) -> None:
    arch = get_preset("ghost_resnet56_cifar")
    file = tmp_path / "exported.json"
    file.write_text(json.dumps({"arch": arch.model_dump(mode="json"), "train": {"epochs": 30}}))
    assert load_arch(file) == arch


def test_family_rules() -> None:
    with pytest.raises(WorkbenchError, match="needs at least one stage"):
        parse_model(ArchConfig, {"family": "ghostnet"})
    with pytest.raises(WorkbenchError, match="ghostify"):
        parse_model(ArchConfig, {**get_preset("ghostnet_050").model_dump(), "ghostify": True})
