"""`workbench confirm` on a real (tiny) SQLite study written by `run_search`: which trials it
re-trains, the stored confirmations and their seeds, resume, Ctrl-C, the stored Kendall tau
(checked against scipy) and the bad inputs that exit 2 without touching the storage."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import statistics
from pathlib import Path

import optuna
import pytest
from helpers.search import TINY, write_space
from scipy import stats as scipy_stats
from study_factory import DEFAULT_TRIALS, make_study

from workbench import record
from workbench.cli.main import main
from workbench.confirm import confirm_study, select_trials, store_confirmation, store_fidelity_tau
from workbench.search import load_space, run_search
from workbench.training.proxy import train_proxy as real_train_proxy

# The search's proxy: half an epoch at batch 32 (accuracies spread over 50-85%, so the ranks
# differ); confirmations below run 0.05-0.5 epochs to stay fast. No latency: not an objective.
# Everything runs on the CPU, where a seed reproduces a run exactly.
PROXY_EPOCHS = 0.5
SPACE = {**copy.deepcopy(TINY), "latency": None,
         "recipe": {"epochs": PROXY_EPOCHS, "batch_size": 32, "lr": 0.1, "augment": False,
                    "bn_recalibration_batches": 4}}
STUDY = "tiny"


class Trainer:
    """The real `train_proxy`, recording each run's seed; raises `interrupt_on` at that call."""

    def __init__(self, interrupt_on: int | None = None) -> None:
        self.seeds: list[int] = []
        self.interrupt_on = interrupt_on

    def __call__(self, model, data, recipe, device="cpu", on_epoch=None):
        self.seeds.append(recipe.seed)
        if len(self.seeds) == self.interrupt_on:
            raise KeyboardInterrupt
        return real_train_proxy(model, data, recipe, device=device, on_epoch=on_epoch)


