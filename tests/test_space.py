"""Search-space files: the shipped spaces load; every mistake names the file, the field path and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workbench.errors import WorkbenchError
from workbench.search.loading import load_space, resolve_space_path, space_names
from workbench.search.space import SearchSpace
from workbench.search.space_check import cheapest_corners
from workbench.search.space_resolve import base_arch

SHIPPED = ("digits", "ghostnet_cifar", "ghostnet_mobile", "ghost_vgg16_cifar", "ghost_family_digits")

TINY = {
    "name": "tiny",
    "base": "ghostnet_cifar_050",
    "dataset": "digits",
    "input_size": 16,
    "knobs": {"ratio": {"low": 2, "high": 4}, "dw_size": {"choices": [1, 3]}, "width": {"low": 0.3, "high": 0.5}},
    "objectives": ["accuracy", "macs"],
    "recipe": {"epochs": 0.2, "batch_size": 64},
    "latency": {"warmup": 1, "repeats": 3, "max_seconds": 0.1},
}


def write_space(tmp_path: Path, data: dict | str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(WorkbenchError) as info:
        load_space(str(path))
    return str(info.value)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spaces_load(name: str) -> None:
    space = load_space(name)
    assert isinstance(space, SearchSpace) and space.name == name
    assert 2 <= len(space.objectives) <= 3
    assert len(space.space_hash()) == 64


def test_names_resolve_relative_to_cwd_then_repo(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_space_path("digits").name == "digits.yaml"  # the repo's folder
    (tmp_path / "search_spaces").mkdir()
    local = write_space(tmp_path / "search_spaces", TINY, "digits.yaml")
    assert resolve_space_path("digits").resolve() == local.resolve()
    assert "ghost_vgg16_cifar" in space_names()
    with pytest.raises(WorkbenchError, match="unknown space 'nope'.*digits"):
        resolve_space_path("nope")


def test_data_override_changes_dataset_and_hash() -> None:
    plain = load_space("ghostnet_cifar")
    moved = load_space("ghostnet_cifar", data="cifar10:/elsewhere")
    assert moved.dataset == "cifar10:/elsewhere" and moved.space_hash() != plain.space_hash()


def test_bad_yaml(tmp_path) -> None:
    path = write_space(tmp_path, "base: [unclosed\nknobs: {")
    message = error_of(path)
    assert str(path) in message and "not valid YAML" in message


def test_unknown_knob(tmp_path) -> None:
    path = write_space(tmp_path, {**TINY, "knobs": {"ratio": {"low": 2, "high": 4},
                                                    "expansion": {"low": 1, "high": 2}}})
    message = error_of(path)
    assert str(path) in message and "knobs.expansion" in message and "unknown key 'expansion'" in message
    assert "dw_size" in message  # the allowed knobs are listed


def test_inverted_range(tmp_path) -> None:
    path = write_space(tmp_path, {**TINY, "knobs": {"ratio": {"low": 5, "high": 2}}})
    message = error_of(path)
    assert str(path) in message and "knobs.ratio" in message and "inverted range" in message


@pytest.mark.parametrize("knob, message", [
    ({"ratio": {"low": 3, "high": 3}}, "empty range"),
    ({"dw_size": {"choices": []}}, "empty 'choices'"),
])
def test_empty_range(tmp_path, knob, message) -> None:
    path = write_space(tmp_path, {**TINY, "knobs": knob})
    text = error_of(path)
    assert str(path) in text and f"knobs.{next(iter(knob))}" in text and message in text


@pytest.mark.parametrize("knobs, fragment", [
    ({"dw_size": {"choices": [2, 3]}}, "knobs.dw_size.choices: kernel sizes must be positive odd"),
    ({"cheap_op": {"choices": ["dw", "conv"]}}, "knobs.cheap_op.choices"),
    ({"depth": {"low": 1, "high": 3}}, "knobs.depth.scope: 'global' not allowed"),
    ({"kernel": {"choices": [3, 5], "scope": "per_stage", "stages": [42]}},
     "knobs.kernel.stages: stage 42 does not exist"),
    ({"ratio": {"low": 2, "high": 4, "stages": [1]}}, "knobs.ratio.stages"),
])
def test_knob_semantics(tmp_path, knobs, fragment) -> None:
    path = write_space(tmp_path, {**TINY, "knobs": knobs})
    message = error_of(path)
    assert str(path) in message and fragment in message


def test_plain_base_refuses_block_knobs(tmp_path) -> None:
    path = write_space(tmp_path, {**TINY, "base": "ghost_vgg16_cifar", "knobs": {"kernel": {"choices": [3, 5]}}})
    assert "knobs.kernel: needs a GhostNet base" in error_of(path)


@pytest.mark.parametrize("patch, fragment", [
    ({"objectives": ["accuracy", "flops"]}, "objectives: unknown objective 'flops'"),
    ({"objectives": ["accuracy"]}, "objectives: give two or three objectives"),
    ({"objectives": ["accuracy", "latency_ms"], "latency": None}, "objectives: latency_ms needs a latency protocol"),
    ({"recipe": {"epochs": 1, "lrate": 0.1}}, "recipe.lrate"),
    ({"latency": {"repeats": 0}}, "latency: "),
    ({"accuracy": {"source": "zero_cost"}}, "accuracy"),
    ({"base": "no_such_preset"}, "base: 'no_such_preset' is neither a preset"),
])
def test_other_field_errors(tmp_path, patch, fragment) -> None:
    path = write_space(tmp_path, {**TINY, **patch})
    message = error_of(path)
    assert str(path) in message and fragment in message


def test_impossible_budget_names_the_cheapest_corner(tmp_path) -> None:
    path = write_space(tmp_path, {**TINY, "budgets": {"max_macs": 1000}})
    message = error_of(path)
    assert str(path) in message and "budgets.max_macs" in message and "cheapest corner" in message
    assert "ratio=4" in message and "dw_size=1" in message and "width=0.3" in message


def test_impossible_params_budget(tmp_path) -> None:
    path = write_space(tmp_path, {**TINY, "budgets": {"max_params": 10}})
    assert "budgets.max_params: no point of the space can meet 10" in error_of(path)


def test_cheapest_corner_tries_every_cheap_op() -> None:
    space = load_space("ghostnet_cifar", check_budgets=False)
    corners = cheapest_corners(space, base_arch(space))
    assert {c["cheap_op"] for c in corners} == {"dw", "pw"}
    assert all(c["ratio"] == 5 and c["width"] == 0.35 and c["depth_s6"] == 1 and c["se_s3"] is False for c in corners)


def test_cli_exit_code_for_bad_space(tmp_path, capsys) -> None:
    from workbench.cli.main import main

    path = write_space(tmp_path, {**TINY, "knobs": {"ratio": {"low": 5, "high": 2}}})
    assert main(["search", "--space", str(path), "--storage", str(tmp_path / "s.log")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "knobs.ratio" in err and "Traceback" not in err
    assert not (tmp_path / "s.log").exists()  # rejected before any trial or storage
