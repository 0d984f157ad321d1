"""Every command fed hostile arguments (issue 34, "Done when"): a path that does not exist, a
folder, a text file, an empty file, a huge number, a negative number and 0, each in a slot of
every command where it fits. Each run is a real `python -m workbench` process with a timeout;
it must exit 0 or 2, never print a traceback, leave the pre-existing files byte-identical and
never create the path that did not exist.

The other arguments are chosen so that no run starts real work: a value that gets past every
check would run, and a hang is a failure too."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HUGE_INT, HUGE_FLOAT = "99999999999999999999", "1e308"
TIMEOUT_S = 120
PATH_KINDS = ("missing", "folder", "text", "empty")
NUMBER_KINDS = ("huge", "negative", "zero")


def _paths(root: Path) -> dict[str, str]:
    return {kind: str(root / name) for kind, name in zip(PATH_KINDS, ("nope", "folder", "notes.txt", "empty"))}


def _number(kind: str, typed: str) -> str:
    return {"huge": HUGE_FLOAT if typed == "float" else HUGE_INT, "negative": "-5", "zero": "0"}[kind]


def _templates(root: Path) -> list[tuple[list[str], str | None]]:
    """Each command with a path slot `{p}` and, where it takes one, a number slot `{n}` (its type);
    every --out is the user's text file, which must survive."""
    text, missing = _paths(root)["text"], _paths(root)["missing"]
    return [
        (["profile", "--config", "{p}", "--input-size", "{n}"], "int"),
        (["train-proxy", "--config", "{p}", "--epochs", "{n}"], "float"),
        (["search", "--space", "digits", "--storage", "{p}", "--trials", "{n}"], "int"),
        (["search", "--space", "{p}", "--storage", missing, "--seed", "{n}"], "int"),
        (["confirm", "--study", "s", "--storage", "{p}", "--top", "{n}"], "int"),
        (["studies", "--storage", "{p}"], None),
        (["report", "--study", "s", "--storage", "{p}", "--out", text], None),
        (["export", "--study", "s", "--storage", "{p}", "--max-macs", "{n}", "--out", text], "float"),
        (["train", "{p}", "--epochs", "{n}", "--out", text, "--no-progress"], "float"),
        (["weights", "import", "--from", "timm", "{p}", "--preset", "ghostnet_050", "--out", text], None),
        (["weights", "refresh", "{p}", "--onnx"], None),
        (["predict", "{p}", "{p}", "--top", "{n}"], "int"),
        (["storage", "serve", "--storage", "{p}", "--port", "{n}"], "int"),
        (["device", "bundle", "--space", "{p}", "--archs", "{n}", "--out", text], "int"),
        (["device", "import", "{p}", "--name", "pi", "--devices", "{p}"], None),
        (["device", "list", "--devices", "{p}"], None),
        (["supernet", "train", "--space", "{p}", "--epochs", "{n}", "--out", text], "int"),
    ]


def _cases(root: Path) -> list[list[str]]:
    """Two runs per command, the (path, number) kinds taken in turn, so that every kind reaches
    several commands; then the numbers where every other argument is valid (they reach the
    model's own checks)."""
    paths = _paths(root)
    combos = [(p, NUMBER_KINDS[i % len(NUMBER_KINDS)]) for i, p in enumerate(PATH_KINDS * 3)]
    cases: list[list[str]] = []  # `presets` takes no path and no number
    for index, (template, typed) in enumerate(_templates(root)):
        for path_kind, number_kind in combos[2 * index % len(combos):][:2]:
            number = _number(number_kind, typed or "int")
            cases.append([paths[path_kind] if arg == "{p}" else number if arg == "{n}" else arg for arg in template])
    for kind in NUMBER_KINDS:
        cases.append(["profile", "--preset", "ghostnet_cifar_050", "--input-size", _number(kind, "int"),
                      "--no-latency"])
    return cases


def _hashes(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _run(argv: list[str], cwd: Path) -> tuple[list[str], int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WORKBENCH_DEVICES": str(cwd / "folder")}
    try:
        done = subprocess.run([sys.executable, "-m", "workbench", *argv], cwd=cwd, capture_output=True, text=True,
                              timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return argv, -1, f"still running after {TIMEOUT_S} s"
    return argv, done.returncode, done.stderr


def test_every_command_fed_hostile_arguments_exits_0_or_2_without_a_traceback_and_touches_nothing(tmp_path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("a file the user keeps in the folder\n")
    (tmp_path / "notes.txt").write_text("my notes: not a config, a storage or a model\n")
    (tmp_path / "empty").write_bytes(b"")
    before = _hashes(tmp_path)
    cases = _cases(tmp_path)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda argv: _run(argv, tmp_path), cases))
    bad = [(" ".join(argv), code, err.strip().splitlines()[-1:] if err.strip() else "")
           for argv, code, err in outcomes if code not in (0, 2) or "Traceback" in err]
    assert not bad, "\n".join(map(str, bad))
    assert _hashes(tmp_path) == before  # nothing written over, nothing added, not even in the folder
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("kind", PATH_KINDS)
def test_the_hostile_paths_are_what_they_say(tmp_path, kind) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "empty").write_bytes(b"")
    path = Path(_paths(tmp_path)[kind])
    used = {arg for case in _cases(tmp_path) for arg in case}
    assert str(path) in used and {HUGE_INT, HUGE_FLOAT, "-5", "0"} <= used
    assert {"missing": not path.exists(), "folder": path.is_dir(), "text": path.is_file() and path.stat().st_size > 0,
            "empty": path.is_file() and path.stat().st_size == 0}[kind]
