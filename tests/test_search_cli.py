"""`workbench search` and `workbench studies`: defaults, output and exit codes."""

from __future__ import annotations

import json

import pytest
from helpers.search import TINY, write_space

from workbench.cli.main import main


def test_search_json_then_studies(tmp_path, capsys) -> None:
    space = write_space(tmp_path, TINY)
    db = tmp_path / "w.db"
    assert main(["search", "--space", str(space), "--storage", str(db), "--trials", "2", "--no-progress",
                 "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["study"] == "tiny" and summary["states"] == {"COMPLETE": 2} and summary["pareto"]
    assert main(["studies", "--storage", str(db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["study"] == "tiny" and rows[0]["trials"] == 2 and rows[0]["objectives"] == "accuracy, macs"
    assert main(["studies", "--storage", str(db)]) == 0
    assert "tiny" in capsys.readouterr().out


def test_text_summary_says_where_to_look_next(tmp_path, capsys) -> None:
    space = write_space(tmp_path, TINY)
    assert main(["search", "--space", str(space), "--storage", str(tmp_path / "w.db"), "--trials", "1", "--no-progress",
                 "--study", "mine"]) == 0
    out = capsys.readouterr().out
    assert "Pareto trials" in out and "streamlit run app.py" in out
    assert "workbench export --study mine" in out and "--pick knee --out best.yaml" in out


@pytest.mark.parametrize("argv, fragment", [
    (["search", "--space", "no_such_space"], "unknown space 'no_such_space'"),
    # several workers on SQLite now run (the command serves the file); a count that is no count is refused
    (["search", "--space", "{space}", "--storage", "{tmp}/w.db", "--workers", "0"], "--workers must be at least 1"),
    (["search", "--space", "{space}", "--storage", "{tmp}/w.db", "--timeout", "-5"], "--timeout must be more than 0"),
    (["search", "--space", "{space}", "--storage", "{tmp}/w.db", "--trials", "0"], "--trials must be at least 1"),
    (["search", "--space", "{space}", "--sampler", "cmaes"], "invalid choice"),
    (["search", "--space", "ghostnet_cifar", "--data", "cifar10:{tmp}/missing", "--storage", "{tmp}/w.db"], "missing"),
    (["studies", "--storage", "{tmp}/none.db"], "no database file"),
])
def test_user_errors_exit_2(tmp_path, capsys, argv, fragment) -> None:
    space = write_space(tmp_path, TINY)
    argv = [a.format(space=space, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) if "cmaes" in argv else _nothing():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.slow
def test_search_digits_with_no_other_argument_uses_the_defaults(tmp_path, monkeypatch, capsys) -> None:
    """`workbench search --space digits` names the study after the space and writes
    sqlite:///workbench.db in the working directory (one trial here to stay quick)."""
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--space", "digits", "--trials", "1", "--no-progress"]) == 0
    assert (tmp_path / "workbench.db").exists()
    capsys.readouterr()
    assert main(["studies"]) == 0
    assert "digits" in capsys.readouterr().out


def test_studies_counts_queued_retries_apart_from_running_trials(tmp_path, capsys) -> None:
    import optuna

    db = tmp_path / "w.db"
    study = optuna.create_study(study_name="queue", storage=f"sqlite:///{db}", directions=["maximize"])
    study.ask()  # a trial a worker is running
    study.enqueue_trial({"x": 1.0})  # a retry no worker has started yet
    study.enqueue_trial({"x": 2.0})
    assert main(["studies", "--storage", str(db), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["trials"], row["running"], row["queued"], row["complete"]) == (3, 1, 2, 0)
