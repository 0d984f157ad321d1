"""The first face: `workbench presets` and `workbench profile`, their JSON keys and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.cli.main import main
from workbench.models import build_model, get_preset
from workbench.profiling.counting import count_model


def test_profile_json_has_params_and_macs(capsys) -> None:
    code = main(["profile", "--preset", "ghostnet_cifar_050", "--no-latency", "--set", "ratio=3", "--set", "dw_size=5",
                 "--set", "width=0.75", "--format", "json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    expected_arch = get_preset("ghostnet_cifar_050", ratio=3, dw_size=5, width=0.75)
    expected = count_model(build_model(expected_arch), expected_arch)
    assert payload["params"] == expected.params
    assert payload["macs"] == expected.macs


def test_profile_config_file(tmp_path, capsys) -> None:
    from workbench.config import dump_model

    file = tmp_path / "arch.yaml"
    dump_model(get_preset("ghost_resnet56_cifar"), file)
    assert main(["profile", "--config", str(file), "--no-latency", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 444170


def test_presets_lists_all_with_figures(capsys) -> None:
    assert main(["presets", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["ghostnet_100"]["params"] == 5182508
    assert set(rows) >= {"ghostnet_050", "ghostnet_130", "ghostnet_cifar_050", "ghost_vgg16_cifar",
                         "ghost_resnet56_cifar"}


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["profile", "--preset", "ghostnet_999"], "unknown preset 'ghostnet_999' (allowed: ghostnet_050"),
        (["profile", "--preset", "ghostnet_050", "--set", "colour=red"],
         "unknown key 'colour' (allowed: ratio, dw_size"),
        (["profile", "--preset", "ghostnet_050", "--set", "ratio=0"], "ghost.ratio"),
        (["profile", "--preset", "ghostnet_050", "--set", "dw_size=2"], "positive odd integer"),
        (["profile", "--preset", "ghostnet_050", "--set", "width"], "KEY=VALUE"),
        (["profile", "--config", "/nonexistent/arch.yaml"], "file not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv: list[str], fragment: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_console_script_and_module_entry_points() -> None:
    result = subprocess.run([sys.executable, "-m", "workbench", "profile", "--preset", "nope"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    debug = subprocess.run([sys.executable, "-m", "workbench", "--debug", "profile", "--preset", "nope"],
                           capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
