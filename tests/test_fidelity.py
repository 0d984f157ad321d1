"""The fidelity ladder and the zero-cost pre-screen: the promotion rule against hand-worked
cases, the space checks, and real (tiny) ladder searches on SQLite studies.

The searches pass a trainer that wraps the real `train_proxy` and records what each call was
asked to do, so "a promoted candidate keeps training instead of restarting" and "a screened
candidate is never trained" are checked on the calls themselves.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from helpers.search import TINY, sqlite, write_space
from optuna.trial import TrialState

from workbench import record
from workbench.results import at_rung, pareto_front, rungs, study_objectives, trials_frame
from workbench.search import load_space, run_search
from workbench.search.promotion import (
    hypervolume_contributions,
    is_promoted,
    nondominated_ranks,
    promoted_count,
    promotion_order,
)
from workbench.search.space_resolve import proxy_recipe

LADDER = {"rungs": [1, 2], "unit": "epochs", "eta": 3}


# --- the promotion rule, worked by hand ------------------------------------------------------
def test_nondominated_ranks_by_hand() -> None:
    # (loss = -accuracy, MACs): a dominates c; b and a trade off; d is dominated by all.
    losses = np.array([[-0.9, 2.0], [-0.8, 1.0], [-0.85, 3.0], [-0.7, 4.0]])
    assert nondominated_ranks(losses).tolist() == [0, 0, 1, 2]


def test_hypervolume_contribution_by_hand() -> None:
    # Reference (4, 4). Point (1, 1) owns the box [1,3] x [1,3] = 4; (0, 3) owns [0,1] x [3,4] = 1;
    # (3, 0) owns [3,4] x [0,1] = 1.
    losses = np.array([[0.0, 3.0], [1.0, 1.0], [3.0, 0.0]])
    assert hypervolume_contributions(losses, np.array([4.0, 4.0])).tolist() == [1.0, 4.0, 1.0]


def test_promotion_order_fronts_then_contribution() -> None:
    # Front 0: rows 0, 1, 2 (the same shape as above, so row 1 contributes most); row 3 is behind.
    losses = np.array([[0.0, 3.0], [1.0, 1.0], [3.0, 0.0], [3.5, 3.5]])
    assert promotion_order(losses).tolist() == [1, 0, 2, 3]


@pytest.mark.parametrize("n, eta, expected",
                         [(1, 3, 1), (2, 3, 1), (3, 3, 1), (4, 3, 2), (9, 3, 3), (10, 3, 4), (8, 4, 2)])
def test_promoted_count_is_ceil_n_over_eta(n: int, eta: float, expected: int) -> None:
    assert promoted_count(n, eta) == expected


def test_same_cost_ranks_by_accuracy_only() -> None:
    # Nine candidates of equal cost: only accuracy separates them; the top 3 of 9 go on.
    accuracies = [0.50, 0.90, 0.70, 0.60, 0.95, 0.80, 0.55, 0.85, 0.65]
    losses = np.array([[-a, 1e6] for a in accuracies])
    promoted = [i for i in range(9) if is_promoted(i, losses, 3)]
    assert promoted == [1, 4, 7]


# --- the space checks -------------------------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    ({"fidelity": {"rungs": [3, 1], "unit": "epochs"}}, "fidelity.rungs"),
    ({"fidelity": {"rungs": [1, 1], "unit": "epochs"}}, "fidelity.rungs"),
    ({"fidelity": {"rungs": [1, 3], "eta": 1.5}}, "fidelity.eta"),
    ({"fidelity": {"rungs": [1, 3], "unit": "input_size"}}, "fidelity.unit"),
    ({"fidelity": {"rungs": [1, 3]}, "accuracy": {"source": "zero_cost", "proxy": "naswot"}}, "fidelity.unit"),
    ({"fidelity": {"rungs": [0.5, 2], "unit": "train_fraction"}}, "fidelity.rungs"),
    ({"fidelity": {"rungs": [1, 3]}, "recipe": {"epochs": 2}}, "fidelity.rungs"),
    ({"fidelity": {"rungs": [1, 3]}, "repeats": 2}, "fidelity"),
    ({"prescreen": {"proxy": "nope", "keep": 0.25}}, "prescreen.proxy"),
    ({"prescreen": {"proxy": "naswot", "keep": 1.5}}, "prescreen.keep"),
])
def test_bad_ladder_is_refused_before_any_trial(tmp_path: Path, change: dict[str, Any], field: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli.main import main

    data = copy.deepcopy(TINY)
    data.update(change)
    path = write_space(tmp_path, data)
    db = tmp_path / "study.db"
    code = main(["search", "--space", str(path), "--storage", f"sqlite:///{db}", "--trials", "1", "--no-progress"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], lines
    assert not db.exists()


# --- real ladder searches ----------------------------------------------------------------------
class RecordingTrainer:
    """The real proxy trainer; records per call the recipe's epochs, the epochs it ran and the
    size of the training split it was given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, model, data, recipe, device="cpu", on_epoch=None):
        from workbench.training import train_proxy

        call = {"epochs": recipe.epochs, "seed": recipe.seed, "ran": 0, "train_size": len(data.train_y)}
        self.calls.append(call)

        def counted(epoch: int, accuracy: float) -> None:
            call["ran"] += 1
            if on_epoch is not None:
                on_epoch(epoch, accuracy)

        return train_proxy(model, data, recipe, device=device, on_epoch=counted)


