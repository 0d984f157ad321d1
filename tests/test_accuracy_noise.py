"""A study measures its own seed noise: after the search, `noise: {trials: T, seeds: S}`
re-scores T distinct scored trials spread over the accuracy range to S seeds (seed i of trial
n is base + n + 1000 i), and stores the pooled sd; it resumes, and never runs after an
interrupt. Real SQLite studies written by `run_search`; the trainer hook gives each seed a
known accuracy so the pooled sd can be computed by hand."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from helpers.search import TINY, load, sqlite, write_space

from workbench import record
from workbench.errors import WorkbenchError
from workbench.search import load_space, run_search
from workbench.training import ProxyResult

BASE_SEED = 0


def accuracy_of(seed: int) -> float:
    """Seed 0 of trial n scores 0.6 + 0.03 * (n % 7); seeds 1 and 2 add 0.01 and 0.04."""
    return 0.6 + 0.03 * ((seed % 1000) % 7) + 0.01 * (seed // 1000) ** 2


class SeededTrainer:
    """Records every seed it trains; `stop_at` raises Ctrl-C on that call."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.seeds: list[int] = []
        self.stop_at = stop_at

    def __call__(self, model, data, recipe, device="cpu", on_epoch=None):
        self.seeds.append(recipe.seed)
        if self.stop_at is not None and len(self.seeds) == self.stop_at:
            raise KeyboardInterrupt
        accuracy = accuracy_of(recipe.seed)
        return ProxyResult(val_accuracy=accuracy, best_val_accuracy=accuracy, val_curve=[accuracy], loss_curve=[1.0],
                           train_seconds=0.0, eval_seconds=0.0, images_per_second=1.0, epochs_run=1)


def space(tmp_path: Path, **changes):
    data = copy.deepcopy(TINY)
    data.update({"latency": None, "noise": {"trials": 2, "seeds": 3}}, **changes)
    return load_space(str(write_space(tmp_path, data)))


def search(tmp_path: Path, the_space, trainer, trials: int = 5):
    return run_search(the_space, storage=sqlite(tmp_path), trials=trials, seed=BASE_SEED, sampler="random",
                      progress=False, trainer=trainer)


def pooled_by_hand(groups: list[list[float]]) -> float:
    squares = sum(((np.asarray(g) - np.mean(g)) ** 2).sum() for g in groups)
    return float(np.sqrt(squares / sum(len(g) - 1 for g in groups)))


def test_noise_is_measured_on_spread_distinct_trials(tmp_path) -> None:
    trainer = SeededTrainer()
    summary = search(tmp_path, space(tmp_path), trainer)
    study = load(tmp_path)
    scored = [t for t in study.trials if t.user_attrs[record.STATUS] == "complete"]
    lowest = min(scored, key=lambda t: (t.user_attrs[record.ACCURACY], t.number)).number
    highest = max(scored, key=lambda t: (t.user_attrs[record.ACCURACY], -t.number)).number
    assert lowest != highest
    extra = [BASE_SEED + n + 1000 * i for n in sorted((lowest, highest)) for i in (1, 2)]
    assert trainer.seeds[len(scored):] == extra  # after the search: each pick's missing seeds, by the rule
    groups = [[accuracy_of(BASE_SEED + n + 1000 * i) for i in range(3)] for n in sorted((lowest, highest))]
    noise = study.user_attrs[record.STUDY_NOISE]
    assert study.user_attrs[record.STUDY_NOISE_SD] == pytest.approx(pooled_by_hand(groups))
    assert noise["sd"] == study.user_attrs[record.STUDY_NOISE_SD] and noise["trials"] == 2 and noise["seeds"] == 3
    assert noise["samples"] == {str(n): pytest.approx(g) for n, g in zip(sorted((lowest, highest)), groups)}
    assert summary.noise == noise


