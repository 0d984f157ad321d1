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
    """Run the CLI; expect exit 2 (returned, or argparse's SystemExit) and one error line."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    assert code == 2
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


# --- item 9: weights that are not numbers ----------------------------------------------------------

def _nan_model_file(folder: Path) -> Path:
    from helpers.train import tiny_arch

    from workbench.config.io import to_plain
    from workbench.models import build_model
    from workbench.training.checkpoint import save_atomic

    arch = tiny_arch()
    state = build_model(arch).state_dict()
    state["classifier.weight"][0, 0] = float("nan")
    path = folder / "nan.pt"
    save_atomic({"state_dict": state, "config": {"arch": to_plain(arch)}, "preprocessing": None,
                 "class_names": None}, path)
    return path


def test_weights_import_refuses_nan_tensors_naming_them(tmp_path, capsys) -> None:
    from fake_timm import fake_state, reference
    from safetensors.torch import save_file

    state = fake_state(reference()["variants"]["ghostnet_050"]["keys"])
    name = next(iter(state))
    state[name] = state[name].clone()
    state[name].view(-1)[0] = float("inf")
    save_file(state, str(tmp_path / "w.safetensors"))
    line = one_error_line(capsys, ["weights", "import", "--from", "timm", str(tmp_path / "w.safetensors"),
                                   "--preset", "ghostnet_050", "--out", str(tmp_path / "w.pt")])
    assert f"'{name}'" in line and "NaN or infinite" in line and not (tmp_path / "w.pt").exists()


def test_train_init_and_predict_refuse_nan_weights_naming_the_tensor(tmp_path, capsys) -> None:
    from helpers.train import exported, tiny_arch
    from PIL import Image

    from workbench.config import dump_model

    weights = _nan_model_file(tmp_path)
    dump_model(exported(tiny_arch()), tmp_path / "c.yaml")
    line = one_error_line(capsys, ["train", str(tmp_path / "c.yaml"), "--init", str(weights), "--epochs", "0.05",
                                   "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu"])
    assert "'classifier.weight'" in line and "NaN or infinite" in line and not (tmp_path / "run").exists()
    Image.new("L", (8, 8), 128).save(tmp_path / "x.png")
    assert "'classifier.weight'" in one_error_line(capsys, ["predict", str(weights), str(tmp_path / "x.png")])


# --- items 10 and 11: numbers out of range, and failures that printed tracebacks -------------------------

@pytest.mark.parametrize("flag, value", [("--seed", "-5"), ("--seed", str(2**32)), ("--heartbeat", "0"),
                                         ("--heartbeat", "-1")])
def test_search_options_out_of_range_are_one_line_and_leave_no_study(tmp_path, capsys, flag, value) -> None:
    space = write_space(tmp_path, TINY)
    line = one_error_line(capsys, ["search", "--space", str(space), "--storage", str(tmp_path / "s.db"), flag, value])
    assert flag in line and value in line
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_space_seed_out_of_range_is_refused_when_loaded(tmp_path, capsys, seed) -> None:
    space = write_space(tmp_path, {**TINY, "seed": seed})
    line = one_error_line(capsys, ["search", "--space", str(space), "--storage", str(tmp_path / "s.db")])
    assert ": seed:" in line and not (tmp_path / "s.db").exists()


def test_a_study_name_too_long_for_a_file_name_is_refused_and_reports_still_work(tmp_path, capsys) -> None:
    from workbench.report import report_folder_name

    space = write_space(tmp_path, TINY)
    line = one_error_line(capsys, ["search", "--space", str(space), "--storage", str(tmp_path / "s.db"),
                                   "--study", "n" * 5000])
    assert "at most 200 characters" in line and len(line) < 300 and not (tmp_path / "s.db").exists()
    assert len(report_folder_name("n" * 5000)) <= 109


def test_a_truncated_cifar_archive_is_one_line(tmp_path, capsys) -> None:
    import io
    import pickle
    import tarfile

    import numpy as np

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("data_batch_1", "data_batch_2", "test_batch"):
            data = pickle.dumps({b"data": np.random.default_rng(0).integers(0, 255, (500, 3072), dtype=np.uint8),
                                 b"labels": [i % 10 for i in range(500)]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    cut = tmp_path / "cifar.tar.gz"
    cut.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    line = one_error_line(capsys, ["train-proxy", "--preset", "ghostnet_cifar_050", "--data", f"cifar10:{cut}",
                                   "--epochs", "0.01"])
    assert str(cut) in line and "truncated or damaged" in line


def _limited(limit: int):
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return cap


def test_a_full_disk_during_train_or_weights_import_is_one_line(tmp_path) -> None:
    from fake_timm import fake_state, reference
    from helpers.train import exported, tiny_arch
    from safetensors.torch import save_file

    from workbench.config import dump_model

    dump_model(exported(tiny_arch()), tmp_path / "c.yaml")
    save_file(fake_state(reference()["variants"]["ghostnet_050"]["keys"]), str(tmp_path / "w.safetensors"))
    commands = [["train", str(tmp_path / "c.yaml"), "--epochs", "0.05", "--out", str(tmp_path / "run"),
                 "--no-progress", "--device", "cpu"],
                ["weights", "import", "--from", "timm", str(tmp_path / "w.safetensors"), "--preset", "ghostnet_050",
                 "--out", str(tmp_path / "w.pt")]]
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, text=True, timeout=300,
                              preexec_fn=_limited(100_000))
        err = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(err) == 1 and "cannot be written" in err[0], done.stderr[-2000:]
    assert not (tmp_path / "w.pt").exists() and not (tmp_path / "run" / "model.pt").exists()