def ladder_space(tmp_path: Path, **changes: Any):
    data = copy.deepcopy(TINY)
    data["recipe"] = {"batch_size": 128, "bn_recalibration_batches": 2}
    data.update({"fidelity": LADDER, **changes})
    return load_space(str(write_space(tmp_path, data)))


@pytest.fixture(scope="module")
def ladder_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, RecordingTrainer, Any, str]:
    folder = tmp_path_factory.mktemp("ladder")
    space = ladder_space(folder)
    trainer = RecordingTrainer()
    url = sqlite(folder)
    run_search(space, storage=url, trials=6, progress=False, trainer=trainer, device="cpu")
    return optuna.load_study(study_name="tiny", storage=url), trainer, space, url


def test_ladder_trials_reach_rungs_and_stop_as_pruned(ladder_study) -> None:
    study, _, _, _ = ladder_study
    trials = study.get_trials()
    statuses = [t.user_attrs[record.STATUS] for t in trials]
    assert "stopped" in statuses and "complete" in statuses
    for trial in trials:
        attrs = trial.user_attrs
        assert set(attrs) == set(record.TRIAL_KEYS)
        if attrs[record.STATUS] == "complete":
            assert trial.state == TrialState.COMPLETE
            assert set(attrs[record.ACCURACY_BY_RUNG]) == {"1", "2"} and attrs[record.RUNG] == 2
            assert trial.values == [attrs[record.ACCURACY_BY_RUNG]["2"], attrs[record.MACS]]
        elif attrs[record.STATUS] == "stopped":
            assert trial.state == TrialState.PRUNED and trial.values is None
            assert set(attrs[record.ACCURACY_BY_RUNG]) == {"1"} and attrs[record.RUNG] == 1
            assert "rung 1ep" in attrs[record.REASON]
    # Every Optuna front member reached the top rung.
    assert {t.number for t in study.best_trials} <= {t.number for t in trials if t.state == TrialState.COMPLETE}


def test_promoted_candidates_keep_training_and_stopped_ones_stop(ladder_study) -> None:
    study, trainer, _, _ = ladder_study
    trained = [t for t in study.get_trials() if t.user_attrs[record.STATUS] in ("complete", "stopped")]
    # One training call per trained candidate, its schedule spanning the top rung (2 epochs):
    # a promoted candidate continues the same run instead of starting a second one.
    assert len(trainer.calls) == len(trained)
    assert all(call["epochs"] == 2 for call in trainer.calls)
    ran = sorted(call["ran"] for call in trainer.calls)
    stopped = sum(t.user_attrs[record.STATUS] == "stopped" for t in trained)
    assert ran == [1] * stopped + [2] * (len(trained) - stopped)