def test_noise_resumes_and_is_not_measured_twice(tmp_path) -> None:
    search(tmp_path, space(tmp_path), SeededTrainer())
    before = load(tmp_path).user_attrs[record.STUDY_NOISE]
    again = SeededTrainer()
    search(tmp_path, space(tmp_path), again)
    assert again.seeds == [] and load(tmp_path).user_attrs[record.STUDY_NOISE] == before
    # Asking for one more trial (noise does not change the space's hash) re-scores only that one.
    more = SeededTrainer()
    summary = search(tmp_path, space(tmp_path, noise={"trials": 3, "seeds": 3}), more)
    assert len(more.seeds) == 2 and summary.noise["trials"] == 3
    assert set(before["samples"]) < set(summary.noise["samples"])
    new = (set(summary.noise["samples"]) - set(before["samples"])).pop()
    assert more.seeds == [BASE_SEED + int(new) + 1000, BASE_SEED + int(new) + 2000]
    hashes = [load(tmp_path).trials[int(n)].user_attrs[record.ARCH_HASH] for n in summary.noise["samples"]]
    assert len(set(hashes)) == 3


def test_repeats_count_toward_the_noise_seeds(tmp_path) -> None:
    trainer = SeededTrainer()
    search(tmp_path, space(tmp_path, repeats=2), trainer, trials=3)
    samples = load(tmp_path).user_attrs[record.STUDY_NOISE]["samples"]
    assert len(trainer.seeds) == 3 * 2 + 2  # every trial's 2 seeds, then seed 2 of the 2 picks
    assert sorted(trainer.seeds[6:]) == sorted(BASE_SEED + int(n) + 2000 for n in samples)
    for n, values in samples.items():
        assert values == pytest.approx([accuracy_of(BASE_SEED + int(n) + 1000 * i) for i in range(3)])


def test_an_interrupted_search_measures_no_noise(tmp_path) -> None:
    summary = search(tmp_path, space(tmp_path), SeededTrainer(stop_at=3))
    assert summary.interrupted and summary.noise is None
    assert record.STUDY_NOISE_SD not in load(tmp_path).user_attrs


def test_bad_noise_settings_name_the_file_and_field(tmp_path) -> None:
    with pytest.raises(WorkbenchError, match=r"tiny.yaml: noise.seeds: .*greater than or equal to 2"):
        space(tmp_path, noise={"trials": 2, "seeds": 1})
    with pytest.raises(WorkbenchError, match=r"tiny.yaml: noise.trails: unknown key 'trails'"):
        space(tmp_path, noise={"trails": 2})
    with pytest.raises(WorkbenchError, match=r"tiny.yaml: noise: .*accuracy.source is 'zero_cost'"):
        space(tmp_path, accuracy={"source": "zero_cost", "proxy": "synflow"})


def test_search_command_prints_the_noise(tmp_path, capsys) -> None:
    from workbench.cli.main import main

    path = write_space(tmp_path, {**TINY, "noise": {"trials": 2, "seeds": 2}})
    assert main(["search", "--space", str(path), "--storage", sqlite(tmp_path), "--trials", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="tiny", storage=sqlite(tmp_path))
    samples = study.user_attrs[record.STUDY_NOISE]["samples"]
    sd = pooled_by_hand(list(samples.values()))
    assert len(samples) == 2 and all(len(v) == 2 for v in samples.values())
    assert study.user_attrs[record.STUDY_NOISE_SD] == pytest.approx(sd)
    line = re.search(r"seed noise: sd ([0-9.e+-]+) points over 2 trials x 2 seeds", out)
    assert line is not None, out
    assert float(line.group(1)) == pytest.approx(sd * 100, abs=0.05)  # two significant digits


def test_noise_runs_side_by_side_give_the_seeds_one_process_gives(tmp_path) -> None:
    """Two noise processes of one thread each measure exactly what one process measures: the same
    seeds, the same accuracies (real proxy training, no trainer hook)."""
    import shutil

    from workbench.search.seed_noise import measure_noise
    from workbench.search.space_resolve import resolve_space
    from workbench.search.workers import load_search_data

    the_space = space(tmp_path, recipe={"epochs": 0.1, "batch_size": 128})
    run_search(the_space.replace(noise=None), storage=sqlite(tmp_path), trials=3, seed=BASE_SEED, sampler="random",
               progress=False)
    resolved = resolve_space(the_space, device="cpu", seed=BASE_SEED)
    measured = {}
    for workers in (1, 2):
        copy_path = tmp_path / f"copy{workers}.db"
        shutil.copy(tmp_path / "study.db", copy_path)
        study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{copy_path}")
        measured[workers] = measure_noise(study, resolved, load_search_data(resolved), workers=workers, threads=1)
    assert measured[1]["samples"] == measured[2]["samples"] and len(measured[1]["samples"]) == 2
    assert all(len(values) == 3 for values in measured[2]["samples"].values())
