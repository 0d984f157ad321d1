"""`workbench report`: the four files exist, agree with the results API and Optuna, and the
HTML page is self-contained (plotly.js inline once, every figure present)."""

from __future__ import annotations

import pandas as pd
import pytest
from study_factory import HONEST_FIDELITY, make_honest_study, make_study

from workbench import record, results
from workbench.cli.main import main
from workbench.report import write_report


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'studies.db'}"
    make_study(url, name="two")
    make_study(url, name="three", objectives=("accuracy", "macs", "latency_ms"), max_macs=None, failed=0)
    make_honest_study(url, name="honest", noise_sd=0.004, fidelity=HONEST_FIDELITY)
    return url


@pytest.fixture(scope="module")
def report_dir(storage, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "two"
    assert main(["report", "--study", "two", "--storage", storage, "--out", str(out)]) == 0
    return out


def test_files_exist(report_dir) -> None:
    assert sorted(p.name for p in report_dir.iterdir()) == [".workbench-outputs.json", "index.html", "pareto.csv",
                                                            "summary.md", "trials.csv"]


def test_trials_csv_holds_every_trial(storage, report_dir) -> None:
    study, frame = results.open_results("two", storage)
    trials = pd.read_csv(report_dir / "trials.csv")
    assert list(trials["number"]) == list(range(9)) == [t.number for t in study.trials]
    assert list(trials.columns) == list(frame.columns)
    # study_factory.DEFAULT_TRIALS under the 2.5e7 MAC budget: trials 5 (0.98) and 6 (0.94) are over it,
    # rejected and never scored (no accuracy, whatever they stored); trial 8 failed.
    assert trials["status"].tolist() == ["complete"] * 5 + ["rejected"] * 2 + ["complete", "failed"]
    expected = [0.95, 0.93, 0.90, 0.97, 0.85, None, None, 0.91, None]
    pd.testing.assert_series_equal(trials[record.ACCURACY], pd.Series(expected, dtype=float), check_names=False)
    # The MACs are the objective values Optuna holds; whole numbers, written as integers.
    assert trials[record.MACS].iloc[:8].tolist() == [int(t.values[1]) for t in study.trials[:8]]
    assert pd.isna(trials[record.MACS].iloc[8]) and (trials["state"] == "FAIL").sum() == 1


def test_pareto_csv_equals_optuna_best_trials(storage, report_dir) -> None:
    study, frame = results.open_results("two", storage)
    pareto = pd.read_csv(report_dir / "pareto.csv")
    best = {t.number: t.values for t in study.best_trials}
    assert set(pareto["number"]) == set(best)
    for _, row in pareto.iterrows():
        assert [row[record.ACCURACY], row[record.MACS]] == pytest.approx(best[int(row["number"])])
    assert list(pareto.columns) == list(frame.columns)


def test_summary_headline(report_dir) -> None:
    # study_factory.DEFAULT_TRIALS under the 2.5e7 MAC budget: 0.98 (trial 5) and 0.94 (trial 6) are over
    # it and never scored, so the best is trial 3 (0.97) with or without the budget; no validation
    # size, so no noise band and no tie. The knee of the front 2, 7, 1, 0, 3 (accuracy vs MACs, each
    # scaled to [0, 1]) is trial 0, at distance 0.39 from the ideal (the others: 1.00, 0.86, 0.59, 1.00).
    text = (report_dir / "summary.md").read_text()
    assert "| COMPLETE | 8 |" in text and "| FAIL | 1 |" in text
    assert "Within max_macs=2.5e+07: trial 0: accuracy 0.9500, 12.2 M MACs" in text.split("## Knee")[1]
    assert "| max_macs=2.5e+07 | trial 3: accuracy 0.9700, 23.7 M MACs" in text
    assert "| no budgets | trial 3: accuracy 0.9700, 23.7 M MACs" in text


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


# --- the honest study: noise, fidelity, never-scored trials, ties, each architecture once -------

@pytest.fixture(scope="module")
def honest_dir(storage, tmp_path_factory):
    out = tmp_path_factory.mktemp("honest") / "honest"
    write_report("honest", storage, out)
    return out


def test_summary_states_noise_fidelity_never_scored_and_ties(honest_dir) -> None:
    text = (honest_dir / "summary.md").read_text()
    assert "- seed noise of the proxy accuracy: sd 0.0040 (0.40 points) over 4 trials × 3 seeds" in text
    assert ("- proxy-to-confirmed ranking (fidelity): Kendall tau 0.62 (95% bootstrap interval 0.31 to 0.85), "
            "n = 12") in text
    assert "| rejected (never scored) | 1 |" in text and "| failed (never scored) | 1 |" in text
    assert "| complete | 3 |" in text and "| reused | 1 |" in text
    # 0.945 at 6.7M MACs and 0.950 at 12.2M are within 1.96 * sqrt(2) * 0.004 = 0.011: the cheaper heads the tie.
    assert "| no budgets | trial 1: accuracy 0.9450 [0.9294, 0.9578], " in text
    assert "tied with 1 other within noise (trial 0)" in text
    # Trial 4's confirmed 0.97 (sd 0.004 over 3 seeds) leads the confirmed ranking.
    assert "## Best on confirmed accuracy" in text
    assert ("trial 4: accuracy 0.9000 [0.8797, 0.9171] (confirmed 0.9700 ± 0.0040 (sd), 15 epochs × 3 seeds)"
            in text)


def test_pareto_csv_counts_each_architecture_once_with_intervals(honest_dir) -> None:
    pareto = pd.read_csv(honest_dir / "pareto.csv").set_index("number")
    assert list(pareto.index) == [1, 0]   # not the rejected trial 2 (0.0 stored), not trial 3 (trial 0 again)
    assert (pareto.loc[0, record.ACCURACY_CI_LOW], pareto.loc[0, record.ACCURACY_CI_HIGH]) == (0.9358, 0.9611)
    assert pareto.loc[0, record.CONFIRMED_ACCURACY] == 0.93 and pareto.loc[0, record.CONFIRMED_SD] == 0.01
    assert pd.isna(pareto.loc[1, record.CONFIRMED_ACCURACY])
    trials = pd.read_csv(honest_dir / "trials.csv").set_index("number")
    assert pd.isna(trials.loc[2, record.ACCURACY]) and not trials.loc[2, "scored"]


def test_html_states_noise_fidelity_and_shades_the_tie(honest_dir) -> None:
    page = (honest_dir / "index.html").read_text()
    for fragment in ("seed noise", "sd 0.0040 (0.40 points)", "Kendall tau 0.62", "rejected (never scored): 1",
                     "indistinguishable from the best", "never scored", "accuracy_ci_low", "confirmed_accuracy"):
        assert fragment in page, fragment