def test_top_rung_equals_a_plain_run_of_the_same_recipe(ladder_study, tmp_path: Path) -> None:
    from workbench.config.arch import ArchConfig
    from workbench.search.scoring import train_candidate
    from workbench.search.space_resolve import resolve_space
    from workbench.search.workers import load_search_data

    study, _, _, _ = ladder_study
    done = next(t for t in study.get_trials() if t.user_attrs[record.STATUS] == "complete")
    plain = load_space(str(write_space(tmp_path, {**copy.deepcopy(TINY), "recipe": {
        "epochs": 2, "batch_size": 128, "bn_recalibration_batches": 2}})))
    arch = ArchConfig.model_validate_json(done.user_attrs[record.ARCH_JSON])
    resolved = resolve_space(plain, device="cpu")
    run = train_candidate(resolved.recipe, arch, load_search_data(resolved), plain.trial_seeds(done.number)[0])
    assert run.val_curve == pytest.approx([done.user_attrs[record.ACCURACY_BY_RUNG]["1"],
                                           done.user_attrs[record.ACCURACY_BY_RUNG]["2"]], abs=1e-12)


def test_results_read_each_rung(ladder_study) -> None:
    study, _, _, _ = ladder_study
    frame = trials_frame(study)
    assert rungs(frame) == [1.0, 2.0]
    low = at_rung(frame, 1)
    by_hand = {t.number: t.user_attrs[record.ACCURACY_BY_RUNG]["1"] for t in study.get_trials()
               if (t.user_attrs[record.ACCURACY_BY_RUNG] or {}).get("1") is not None}
    assert dict(zip(low["number"][low["scored"]], low["accuracy"][low["scored"]])) == by_hand
    top = frame[frame["scored"]]
    assert set(top["number"]) == {t.number for t in study.get_trials() if t.state == TrialState.COMPLETE}
    # The default front is the top rung's; the rung-1 front may hold stopped trials too.
    front = pareto_front(frame, study_objectives(study))
    assert set(front["number"]) <= set(top["number"])


def test_resumed_ladder_search_reuses_a_stopped_architecture(ladder_study, tmp_path: Path) -> None:
    """A re-sampled architecture that was stopped is not trained again: it stays stopped."""
    study, _, _, _ = ladder_study
    stopped = [t for t in study.get_trials() if t.user_attrs[record.STATUS] == "stopped"]
    assert stopped
    source = stopped[0]
    study.enqueue_trial(source.params)
    from workbench.search.space_resolve import resolve_space
    from workbench.search.trial import TrialContext, run_trial
    from workbench.search.workers import load_search_data

    _, trainer, space, _ = ladder_study
    calls = len(trainer.calls)
    resolved = resolve_space(space, device="cpu")
    ctx = TrialContext(resolved=resolved, data=load_search_data(resolved), trainer=trainer)
    study.optimize(lambda trial: run_trial(trial, ctx), n_trials=1)
    copy_trial = study.get_trials()[-1]
    assert copy_trial.state == TrialState.PRUNED and copy_trial.user_attrs[record.STATUS] == "stopped"
    assert copy_trial.user_attrs[record.REUSED_FROM] == source.number
    assert len(trainer.calls) == calls