def _fail(*args, **kwargs):
    raise RuntimeError("no training in this study")


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A database with study 'tiny' (6 scored trials) and study 'failing' (every trial failed)."""
    folder = tmp_path_factory.mktemp("confirm")
    space = load_space(str(write_space(folder, SPACE)))
    url = f"sqlite:///{folder / 'study.db'}"
    run_search(space, storage=url, trials=6, progress=False, device="cpu")
    run_search(space, study_name="failing", storage=url, trials=2, progress=False, trainer=_fail,
               device="cpu")
    return folder / "study.db"


@pytest.fixture()
def db(tmp_path, searched) -> Path:
    path = tmp_path / "study.db"
    shutil.copy(searched, path)
    return path


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _load(path: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=_url(path))


def _confirm(db: Path, **kwargs):
    return confirm_study(STUDY, _url(db), device="cpu", progress=False, **kwargs)


def _expected_choice(study: optuna.Study, top: int) -> set[int]:
    """Front (accuracy up, MACs down, by brute force) of the feasible scored trials, each
    architecture once, plus the `top` best by accuracy."""
    seen, pool = set(), []
    for trial in sorted(study.get_trials(), key=lambda t: t.number):
        attrs = trial.user_attrs
        if attrs[record.STATUS] == "complete" and all(v <= 0 for v in trial.constraints.values()) \
                and attrs[record.ARCH_HASH] not in seen:
            seen.add(attrs[record.ARCH_HASH])
            pool.append((trial.number, attrs[record.ACCURACY], attrs[record.MACS]))

    def dominated(a):
        return any(b[1] >= a[1] and b[2] <= a[2] and (b[1] > a[1] or b[2] < a[2]) for b in pool)

    front = {n for n, acc, macs in pool if not dominated((n, acc, macs))}
    best = {n for n, _, _ in sorted(pool, key=lambda p: (-p[1], p[0]))[:top]}
    return front | best


def _stored(study: optuna.Study) -> dict[int, dict]:
    return {int(k.split(":")[1]): v for k, v in study.user_attrs.items() if k.startswith(record.STUDY_CONFIRM_PREFIX)}


def test_confirm_stores_every_seed_and_the_kendall_tau(db) -> None:
    trainer = Trainer()
    summary = _confirm(db, top=3, seeds=2, epochs=PROXY_EPOCHS, trainer=trainer)
    study = _load(db)
    chosen = _expected_choice(study, top=3)
    stored = _stored(study)
    assert sorted(stored) == sorted(chosen) == [c.number for c in summary.confirmations]
    assert trainer.seeds == [seed for n in sorted(chosen) for seed in (n, n + 1000)]  # space seed 0
    by_number = {t.number: t for t in study.get_trials()}
    for number, value in stored.items():
        assert value["seeds"] == [number, number + 1000] and value["epochs"] == PROXY_EPOCHS
        assert value["accuracy"] == pytest.approx(statistics.mean(value["samples"]))
        assert value["sd"] == pytest.approx(statistics.stdev(value["samples"]))
        # Seed 0 at the proxy's own epochs is the search's own run: it reproduces the trial.
        assert value["samples"][0] == pytest.approx(by_number[number].user_attrs[record.ACCURACY], abs=1e-12)
    numbers = sorted(stored)
    proxy = [by_number[n].user_attrs[record.ACCURACY] for n in numbers]
    confirmed = [stored[n]["accuracy"] for n in numbers]
    tau = study.user_attrs[record.STUDY_FIDELITY_TAU]
    assert tau["tau"] == pytest.approx(scipy_stats.kendalltau(proxy, confirmed).statistic)
    assert tau["n"] == len(numbers) >= 3 and tau["epochs"] == PROXY_EPOCHS and tau["seeds"] == 2
    assert tau["low"] <= tau["tau"] <= tau["high"]
    assert summary.tau == tau and summary.trained == 2 * len(numbers) and not summary.interrupted


def test_a_rerun_trains_only_the_missing_seeds_and_other_epochs_start_over(db) -> None:
    first = Trainer()
    _confirm(db, top=0, seeds=1, epochs=0.1, trainer=first)
    before = _stored(_load(db))
    second = Trainer()
    summary = _confirm(db, top=0, seeds=2, epochs=0.1, trainer=second)
    after = _stored(_load(db))
    numbers = sorted(before)
    assert first.seeds == numbers and second.seeds == [n + 1000 for n in numbers]
    for number in numbers:
        assert after[number]["samples"][0] == before[number]["samples"][0]
        assert after[number]["seeds"] == [number, number + 1000]
    assert summary.trained == len(numbers) and not any("replaced" in note for note in summary.notes)
    third = Trainer()
    summary = _confirm(db, top=0, seeds=1, epochs=0.05, trainer=third)
    assert third.seeds == numbers
    assert all(v["epochs"] == 0.05 and v["seeds"] == [n] for n, v in _stored(_load(db)).items())
    assert sum("replaced by runs at 0.05 epochs" in note for note in summary.notes) == len(numbers)


def test_tau_needs_three_confirmed_trials(db) -> None:
    study = _load(db)
    scored = {t.number: t.user_attrs[record.ACCURACY] for t in study.get_trials()}
    for number in list(scored)[:2]:
        store_confirmation(study, number, 1.0, {number: 0.5 + number / 100})
    notes: list[str] = []
    assert store_fidelity_tau(study, scored, 1.0, 1, notes) is None
    assert record.STUDY_FIDELITY_TAU not in _load(db).user_attrs
    assert notes == [f"Kendall tau needs at least 3 confirmed trials at 1 epochs, the study has 2; "
                     f"no {record.STUDY_FIDELITY_TAU} stored"]


def test_ctrl_c_keeps_every_finished_seed_and_the_rerun_resumes(db) -> None:
    interrupting = Trainer(interrupt_on=2)
    summary = _confirm(db, top=0, seeds=2, epochs=0.1, trainer=interrupting)
    study = _load(db)
    first = summary.confirmations[0].number
    assert summary.interrupted and summary.tau is None and record.STUDY_FIDELITY_TAU not in study.user_attrs
    assert _stored(study) == {first: {"accuracy": summary.confirmations[0].accuracy, "sd": None, "epochs": 0.1,
                                      "samples": summary.confirmations[0].samples, "seeds": [first]}}
    resumed = Trainer()
    _confirm(db, top=0, seeds=2, epochs=0.1, trainer=resumed)
    assert first not in resumed.seeds and first + 1000 in resumed.seeds
    assert _stored(_load(db))[first]["samples"][0] == summary.confirmations[0].samples[0]


def test_cli_json_then_text_table_with_the_tau(db, capsys) -> None:
    argv = ["confirm", "--study", STUDY, "--storage", str(db), "--seeds", "1", "--epochs", "0.1", "--top", "3",
            "--no-progress", "--device", "cpu"]
    assert main([*argv, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 0.1 and out["seeds"] == 1 and out["trained"] == len(out["confirmations"])
    assert out["fidelity_kendall_tau"]["n"] == len(out["confirmations"]) >= 3
    assert main(argv) == 0  # everything is stored: nothing to train, the same table
    text = capsys.readouterr().out
    assert "trained 0 seed run(s)" in text and "Kendall tau, proxy vs confirmed accuracy" in text
    for item in out["confirmations"]:
        assert f"{item['accuracy']:.4f}" in text


def test_cli_ctrl_c_exits_130_and_keeps_the_finished_seed(db, capsys, monkeypatch) -> None:
    import workbench.search.scoring

    interrupting = Trainer(interrupt_on=2)
    monkeypatch.setattr(workbench.search.scoring, "train_proxy", interrupting)  # where scoring looks it up
    code = main(["confirm", "--study", STUDY, "--storage", str(db), "--seeds", "2", "--epochs", "0.1", "--top", "0",
                 "--no-progress", "--device", "cpu"])
    assert code == 130
    assert "interrupted" in capsys.readouterr().out
    stored = _stored(_load(db))
    assert [v["seeds"] for v in stored.values()] == [[interrupting.seeds[0]]]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args, fragment", [
    (["--study", "nope"], "no study 'nope'"),
    (["--study", "failing"], "no scored feasible trial"),
    (["--study", STUDY, "--seeds", "0"], "--seeds must be at least 1"),
    (["--study", STUDY, "--epochs", "0"], "--epochs must be more than 0"),
    (["--study", STUDY, "--epochs", "-1"], "--epochs must be more than 0"),
    (["--study", STUDY, "--top", "-1"], "--top must be 0 or more"),
])
def test_bad_input_exits_2_with_one_line_and_leaves_the_storage(db, capsys, args, fragment) -> None:
    before = _digest(db)
    assert main(["confirm", "--storage", str(db), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert _digest(db) == before
    if args[1] == "nope":
        assert "tiny" in err[0] and "failing" in err[0]  # the studies that do exist


def test_a_missing_storage_exits_2(tmp_path, capsys) -> None:
    assert main(["confirm", "--study", STUDY, "--storage", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no database file" in err[0]
    assert not (tmp_path / "none.db").exists()


def test_never_scored_and_duplicate_architectures_are_never_chosen() -> None:
    duplicate = (2, 3, 0.5, 0.99, 4.0)  # trial 0's architecture again, measured best of all
    study = make_study(None, trials=(*DEFAULT_TRIALS, duplicate), max_macs=2.5e7)
    statuses = {t.number: t.user_attrs[record.STATUS] for t in study.get_trials()}
    _, chosen = select_trials(study, top=len(statuses))
    assert "rejected" in statuses.values() and "failed" in statuses.values()
    assert set(chosen) == {n for n, s in statuses.items() if s == "complete"} - {len(DEFAULT_TRIALS)}


def test_confirmed_figures_of_two_recipes_never_rank_each_other(db, tmp_path, capsys) -> None:
    """Issue 34, item 7: a run at new epochs re-confirms every confirmed trial; while a cut-short
    run leaves two recipes, a pick by confirmed accuracy refuses, and the stale tau is gone."""
    first = _confirm(db, top=3, seeds=1, epochs=0.1, trainer=Trainer())
    assert first.tau is not None
    confirmed = sorted(_stored(_load(db)))
    cut_short = _confirm(db, top=0, seeds=1, epochs=0.2, trainer=Trainer(interrupt_on=2))
    assert cut_short.interrupted
    stored = _stored(_load(db))
    assert sorted(v["epochs"] for v in stored.values()) == [0.1] * (len(confirmed) - 1) + [0.2]
    assert _load(db).user_attrs[record.STUDY_FIDELITY_TAU] is None  # measured on figures since replaced
    out = tmp_path / "best.yaml"
    export = ["export", "--study", STUDY, "--storage", str(db), "--by", "confirmed", "--out", str(out)]
    assert main(export) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0.1 epochs: trials" in err[0] and "0.2 epochs: trial" in err[0], err
    assert "--epochs 0.2" in err[0] and not out.exists()
    resumed = Trainer()
    summary = _confirm(db, top=0, seeds=1, epochs=0.2, trainer=resumed)  # front only, yet every confirmed trial
    assert sorted(_stored(_load(db))) == confirmed
    assert all(v["epochs"] == 0.2 for v in _stored(_load(db)).values())
    assert sorted(resumed.seeds + [cut_short.confirmations[0].seeds[0]]) == confirmed  # space seed 0: seed n
    assert summary.tau is not None and summary.tau["epochs"] == 0.2 and summary.tau["n"] == len(confirmed)
    assert main(export) == 0
    assert "(knee (by confirmed accuracy at 0.2 epochs))" in capsys.readouterr().out
    assert "knee (by confirmed accuracy at 0.2 epochs)" in out.read_text()
