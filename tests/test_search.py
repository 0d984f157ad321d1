"""The search on real (tiny) studies: the fixed record, reject-before-train, dedupe, Pareto ==
best_trials, resume and space-change refusal, failures, pruning, Ctrl-C, seeds, the accuracy's
uncertainty and repeats, and `train-proxy --space` reproducing a trial.

No mocks of Optuna, fvcore or the storages: every study here is a real SQLite study written by
`run_search`; a few tests pass a trainer hook that records calls (or fails on purpose).
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from helpers.search import TINY, load, sqlite, tiny, write_space

from workbench import record
from workbench.errors import WorkbenchError
from workbench.results import pareto_front, study_objectives, trials_frame
from workbench.search import load_space, run_search
from workbench.storage import named_constraints

CONSTRAINT_NAMES = [record.CONSTRAINT_PARAMS, record.CONSTRAINT_MACS, record.CONSTRAINT_LATENCY]

class CountingTrainer:
    """Wraps the real proxy trainer and records each call's architecture."""

    def __init__(self, fail_on: dict[int, BaseException] | None = None) -> None:
        self.calls: list[Any] = []
        self.fail_on = fail_on or {}

    def __call__(self, model, data, recipe, device="cpu", on_epoch=None):
        from workbench.training import train_proxy

        self.calls.append(recipe.seed)
        error = self.fail_on.get(len(self.calls))
        if error is not None:
            raise error
        return train_proxy(model, data, recipe, device=device, on_epoch=on_epoch)


def run(space, tmp_path, **kwargs):
    kwargs.setdefault("storage", sqlite(tmp_path))
    kwargs.setdefault("progress", False)
    return run_search(space, **kwargs)


def test_record_pareto_and_study_attrs(tmp_path) -> None:
    space = tiny(tmp_path)
    summary = run(space, tmp_path, trials=8, seed=1)
    study = load(tmp_path)
    trials = study.get_trials()
    assert len(trials) == 8 and summary.ran == 8
    for trial in trials:
        assert set(trial.user_attrs) == set(record.TRIAL_KEYS)
        assert trial.user_attrs[record.STATUS] in ("complete", "reused")
        assert set(named_constraints(trial)) == set(CONSTRAINT_NAMES)
        # The list form optuna-dashboard 0.21 reads: the same values in the same order.
        assert trial.system_attrs["constraints"] == [trial.constraints[name] for name in CONSTRAINT_NAMES]
        assert trial.values == [trial.user_attrs[record.ACCURACY], trial.user_attrs[record.MACS]]
        assert trial.user_attrs[record.ACCURACY_SOURCE] == "proxy-train:0.2ep"
        assert trial.user_attrs[record.LATENCY_P50] > 0 and trial.user_attrs[record.TRAIN_SECONDS] > 0
    attrs = study.user_attrs
    for key in (record.STUDY_SPACE_FILE, record.STUDY_SPACE_HASH, record.STUDY_SPACE, record.STUDY_DATASET,
                record.STUDY_DEVICE, record.STUDY_OBJECTIVES, record.STUDY_BUDGETS, record.STUDY_LATENCY_PROTOCOL,
                record.STUDY_WORKBENCH_VERSION):
        assert attrs.get(key) is not None, key
    assert attrs[record.STUDY_SPACE_HASH] == space.space_hash()
    assert study.metric_names == ["accuracy", "macs"] == attrs[record.STUDY_OBJECTIVES]
    front = pareto_front(trials_frame(study), study_objectives(study))
    assert sorted(front["number"]) == sorted(t.number for t in study.best_trials)
    assert [p["number"] for p in summary.pareto] == sorted(t.number for t in study.best_trials)


def test_over_budget_trials_are_rejected_before_training(tmp_path) -> None:
    # The cheapest corner fits; most of the space does not.
    from workbench.search.space_check import check_cost_budgets

    corner = min(c["macs"] for c in check_cost_budgets(tiny(tmp_path, budgets={"max_macs": 1e12})))
    space = tiny(tmp_path, budgets={"max_macs": corner * 1.15})
    trainer = CountingTrainer()
    run(space, tmp_path, trials=8, seed=0, trainer=trainer, sampler="random")
    trials = load(tmp_path).get_trials()
    statuses = [t.user_attrs[record.STATUS] for t in trials]
    rejected = [t for t in trials if t.user_attrs[record.STATUS] == "rejected"]
    assert rejected, statuses
    for trial in rejected:
        attrs = trial.user_attrs
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert attrs[record.TRAIN_SECONDS] is None and attrs[record.VAL_CURVE] is None
        assert attrs[record.ACCURACY] is None and trial.values[0] == 0.0  # never scored; 0.0 is a placeholder
        assert attrs[record.ACCURACY_CI_LOW] is None and attrs[record.ACCURACY_SAMPLES] is None
        assert trial.system_attrs["constraints"] == [trial.constraints[name] for name in CONSTRAINT_NAMES]
        assert trial.system_attrs["constraints"][CONSTRAINT_NAMES.index(record.CONSTRAINT_MACS)] > 0
        assert attrs[record.MACS] > corner * 1.15 and "over budget" in attrs[record.REASON]
        assert trial.constraints[record.CONSTRAINT_MACS] == pytest.approx(attrs[record.MACS] - corner * 1.15)
        assert attrs[record.PROFILE_SECONDS] < 10
    assert len(trainer.calls) == statuses.count("complete")
    assert all(t.number not in {b.number for b in rejected} for t in load(tmp_path).best_trials)