def test_prescreen_trains_only_kept_candidates_and_they_alone_count(tmp_path: Path) -> None:
    space = ladder_space(tmp_path, prescreen={"proxy": "naswot", "keep": 0.5})
    trainer = RecordingTrainer()
    url = sqlite(tmp_path)
    # Six: the first candidates are kept while few scores are known (4 trials screened none on
    # this machine's numerics, some on CI's); by the fifth the top half is selective.
    run_search(space, storage=url, trials=6, progress=False, trainer=trainer, device="cpu")
    trials = optuna.load_study(study_name="tiny", storage=url).get_trials()
    screened = [t for t in trials if t.user_attrs[record.STATUS] == "screened"]
    trained = [t for t in trials if t.user_attrs[record.STATUS] in ("complete", "stopped")]
    rejected = [t for t in trials if t.user_attrs[record.STATUS] == "rejected"]
    reused = [t for t in trials if t.user_attrs[record.STATUS] == "reused"]  # a re-sampled kept candidate
    assert screened, "with keep 0.5 some candidates are screened out"
    assert all(t.state == TrialState.PRUNED and t.user_attrs[record.PRESCREEN_SCORE] is not None
               and t.user_attrs[record.ACCURACY_BY_RUNG] is None for t in screened)
    # --trials counts the candidates that went past the screen (a rejected or reused one counts as
    # before); only the trained ones were trained.
    assert len(trained) + len(rejected) + len(reused) == 6
    assert len(trainer.calls) == len(trained)


def test_train_fraction_rungs_train_on_a_share(tmp_path: Path) -> None:
    space = ladder_space(tmp_path, fidelity={"rungs": [0.5, 1.0], "unit": "train_fraction", "eta": 2},
                         recipe={"epochs": 0.5, "batch_size": 128})
    trainer = RecordingTrainer()
    run_search(space, storage=sqlite(tmp_path), trials=2, progress=False, trainer=trainer, device="cpu")
    full = 1797 - 359 - 287  # digits less its test and validation splits
    sizes = sorted({call["train_size"] for call in trainer.calls})
    assert sizes == [round(0.5 * full), full]


def test_dashboard_shows_each_rung(ladder_study, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from streamlit.testing.v1 import AppTest

    study, _, _, url = ladder_study
    monkeypatch.setenv("WORKBENCH_STORAGE", url)
    monkeypatch.setenv("WORKBENCH_STUDY", "tiny")
    app = Path(__file__).resolve().parents[1] / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120).run()
    assert not at.exception

    def front_numbers() -> set[int]:
        text = next(m.value for m in at.markdown if m.value.startswith("**Pareto trials**"))
        return {int(n) for n in re.findall(r"\d+", text.split(":", 1)[1])}

    slider = at.select_slider(key="pareto_rung")
    assert slider.value == 2.0                                        # the top rung by default
    assert len(slider.options) == 2
    top = {t.number for t in study.get_trials() if t.state == TrialState.COMPLETE}
    assert front_numbers() <= top
    slider.set_value(1.0).run()
    # Rung 1's front by hand: every trained trial's accuracy at rung 1 against its MACs, one per architecture.
    points, seen = [], set()
    for t in study.get_trials():
        by_rung = t.user_attrs.get(record.ACCURACY_BY_RUNG) or {}
        if "1" in by_rung and t.user_attrs[record.ARCH_HASH] not in seen:
            seen.add(t.user_attrs[record.ARCH_HASH])
            points.append((t.number, by_rung["1"], t.user_attrs[record.MACS]))
    by_hand = {n for n, a, m in points
               if not any(a2 >= a and m2 <= m and (a2 > a or m2 < m) for _, a2, m2 in points)}
    assert front_numbers() == by_hand


def test_the_digits_space_turns_into_a_ladder_by_uncommenting_one_line(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[1] / "search_spaces" / "digits.yaml"
    text = shipped.read_text(encoding="utf-8")
    line = next(row for row in text.splitlines() if row.startswith("# fidelity:"))
    (tmp_path / "digits.yaml").write_text(text.replace(line, line[2:]), encoding="utf-8")
    space = load_space(str(tmp_path / "digits.yaml"))
    assert space.fidelity is not None and space.fidelity.rungs == [1, 3]
    assert proxy_recipe(space).epochs == 3 and load_space("digits").fidelity is None
