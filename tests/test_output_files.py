"""What searches and reports write: study names in shell hints and report folders, report files
(integers, notes, quiet), and the file mode of model files.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from helpers.search import TINY, write_space

from workbench import record
from workbench.cli.main import main


def test_study_names_empty_refused_quoted_hints_distinct_report_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, TINY)
    assert main(["search", "--space", str(space), "--study", "", "--storage", "s.db", "--trials", "1",
                 "--no-progress"]) == 2
    assert "empty" in capsys.readouterr().err
    for name in ("my study", "../../x", ".._.._x"):
        assert main(["search", "--space", str(space), "--study", name, "--storage", "s.db", "--trials", "1",
                     "--no-progress"]) == 0
        out = capsys.readouterr().out
        hint = next(line for line in out.splitlines() if "workbench report" in line)
        assert shlex.split(hint)[3] == name                             # pasted into a shell, the name survives
        assert main(["report", "--study", name, "--storage", "s.db"]) == 0
    folders = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert len(folders) == 3 and not any(f.startswith(".") for f in folders)


def test_report_files_integers_notes_and_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path, {**TINY, "budgets": {"max_macs": 3.0e6}})
    assert main(["search", "--space", str(space), "--storage", "s.db", "--trials", "4", "--no-progress"]) == 0
    done = subprocess.run([sys.executable, "-m", "workbench", "report", "--study", "tiny", "--storage", "s.db"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    frame = pd.read_csv(tmp_path / "reports" / "tiny" / "trials.csv", dtype=str)
    study = optuna.load_study(study_name="tiny", storage="sqlite:///s.db")
    assert list(frame["macs"]) == [str(t.user_attrs[record.MACS]) for t in study.trials]   # no '.0'
    summary = (tmp_path / "reports" / "tiny" / "summary.md").read_text()
    rejected = sum(t.user_attrs[record.STATUS] == "rejected" for t in study.trials)
    if rejected:
        assert f"COMPLETE includes {rejected} rejected over budget" in summary
    else:
        assert "Every COMPLETE trial was scored" in summary


def test_model_files_get_the_usual_mode(tmp_path: Path) -> None:
    from workbench.config.io import write_text_atomic
    from workbench.training.checkpoint import save_atomic

    umask = os.umask(0o022)
    try:
        save_atomic({"x": 1}, tmp_path / "model.pt")
        write_text_atomic(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(umask)
    for name in ("model.pt", "metrics.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