def test_same_architecture_is_reused_not_retrained(tmp_path) -> None:
    space = tiny(tmp_path, knobs={"ratio": {"choices": [2]}, "dw_size": {"choices": [1, 3]}})
    trainer = CountingTrainer()
    run(space, tmp_path, trials=6, seed=0, trainer=trainer, sampler="random")
    trials = load(tmp_path).get_trials()
    by_number = {t.number: t for t in trials}
    reused = [t for t in trials if t.user_attrs[record.STATUS] == "reused"]
    assert len(trainer.calls) == 6 - len(reused) <= 2 and len(reused) >= 4
    for trial in reused:
        source = by_number[trial.user_attrs[record.REUSED_FROM]]
        assert source.user_attrs[record.STATUS] == "complete"
        assert source.user_attrs[record.ARCH_HASH] == trial.user_attrs[record.ARCH_HASH]
        assert trial.values == source.values and trial.constraints == source.constraints
        assert trial.system_attrs["constraints"] == source.system_attrs["constraints"]
        for key in (record.ACCURACY, record.ACCURACY_SAMPLES, record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH,
                    record.VAL_SIZE, record.ACCURACY_SD):
            assert trial.user_attrs[key] == source.user_attrs[key], key


def test_resume_counts_earlier_trials_and_refuses_a_changed_space(tmp_path) -> None:
    space = tiny(tmp_path)
    run(space, tmp_path, trials=2)
    summary = run(space, tmp_path, trials=3)
    assert summary.ran == 1 and len(load(tmp_path).trials) == 3
    assert run(space, tmp_path, trials=3).ran == 0
    changed = tiny(tmp_path, knobs={**TINY["knobs"], "dw_size": {"choices": [3, 7]}})
    with pytest.raises(WorkbenchError, match="different space.*--allow-space-change"):
        run(changed, tmp_path, trials=4)
    assert run(changed, tmp_path, trials=4, allow_space_change=True).ran == 1
    assert load(tmp_path).user_attrs[record.STUDY_SPACE_HASH] == changed.space_hash()
    other_objectives = tiny(tmp_path, objectives=["accuracy", "params"])
    with pytest.raises(WorkbenchError, match="objectives cannot change"):
        run(other_objectives, tmp_path, trials=5, allow_space_change=True)


def test_failing_trials_are_recorded_and_the_study_goes_on(tmp_path) -> None:
    from workbench.training import TrainingDiverged

    trainer = CountingTrainer(fail_on={1: TrainingDiverged("loss is NaN at step 3"),
                                       2: RuntimeError("CUDA out of memory. Tried")})
    summary = run(tiny(tmp_path), tmp_path, trials=4, trainer=trainer, sampler="random")
    trials = load(tmp_path).get_trials()
    assert [t.state.name for t in trials[:2]] == ["FAIL", "FAIL"]
    assert trials[0].user_attrs[record.REASON].startswith("training diverged")
    assert trials[1].user_attrs[record.REASON].startswith("out of memory")
    assert all(set(t.user_attrs) == set(record.TRIAL_KEYS) and t.user_attrs[record.STATUS] == "failed"
               for t in trials[:2])
    assert trials[0].user_attrs[record.MACS] > 0  # the figures measured before the failure are kept
    assert summary.states == {"FAIL": 2, "COMPLETE": 2}


