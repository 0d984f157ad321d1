"""Bad input that must neither lose data nor print a traceback: one line, exit 2, every file
byte-identical (issue 23: export over a storage, readers on a file that is not a storage, a
corrupt journal, out-of-range options, an output folder or a storage that cannot be written,
images too large to decode, a batch size that does not fit in memory, unreadable data and
model files)."""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import optuna
import pytest
import torch
from helpers.search import TINY, write_space
from helpers.train import tiny_arch
from PIL import Image
from streamlit.testing.v1 import AppTest

from workbench.cli.main import main
from workbench.config.io import to_plain
from workbench.data.preprocessing import Preprocessing
from workbench.models import build_model
from workbench.training.checkpoint import save_model_file

APP = Path(__file__).resolve().parents[1] / "app.py"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A real one-trial study in a SQLite file, with its lock files beside it."""
    folder = tmp_path_factory.mktemp("searched")
    space = write_space(folder, {**TINY, "recipe": {"epochs": 0.05, "batch_size": 128}})
    assert main(["search", "--space", str(space), "--storage", str(folder / "s.db"), "--trials", "1",
                 "--no-progress"]) == 0
    return folder


def quiet_main(argv: list[str]) -> int:
    """`main(argv)`, failing on any warning it lets out: pytest records warnings instead of printing
    them, so `one_error_line` alone would miss a library's two-line warning on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return code


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("target", ["s.db", "s.db.workbench.lock", "s.db.workbench.run"])
def test_export_never_writes_over_the_storage(searched, capsys, target) -> None:
    path = searched / target
    before = digest(path)
    assert main(["export", "--study", "tiny", "--storage", str(searched / "s.db"), "--out", str(path), "--force"]) == 2
    assert "never overwritten" in one_error_line(capsys) and digest(path) == before


def test_export_keeps_a_file_it_did_not_write_unless_forced(searched, capsys, tmp_path) -> None:
    notes = tmp_path / "notes.yaml"
    notes.write_text("shopping: [milk]\n")
    args = ["export", "--study", "tiny", "--storage", str(searched / "s.db"), "--out", str(notes)]
    assert main(args) == 2 and "--force" in one_error_line(capsys)
    assert notes.read_text() == "shopping: [milk]\n"
    assert main(args + ["--force"]) == 0 and "arch:" in notes.read_text()
    capsys.readouterr()
    assert main(args) == 0                                   # now it is ours: re-exporting needs no --force


