"""`workbench report`: the four files exist, agree with the results API and Optuna, and the
HTML page is self-contained (plotly.js inline once, every figure present)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from study_factory import make_study

from workbench import record, results
from workbench.cli.main import main
from workbench.report import write_report


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'studies.db'}"
    make_study(url, name="two")
    make_study(url, name="three", objectives=("accuracy", "macs", "latency_ms"), max_macs=None, failed=0)
    return url


@pytest.fixture(scope="module")
def report_dir(storage, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "two"
    assert main(["report", "--study", "two", "--storage", storage, "--out", str(out)]) == 0
    return out


def test_files_exist(report_dir) -> None:
    assert sorted(p.name for p in report_dir.iterdir()) == ["index.html", "pareto.csv", "summary.md", "trials.csv"]


def test_trials_csv_is_the_trials_frame(storage, report_dir) -> None:
    study, frame = results.open_results("two", storage)
    trials = pd.read_csv(report_dir / "trials.csv")
    assert list(trials["number"]) == list(frame["number"]) == [t.number for t in study.trials]
    assert list(trials.columns) == list(frame.columns)
    pd.testing.assert_series_equal(trials[record.MACS], frame[record.MACS], check_names=False)
    assert (trials["state"] == "FAIL").sum() == 1


def test_pareto_csv_equals_optuna_best_trials(storage, report_dir) -> None:
    study, frame = results.open_results("two", storage)
    pareto = pd.read_csv(report_dir / "pareto.csv")
    best = {t.number: t.values for t in study.best_trials}
    assert set(pareto["number"]) == set(best)
    for _, row in pareto.iterrows():
        assert [row[record.ACCURACY], row[record.MACS]] == pytest.approx(best[int(row["number"])])
    assert list(pareto.columns) == list(frame.columns)


def test_summary_headline(storage, report_dir) -> None:
    study, frame = results.open_results("two", storage)
    text = (report_dir / "summary.md").read_text()
    knee = results.pick_knee(frame, results.study_objectives(study), results.study_info(study).budgets)
    best = results.pick_best_accuracy(frame, results.Budgets(max_macs=2.5e7))
    unbounded = results.pick_best_accuracy(frame)
    assert "| COMPLETE | 8 |" in text and "| FAIL | 1 |" in text
    assert f"trial {int(knee['number'])}:" in text.split("## Knee")[1]
    assert f"| max_macs=2.5e+07 | trial {int(best['number'])}:" in text
    assert f"| no budgets | trial {int(unbounded['number'])}:" in text


def test_html_is_self_contained(report_dir) -> None:
    page = (report_dir / "index.html").read_text()
    assert page.count("Plotly.newPlot") >= 4   # accuracy vs MACs/params/latency, hypervolume, importance, MACs-latency
    assert '<script src="http' not in page and "cdn.plot.ly/plotly" not in page.split("<body>")[1][:2000]
    assert page.count("plotly.js v") <= 2      # the library is embedded once
    for heading in ("Accuracy vs MACs", "Hypervolume", "Knob importance", "MACs vs latency", "Pareto trials"):
        assert heading in page
    assert "digits" in page and "test-cpu" in page and "deploy" in page


def test_three_objective_report_and_default_folder(storage, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = write_report("three", storage)
    assert paths.folder.resolve() == (tmp_path / "reports" / "three").resolve() and paths.html.exists()
    page = paths.html.read_text()
    assert "Three objectives" in page and "scatter3d" in page
    study, _ = results.open_results("three", storage)
    pareto = pd.read_csv(paths.pareto_csv)
    assert set(pareto["number"]) == {t.number for t in study.best_trials}


@pytest.mark.parametrize("argv,fragment", [
    (["report", "--study", "nope"], "no study 'nope'"),
])
def test_missing_study_exit_2_no_folder(storage, tmp_path, capsys, argv, fragment) -> None:
    out = tmp_path / "r"
    assert main([*argv, "--storage", storage, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
    assert not out.exists()