def test_ctrl_c_stops_the_running_trial_and_keeps_the_finished_ones(tmp_path) -> None:
    space = tiny(tmp_path)
    summary = run(space, tmp_path, trials=5, trainer=CountingTrainer(fail_on={2: KeyboardInterrupt()}))
    trials = load(tmp_path).get_trials()
    assert summary.interrupted and [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[1].user_attrs[record.REASON].startswith("interrupted")
    summary = run(space, tmp_path, trials=3)  # the interrupted trial does not count
    assert summary.ran == 2 and load(tmp_path).get_trials()[-1].state.name == "COMPLETE"


def test_single_objective_scalarisation_prunes_on_validation_accuracy(tmp_path) -> None:
    from workbench.training import ProxyResult

    def trainer(model, data, recipe, device="cpu", on_epoch=None):
        # accuracy grows with the seed (= base seed + trial number): later trials look better,
        # except every third, which is poor from the first epoch and must be pruned.
        number = recipe.seed
        level = 0.1 if number % 3 == 2 else 0.5 + 0.01 * number
        curve = []
        for epoch in range(3):
            curve.append(level + 0.01 * epoch)
            on_epoch(epoch, curve[-1])
        return ProxyResult(val_accuracy=curve[-1], best_val_accuracy=curve[-1], val_curve=curve, loss_curve=[1.0] * 3,
                           train_seconds=0.01, eval_seconds=0.0, images_per_second=1.0, epochs_run=3,
                           stopped_reason=None)

    scalar = {"name": "acc_minus_mmacs", "weights": {"accuracy": 1.0, "macs": -1e-9}}
    space = tiny(tmp_path, scalarization=scalar)
    run(space, tmp_path, trials=9, trainer=trainer, sampler="random", seed=0)
    study = load(tmp_path)
    assert study.metric_names == ["acc_minus_mmacs"] and len(study.directions) == 1
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert {t.number for t in pruned} >= {5, 8}
    for trial in pruned:
        assert trial.user_attrs[record.STATUS] == "pruned" and set(trial.user_attrs) == set(record.TRIAL_KEYS)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    for trial in complete:
        assert trial.value == pytest.approx(trial.user_attrs[record.ACCURACY] - 1e-9 * trial.user_attrs[record.MACS])
        assert sorted(trial.intermediate_values) == [0, 1, 2]


@pytest.mark.slow
def test_same_seed_same_trial_sequence(tmp_path) -> None:
    space = tiny(tmp_path, knobs={"ratio": {"low": 2, "high": 5}, "dw_size": {"choices": [1, 3, 5, 7]},
                                  "width": {"low": 0.25, "high": 0.4, "step": 0.05}}, latency=None)
    from workbench.training import ProxyResult

    def trainer(model, data, recipe, device="cpu", on_epoch=None):  # deterministic and instant
        accuracy = 1.0 - 1.0 / (1 + sum(p.numel() for p in model.parameters()) / 1e5)
        return ProxyResult(val_accuracy=accuracy, best_val_accuracy=accuracy, val_curve=[accuracy], loss_curve=[1.0],
                           train_seconds=0.0, eval_seconds=0.0, images_per_second=1.0, epochs_run=1,
                           stopped_reason=None)

    sequences = []
    for name in ("a", "b"):  # 9 trials: past TPE's 8 random start-up trials
        run(space, tmp_path, trials=9, seed=7, trainer=trainer, study_name=name)
        sequences.append([t.params for t in load(tmp_path, name).trials])
    assert sequences[0] == sequences[1]
    run(space, tmp_path, trials=3, seed=8, trainer=trainer, study_name="c")
    assert [t.params for t in load(tmp_path, "c").trials] != sequences[0][:3]


@pytest.mark.parametrize("sampler", ["nsga2", "nsga3", "gp", "random"])
def test_every_sampler_runs(tmp_path, sampler) -> None:
    from workbench.training import ProxyResult

    def trainer(model, data, recipe, device="cpu", on_epoch=None):
        return ProxyResult(val_accuracy=0.5, best_val_accuracy=0.5, val_curve=[0.5], loss_curve=[1.0],
                           train_seconds=0.0, eval_seconds=0.0, images_per_second=1.0, epochs_run=1,
                           stopped_reason=None)

    summary = run(tiny(tmp_path, latency=None), tmp_path, trials=2, sampler=sampler, trainer=trainer)
    assert summary.states.get("COMPLETE") == 2


def test_scored_trials_carry_their_uncertainty(tmp_path) -> None:
    from scipy.stats import binomtest

    from workbench.data import load_dataset

    run(tiny(tmp_path), tmp_path, trials=3, seed=0)
    val_size = len(load_dataset("digits", input_size=16, seed=0, val_fraction=0.2).val_y)
    for trial in load(tmp_path).get_trials():
        attrs = trial.user_attrs
        assert attrs[record.VAL_SIZE] == val_size
        assert attrs[record.ACCURACY_SAMPLES] == [attrs[record.ACCURACY]] and attrs[record.ACCURACY_SD] is None
        correct = round(attrs[record.ACCURACY] * val_size)
        assert correct / val_size == pytest.approx(attrs[record.ACCURACY])
        wilson = binomtest(correct, val_size).proportion_ci(confidence_level=0.95, method="wilson")
        assert attrs[record.ACCURACY_CI_LOW] == pytest.approx(wilson.low, abs=1e-9)
        assert attrs[record.ACCURACY_CI_HIGH] == pytest.approx(wilson.high, abs=1e-9)


def test_repeats_train_every_seed_and_score_their_mean(tmp_path) -> None:
    from workbench.training import ProxyResult

    seeds_seen: list[int] = []

    def trainer(model, data, recipe, device="cpu", on_epoch=None):  # accuracy fixed by the seed
        seeds_seen.append(recipe.seed)
        accuracy = 0.5 + (recipe.seed % 1000) / 100 + recipe.seed // 1000 * 0.05
        return ProxyResult(val_accuracy=accuracy, best_val_accuracy=accuracy, val_curve=[accuracy - 0.1, accuracy],
                           loss_curve=[2.0, 1.0], train_seconds=0.5, eval_seconds=0.0, images_per_second=10.0,
                           epochs_run=2)

    with pytest.raises(WorkbenchError, match=r"tiny.yaml: repeats: .*less than or equal to 20"):
        tiny(tmp_path, repeats=21)
    run(tiny(tmp_path, repeats=3, latency=None), tmp_path, trials=2, seed=4, trainer=trainer, sampler="random")
    trials = load(tmp_path).get_trials()
    assert seeds_seen == [4, 1004, 2004, 5, 1005, 2005]
    for trial in trials:
        n = trial.number
        samples = [0.5 + (4 + n) / 100 + i * 0.05 for i in range(3)]
        attrs = trial.user_attrs
        assert attrs[record.ACCURACY_SAMPLES] == pytest.approx(samples)
        assert attrs[record.ACCURACY] == pytest.approx(sum(samples) / 3) == trial.values[0]
        assert attrs[record.ACCURACY_SD] == pytest.approx(0.05)
        assert attrs[record.VAL_CURVE] == pytest.approx([sum(samples) / 3 - 0.1, sum(samples) / 3])
        assert attrs[record.TRAIN_SECONDS] == pytest.approx(1.5)


def test_a_copy_of_a_rejected_trial_stays_never_scored(tmp_path) -> None:
    # One architecture only, over budget: trial 0 is rejected, every later trial copies it.
    from workbench.search.space_check import check_cost_budgets

    knobs = {"ratio": {"choices": [2]}, "dw_size": {"choices": [3]}, "width": {"choices": [0.4]},
             "depth": {"choices": [2], "scope": "per_stage", "stages": [6, 8]}}
    macs = check_cost_budgets(tiny(tmp_path, knobs=knobs, budgets={"max_macs": 1e12}))[0]["macs"]
    space = load_space(str(write_space(tmp_path, {**TINY, "knobs": knobs, "budgets": {"max_macs": macs - 1}})),
                       check_budgets=False)
    run(space, tmp_path, trials=2, trainer=CountingTrainer())
    first, second = load(tmp_path).get_trials()
    assert first.user_attrs[record.STATUS] == "rejected" and second.user_attrs[record.STATUS] == "rejected"
    assert second.user_attrs[record.REUSED_FROM] == 0 and second.user_attrs[record.ACCURACY] is None
    assert second.system_attrs["constraints"] == first.system_attrs["constraints"]
    assert second.values[0] == 0.0


def test_train_proxy_with_the_space_reproduces_a_trial(tmp_path, capsys) -> None:
    import json

    from workbench.cli.main import main

    space_file = write_space(tmp_path, {**TINY, "recipe": {"epochs": 1, "batch_size": 32, "lr": 0.1}})
    run(load_space(str(space_file)), tmp_path, trials=2)
    trial = load(tmp_path).get_trials()[1]
    assert trial.user_attrs[record.STATUS] == "complete"
    config = tmp_path / "trial1.yaml"
    assert main(["export", "--study", "tiny", "--storage", sqlite(tmp_path), "--pick", "trial:1",
                 "--out", str(config)]) == 0
    capsys.readouterr()
    assert main(["train-proxy", "--space", str(space_file), "--config", str(config), "--trial", "1",
                 "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    val_size = trial.user_attrs[record.VAL_SIZE]
    assert report["score"]["seeds"] == [1] and report["data"]["val"] == val_size
    assert abs(report["score"]["accuracy"] - trial.user_attrs[record.ACCURACY]) <= 1 / val_size + 1e-12
    assert report["score"]["accuracy"] > 0.3  # well above chance (0.1): a wrong seed or recipe would show
    assert report["recipe"]["bn_recalibration_batches"] == 20 and report["recipe"]["epochs"] == 1
