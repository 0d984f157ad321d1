"""Inputs that used to hang the machine or eat its memory (issue 34, items 5 and 6): kernel,
width, depth and size limits checked when a space or `--set` is read, with the limit in the
one-line message; YAML aliases that would expand a few lines into gigabytes refused before
anything is built from them; and error messages that never print an unbounded value."""

from __future__ import annotations

import copy
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers.search import TINY, write_space

from workbench.cli.main import main
from workbench.config.arch import MAX_KERNEL
from workbench.models.build import MAX_PARAMS

# Nine levels of nine-fold aliases: 9**9 (387 million) strings once expanded.
BOMB_ANCHORS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefg", "bcdefgh"))
BOMB_VALUE = f"[{','.join(['*h'] * 9)}]"


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def space_with(tmp_path: Path, **knobs) -> Path:
    data = copy.deepcopy(TINY)
    data["knobs"].update(knobs)
    return write_space(tmp_path, data)


def test_profile_refuses_a_kernel_past_the_limit_at_once(capsys) -> None:
    started = time.monotonic()
    line = one_error_line(capsys, ["profile", "--preset", "ghostnet_cifar_050", "--set", "dw_size=10001",
                                   "--input-size", "12"])
    assert "ghost.dw_size" in line and f"up to {MAX_KERNEL}" in line and "10001" in line
    assert time.monotonic() - started < 30


def test_a_model_too_large_to_build_is_refused_before_any_memory_is_taken(capsys) -> None:
    line = one_error_line(capsys, ["profile", "--preset", "ghostnet_cifar_050", "--set", "num_classes=1000000000",
                                   "--input-size", "12"])
    assert f"more than the {MAX_PARAMS:,}" in line


def test_a_space_with_a_huge_kernel_choice_is_refused_when_loaded(tmp_path, capsys) -> None:
    space = space_with(tmp_path, dw_size={"choices": [3, 99999]})
    line = one_error_line(capsys, ["search", "--space", str(space), "--storage", str(tmp_path / "s.db"),
                                   "--trials", "1", "--no-progress"])
    assert "knobs.dw_size.choices" in line and f"up to {MAX_KERNEL}" in line and "99999" in line
    assert not (tmp_path / "s.db").exists()


def test_a_space_whose_largest_corner_cannot_be_built_is_refused_when_loaded(tmp_path, capsys) -> None:
    space = space_with(tmp_path, dw_size={"choices": [3, 31]}, width={"low": 0.5, "high": 8},
                       depth={"low": 1, "high": 32, "scope": "per_stage"})
    line = one_error_line(capsys, ["search", "--space", str(space), "--storage", str(tmp_path / "s.db"),
                                   "--trials", "1", "--no-progress"])
    assert "largest corner" in line and f"more than the {MAX_PARAMS:,}" in line
    assert not (tmp_path / "s.db").exists()


def test_an_out_of_range_ratio_blames_the_end_that_is_out_and_prints_integers(tmp_path, capsys) -> None:
    space = space_with(tmp_path, ratio={"low": 2, "high": 1e9})
    line = one_error_line(capsys, ["search", "--space", str(space), "--storage", str(tmp_path / "s.db")])
    assert "knobs.ratio.high" in line and "[2, 1000000000]" in line


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path) -> None:
    """In a process that may not take 3 GB: expanding the bomb would need far more."""
    space = tmp_path / "bomb.yaml"
    space.write_text(yaml.safe_dump(TINY) + BOMB_ANCHORS + f"description: {BOMB_VALUE}\n")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    done = subprocess.run([sys.executable, "-m", "workbench", "search", "--space", str(space), "--storage",
                           str(tmp_path / "s.db")], capture_output=True, text=True, timeout=120, preexec_fn=cap)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "alias bomb" in err[0], done.stderr[-2000:]
    assert len(err[0]) < 400


def test_an_alias_bomb_on_the_command_line_is_refused(capsys) -> None:
    value = "{" + BOMB_ANCHORS.replace("\n", ", ").rstrip(", ") + f", z: {BOMB_VALUE}" + "}"
    line = one_error_line(capsys, ["profile", "--preset", "ghostnet_cifar_050", "--set", f"ratio={value}"])
    assert "--set ratio" in line and "alias bomb" in line


def test_error_messages_never_print_an_unbounded_value(tmp_path, capsys) -> None:
    data = copy.deepcopy(TINY)
    data["description"] = list(range(200_000))           # no aliases: big, but not a bomb
    data["knobs"]["dw_size"] = {"choices": [2] * 1 + list(range(3, 20_000, 2))}
    line = one_error_line(capsys, ["search", "--space", str(write_space(tmp_path, data)), "--storage",
                                   str(tmp_path / "s.db")])
    assert "description" in line and len(line) < 600
    data["description"] = "fine"
    line = one_error_line(capsys, ["search", "--space", str(write_space(tmp_path, data)), "--storage",
                                   str(tmp_path / "s.db")])
    assert "knobs.dw_size.choices" in line and len(line) < 600
    line = one_error_line(capsys, ["profile", "--preset", "ghostnet_cifar_050", "--set", "x" * 100_000 + "=1"])
    assert len(line) < 600