def test_a_journal_as_out_is_refused(tmp_path, capsys) -> None:
    journal = tmp_path / "study.log"
    optuna.create_study(study_name="j", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    before = digest(journal)
    assert main(["export", "--study", "j", "--storage", str(journal), "--out", str(journal)]) == 2
    assert "study storage" in one_error_line(capsys) and digest(journal) == before


def _other_apps_database(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.execute("INSERT INTO notes VALUES ('keep me')")
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("kind", ["empty", "other-app", "random-bytes"])
def test_readers_never_create_a_schema(tmp_path, capsys, kind) -> None:
    path = tmp_path / "x.db"
    if kind == "empty":
        path.touch()
    elif kind == "other-app":
        _other_apps_database(path)
    else:
        path.write_bytes(os.urandom(2048))
    before = digest(path)
    assert main(["studies", "--storage", str(path)]) == 2
    assert "not an Optuna storage" in one_error_line(capsys) and digest(path) == before


def test_a_search_refuses_another_applications_database(tmp_path, capsys) -> None:
    path = _other_apps_database(tmp_path / "notes.db")
    before = digest(path)
    assert main(["search", "--space", str(write_space(tmp_path, TINY)), "--storage", str(path), "--trials", "1",
                 "--no-progress"]) == 2
    assert "not an Optuna storage" in one_error_line(capsys) and digest(path) == before


@pytest.mark.parametrize("content", [b"\x8f\x01binary\x00" * 40, b"\x8f\x01 no newline at all",
                                     b'{"op_code": 0, "worker_id": "w"}\n{not json\n'],
                         ids=["binary-lines", "binary-one-line", "bad-json-line"])
def test_a_corrupt_journal_is_one_line(tmp_path, capsys, content) -> None:
    journal = tmp_path / "broken.log"
    journal.write_bytes(content)
    assert main(["studies", "--storage", str(journal)]) == 2
    assert "not a readable Optuna journal" in one_error_line(capsys) and journal.read_bytes() == content


@pytest.mark.parametrize("make", ["empty-db", "corrupt-journal"])
def test_the_dashboard_says_so_on_the_page_and_leaves_the_file(tmp_path, monkeypatch, make) -> None:
    path = tmp_path / ("x.db" if make == "empty-db" else "x.log")
    path.write_bytes(b"" if make == "empty-db" else b"\x8f\x01binary\x00" * 40)
    before = digest(path)
    monkeypatch.setenv("WORKBENCH_STORAGE", str(path))
    monkeypatch.delenv("WORKBENCH_STUDY", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in [*at.error, *at.warning])
    assert ("not an Optuna storage" in shown) if make == "empty-db" else ("not a readable Optuna journal" in shown)
    assert digest(path) == before


@pytest.mark.parametrize("timeout", ["0", "-5"])
def test_a_timeout_that_is_not_positive_is_refused(tmp_path, capsys, timeout) -> None:
    assert main(["search", "--space", str(write_space(tmp_path, TINY)), "--storage", str(tmp_path / "s.db"),
                 "--timeout", timeout, "--no-progress"]) == 2
    assert "--timeout must be more than 0" in one_error_line(capsys) and not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("option, value, shown", [("--epochs", "0", "--epochs: Input should be greater than 0"),
                                                  ("--lr", "-1", "--lr: Input should be greater than 0")])
def test_train_proxy_names_the_option_and_the_value(capsys, option, value, shown) -> None:
    assert main(["train-proxy", "--preset", "ghostnet_cifar_050", "--data", "digits", option, value]) == 2
    line = one_error_line(capsys)
    assert shown in line and f"(got {float(value)!r})" in line and "pydantic" not in line


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_export_epochs_must_be_positive(searched, capsys, tmp_path, epochs) -> None:
    assert main(["export", "--study", "tiny", "--storage", str(searched / "s.db"), "--out", str(tmp_path / "c.yaml"),
                 "--epochs", epochs]) == 2
    assert "--epochs must be more than 0" in one_error_line(capsys) and not (tmp_path / "c.yaml").exists()


def test_train_checks_its_out_folder_before_training(searched, capsys, tmp_path) -> None:
    """Under a regular file no folder can be made, for root too (a read-only folder stops others)."""
    config = tmp_path / "c.yaml"
    assert main(["export", "--study", "tiny", "--storage", str(searched / "s.db"), "--out", str(config)]) == 0
    capsys.readouterr()
    (tmp_path / "a-file").write_text("x")
    assert main(["train", str(config), "--epochs", "1", "--out", str(tmp_path / "a-file" / "run")]) == 2
    assert "cannot write there" in one_error_line(capsys)


def test_train_out_that_is_a_storage_file_is_refused(searched, capsys, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    assert main(["export", "--study", "tiny", "--storage", str(searched / "s.db"), "--out", str(config)]) == 0
    capsys.readouterr()
    before = digest(searched / "s.db")
    assert main(["train", str(config), "--epochs", "1", "--out", str(searched / "s.db")]) == 2
    assert "is a study storage, not a folder" in one_error_line(capsys) and digest(searched / "s.db") == before


# --- storages that cannot be written (issue 23, items 3-5) -------------------------------------------

@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make `path` (a file or a folder) refuse writes for this process: `chattr +i` as root (root
    ignores file modes; the kernel then answers EPERM), a read-only mode otherwise (EACCES)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root, and this file system takes no chattr +i: nothing here stops root writing")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _no_data_loaded(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Fail the test if the command gets as far as loading its training data."""
    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the storage was not checked before the data were loaded")
    monkeypatch.setattr(f"{module}.load_search_data", loaded)


def _listing(folder: Path) -> dict[str, str]:
    return {p.name: digest(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("name", ["s.db", "s.log", "s.journal", "deeper/s.db"])
def test_a_storage_under_a_regular_file_is_one_line(tmp_path, capsys, monkeypatch, name) -> None:
    """No folder can be made under a regular file, for root too (mkdir used to raise FileExistsError)."""
    space = write_space(tmp_path, TINY)
    (tmp_path / "a-file").write_text("x")
    before = _listing(tmp_path)
    _no_data_loaded(monkeypatch, "workbench.search.runner")
    assert main(["search", "--space", str(space), "--storage", str(tmp_path / "a-file" / name), "--trials", "1",
                 "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "cannot write there" in line and "a-file is a file, not a folder" in line, line
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("name", ["s.db", "s.log"])
def test_a_storage_in_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch, name) -> None:
    """EACCES (chmod) as a user, EPERM (chattr +i) as root: both are one line, and nothing is made."""
    space = write_space(tmp_path, TINY)
    folder = tmp_path / "locked"
    folder.mkdir()
    _no_data_loaded(monkeypatch, "workbench.search.runner")
    with unwritable(folder):
        code = main(["search", "--space", str(space), "--storage", str(folder / name), "--trials", "1",
                     "--no-progress"])
    line = one_error_line(capsys)
    assert code == 2 and "cannot write there" in line and f"folder {folder}" in line, line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("target", ["journal", "sqlite-run-lock"])
def test_a_read_only_storage_file_is_one_line_for_search(searched, tmp_path, capsys, monkeypatch, target) -> None:
    """A read-only journal (optuna's backend raised PermissionError), or SQLite's run lock file."""
    if target == "journal":
        storage = file = tmp_path / "study.log"
        optuna.create_study(study_name="tiny", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(storage))))
    else:
        storage = tmp_path / "s.db"
        shutil.copyfile(searched / "s.db", storage)
        file = tmp_path / "s.db.workbench.run"
        file.write_text("pid 1")
    space = write_space(tmp_path, TINY)
    before = _listing(tmp_path)
    _no_data_loaded(monkeypatch, "workbench.search.runner")
    with unwritable(file):
        code = main(["search", "--space", str(space), "--storage", str(storage), "--trials", "2", "--no-progress"])
    line = one_error_line(capsys)
    assert code == 2 and f"{file} cannot be written" in line, line
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("how", ["mode=ro URL", "read-only file"])
def test_confirm_checks_that_it_can_write_before_training(searched, tmp_path, capsys, monkeypatch, how) -> None:
    db = tmp_path / "s.db"
    shutil.copyfile(searched / "s.db", db)
    before = digest(db)
    _no_data_loaded(monkeypatch, "workbench.confirm")
    args = ["confirm", "--study", "tiny", "--seeds", "1", "--top", "0", "--no-progress"]
    if how == "mode=ro URL":                                   # root ignores file modes; SQLite does not
        code = main(args + ["--storage", f"sqlite:///file:{db}?mode=ro&uri=true"])
        expected = "is read-only"
    else:
        with unwritable(db):
            code = main(args + ["--storage", str(db)])
        expected = f"{db} cannot be written"
    line = one_error_line(capsys)
    assert code == 2 and expected in line, line
    assert digest(db) == before


# --- images too large to decode (item 9) ----------------------------------------------------------------

def _bomb_png(path: Path, side: int) -> Path:
    """A valid 1-bit greyscale PNG of side x side pixels, all black: 48 KB on disk for 20000 x 20000
    (400 megapixels once decoded). Built row by row with zlib, so the test never holds the pixels."""
    row = b"\x00" * (1 + (side + 7) // 8)                      # filter byte + packed bits
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def _model_file(path: Path) -> Path:
    arch = tiny_arch()
    spec = Preprocessing(input_size=16, channels=3, mean=[0.5] * 3, std=[0.25] * 3)
    save_model_file(build_model(arch).state_dict(), {"arch": to_plain(arch)}, path, preprocessing=spec.model_dump(),
                    class_names=[str(d) for d in range(10)])
    return path


# 20000 px: over Pillow's own hard limit (it raised DecompressionBombError); 11000 px: Pillow only warns.
@pytest.mark.parametrize("side", [20000, 11000])
def test_predict_refuses_a_decompression_bomb(tmp_path, capsys, side) -> None:
    bomb = _bomb_png(tmp_path / "bomb.png", side)
    assert quiet_main(["predict", str(_model_file(tmp_path / "model.pt")), str(bomb)]) == 2
    line = one_error_line(capsys)
    assert f"{bomb}: image too large to decode" in line and f"{side * side / 1e6:.0f} megapixels" in line, line


def test_a_folder_dataset_refuses_a_decompression_bomb(tmp_path, capsys) -> None:
    for label in ("a", "b"):
        (tmp_path / "set" / "train" / label).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "set" / "train" / label / "small.png")
    bomb = _bomb_png(tmp_path / "set" / "train" / "b" / "bomb.png", 20000)
    assert main(["train-proxy", "--preset", "ghostnet_cifar_050", "--data", f"folder:{tmp_path / 'set'}",
                 "--epochs", "0.1", "--device", "cpu"]) == 2
    line = one_error_line(capsys)
    assert f"{bomb}: image too large to decode" in line and "limit is 100 megapixels" in line, line


# --- profile out of memory (item 10) ------------------------------------------------------------------

def test_profile_names_the_batch_size_that_ran_out_of_memory(capsys) -> None:
    """2**48 images of 3x32x32 floats are 3 EiB: more than any address space, so the allocator refuses
    at once (nothing is touched, nothing swaps) with the same error a real shortage gives."""
    size = 2 ** 48
    assert main(["profile", "--preset", "ghostnet_cifar_050", "--device", "cpu", "--batch-size", f"1,{size}",
                 "--no-crosscheck", "--warmup", "1", "--repeats", "2", "--max-seconds", "0.05"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"workbench profile: error: --batch-size {size}: out of memory on cpu"), line
    assert "3.0 EiB" in line and "smaller batch size" in line


# --- minor (item 12) --------------------------------------------------------------------------------

def test_cifar_from_a_file_of_random_bytes_is_one_line(tmp_path, capsys) -> None:
    junk = tmp_path / "random.bin"
    junk.write_bytes(random.Random(0).randbytes(4096))
    assert main(["train-proxy", "--preset", "ghostnet_cifar_050", "--data", f"cifar10:{junk}", "--epochs", "0.1"]) == 2
    assert f"{junk}: not a folder or a readable .tar.gz (not a tar archive" in one_error_line(capsys)


def _old_pickle(path: Path, protocol: int) -> Path:
    """torch.save's pre-1.6 format holding an object (weights_only=True refuses it). At protocol 4
    torch also warned, in two lines, that its safe reader may not follow the protocol."""
    torch.save({"state_dict": {"w": torch.ones(1)}, "config": {}, "args": argparse.Namespace(lr=0.1)}, path,
               _use_new_zipfile_serialization=False, pickle_protocol=protocol)
    return path


@pytest.mark.parametrize("kind", ["old pickle", "old pickle, protocol 4", "damaged pickle"])
def test_unreadable_model_files_say_what_they_are_in_one_line(tmp_path, capsys, kind) -> None:
    if kind == "old pickle":
        path = _old_pickle(tmp_path / "old.pt", 2)
        expected = "a pickle that asks to build argparse.Namespace, not only tensors; refused unread"
    elif kind == "old pickle, protocol 4":
        path = _old_pickle(tmp_path / "old.pt", 4)
        expected = "an old-format torch.save file (before PyTorch 1.6) at pickle protocol 4"
    else:                                                      # a memo look-up of 1439479100: KeyError(1439479100)
        path = tmp_path / "damaged.pt"
        path.write_bytes(b"\x80\x02j" + (1439479100).to_bytes(4, "little"))
        expected = "it starts as a pickle, but its contents break off or are corrupt"
    image = tmp_path / "seven.png"
    Image.new("L", (8, 8)).save(image)
    assert quiet_main(["predict", str(path), str(image)]) == 2
    line = one_error_line(capsys)
    assert f"{path}: not a readable checkpoint" in line and expected in line, line
    assert "weights_only=False" not in line and "`weights_only`" not in line and "1439479100" not in line, line
