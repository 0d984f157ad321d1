"""`workbench export` and `workbench.load_config`: picks under budgets, the file's sections and
provenance, the dashboard's contract, and every bad input (exit 2, one line, no file)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from study_factory import make_honest_study, make_study

import workbench
from workbench import record, results
from workbench.cli.main import main
from workbench.config import ArchConfig, ExportConfig, dump_model, load_config
from workbench.config.export import DEFAULT_EPOCHS
from workbench.errors import WorkbenchError
from workbench.export import build_export, export_study
from workbench.models import build_model
from workbench.profiling.counting import count_model
from workbench.record import Budgets, TrialRecord

SPACE = {"name": "digits", "base": "ghostnet_cifar_050", "dataset": "digits", "input_size": 32, "seed": 7,
         "val_fraction": 0.25, "recipe": {"epochs": 3, "batch_size": 64, "augment": True, "lr": 0.05}}


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'studies.db'}"
    study = make_study(url, name="s")
    study.set_user_attr(record.STUDY_SPACE, SPACE)
    make_study(url, name="bare", trials=((2, 3, 0.5, 0.95, 4.0), (3, 3, 0.5, 0.93, 3.1)), failed=1)
    make_honest_study(url, name="honest")
    return url


@pytest.fixture(scope="module")
def frame(storage):
    return results.open_results("s", storage)


def _export(storage, tmp_path, *extra: str, study: str = "s", name: str = "out.yaml") -> dict:
    out = tmp_path / name
    assert main(["export", "--study", study, "--storage", storage, "--out", str(out), *extra]) == 0
    return yaml.safe_load(out.read_text()) if name.endswith(".yaml") else json.loads(out.read_text())


def test_knee_pick_is_the_knee_by_hand(storage, frame, tmp_path) -> None:
    # Study "s" (study_factory.DEFAULT_TRIALS, MAC budget 2.5e7; trials 5 and 6 over it, never scored).
    # Front (accuracy, MACs): 2 (0.90, 8.00M), 7 (0.91, 9.00M), 1 (0.93, 10.13M), 0 (0.95, 12.15M),
    # 3 (0.97, 23.67M). Scaled to [0, 1] over the front, the distances to the ideal (0.97, 8.00M) are
    # 1.00, 0.86, 0.59, 0.39 and 1.00: the knee is trial 0 (no validation size: no noise band, no tie).
    study, _ = frame
    data = _export(storage, tmp_path, "--pick", "knee")
    assert data["provenance"]["trial"] == 0
    assert data["provenance"]["pick"] == "knee"
    # The stored JSON leaves out fields added later at their default (dedupe's hash convention); the
    # export writes every field. Both must describe the same model.
    stored = TrialRecord.of(study.trials[0]).arch_json
    assert ArchConfig.model_validate(data["arch"]) == ArchConfig.model_validate(json.loads(stored))


def test_latency_budget_changes_best_accuracy_pick(storage, frame, tmp_path) -> None:
    study, trials = frame
    unbounded = _export(storage, tmp_path, "--pick", "best-accuracy", name="a.yaml")["provenance"]
    bounded = _export(storage, tmp_path, "--pick", "best-accuracy", "--max-latency-ms", "5",
                      name="b.yaml")["provenance"]
    assert unbounded["trial"] != bounded["trial"]
    assert bounded["measured"]["latency_p50_ms"] <= 5
    # The study's stored MAC budget still applies, overridden flags are recorded.
    assert bounded["budgets"] == {"max_params": None, "max_macs": 2.5e7, "max_latency_ms": 5.0}
    expected = results.pick_best_accuracy(trials, Budgets(max_macs=2.5e7, max_latency_ms=5.0))
    assert bounded["trial"] == int(expected["number"])
    over = trials[trials[record.MACS] > 2.5e7]
    assert unbounded["trial"] not in set(over["number"])  # the stored budget excludes the 0.98 trial


def test_cheapest_within_and_trial_n(storage, frame, tmp_path) -> None:
    study, trials = frame
    within = _export(storage, tmp_path, "--pick", "cheapest-within:2", name="c.yaml")["provenance"]
    expected = results.pick_cheapest_within(trials, 2.0, budgets=Budgets(max_macs=2.5e7))
    assert within["trial"] == int(expected["number"])
    tight = _export(storage, tmp_path, "--pick", "cheapest-within:0.5", name="d.yaml")["provenance"]
    assert tight["trial"] != within["trial"]
    assert _export(storage, tmp_path, "--pick", "trial:4", name="e.yaml")["provenance"]["trial"] == 4


def test_provenance_and_recipe_fields(storage, frame, tmp_path) -> None:
    study, trials = frame
    data = _export(storage, tmp_path, "--pick", "trial:2", "--format", "json", name="f.json")
    config = ExportConfig.model_validate(data)
    row = trials[trials["number"] == 2].iloc[0]
    prov = config.provenance
    assert (prov.study, prov.trial, prov.pick) == ("s", 2, "trial:2")
    assert prov.storage == storage
    assert prov.measured.params == int(row[record.PARAMS]) and prov.measured.macs == int(row[record.MACS])
    assert prov.measured.flops_fvcore == int(row[record.FLOPS_FVCORE])
    assert prov.measured.latency_p50_ms == row[record.LATENCY_P50]
    assert prov.measured.latency_p90_ms == pytest.approx(row[record.LATENCY_P90])
    assert prov.measured.accuracy == row[record.ACCURACY]
    assert prov.measured.accuracy_source == "proxy-train:3ep"
    assert prov.latency_protocol["device_name"] == "test-cpu" and prov.device == "test-cpu"
    assert prov.workbench_version == workbench.__version__ and prov.torch_version == torch.__version__
    assert prov.exported_at and prov.proxy_seed == 7 + 2
    # The recipe comes from the stored space, at full length.
    train = config.train
    assert (train.dataset, train.input_size, train.seed, train.val_fraction) == ("digits", 32, 7, 0.25)
    assert (train.epochs, train.batch_size, train.lr, train.augment) == (DEFAULT_EPOCHS, 64, 0.05, True)
    assert train.optimizer == "sgd-nesterov"
    # The stored counts are the rebuilt model's counts.
    counts = count_model(build_model(config.arch), config.arch)
    assert (counts.params, counts.macs) == (prov.measured.params, prov.measured.macs)


def test_study_without_space_gets_defaults(storage, tmp_path) -> None:
    data = _export(storage, tmp_path, "--study", "bare", "--pick", "best-accuracy", study="bare")
    assert data["train"]["dataset"] == "digits" and data["train"]["epochs"] == DEFAULT_EPOCHS
    assert data["train"]["input_size"] == data["arch"]["input_size"]


def test_load_config_api_and_plain_arch(storage, tmp_path) -> None:
    out = tmp_path / "best.yaml"
    export_study("s", pick="knee", storage=storage, out=out)
    cfg = workbench.load_config(out)
    model = workbench.build_model(cfg.arch)
    assert count_model(model, cfg.arch).params == cfg.provenance.measured.params
    plain = tmp_path / "arch.json"
    dump_model(cfg.arch, plain)
    wrapped = load_config(plain)
    assert wrapped.arch == cfg.arch and wrapped.provenance is None and wrapped.train.epochs == DEFAULT_EPOCHS


def test_dashboard_contract_same_text_as_cli(storage, frame, tmp_path) -> None:
    study, trials = frame
    config = build_export(study, results.pick_trial(trials, 3))
    cli = _export(storage, tmp_path, "--pick", "trial:3")
    from_dashboard = yaml.safe_load(dump_model(config, fmt="yaml"))
    for data in (cli, from_dashboard):
        data["provenance"].pop("exported_at")
    assert from_dashboard == cli
    assert json.loads(dump_model(config, fmt="json"))["provenance"]["trial"] == 3


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--study", "nope", "--pick", "knee"], "no study 'nope'"),
        (["--study", "s", "--pick", "trial:99"], "no trial 99"),
        (["--study", "s", "--pick", "trial:8"], "has no stored architecture"),
        (["--study", "s", "--pick", "best-accuracy", "--max-macs", "1000"], "closest: trial"),
        (["--study", "s", "--pick", "knee", "--max-params", "10"], "no feasible completed trial"),
        (["--study", "s", "--pick", "fastest"], "unknown pick 'fastest'"),
        (["--study", "s", "--pick", "cheapest-within:lots"], "unknown pick"),
        (["--study", "s", "--pick", "knee", "--by", "confirmed"],
         "no confirmed trials to pick by; run `workbench confirm --study s`"),
        (["--study", "honest", "--pick", "best-accuracy", "--by", "confirmed", "--max-macs", "1e7"],
         "no feasible completed confirmed trial within the budgets"),
    ],
)
def test_bad_export_exits_2_one_line_no_file(storage, tmp_path, capsys, extra, fragment) -> None:
    out = tmp_path / "never.yaml"
    assert main(["export", "--storage", storage, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_storage_file(tmp_path, capsys) -> None:
    out = tmp_path / "x.yaml"
    assert main(["export", "--study", "s", "--storage", str(tmp_path / "none.db"), "--out", str(out)]) == 2
    assert "no database file" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "edit,fragment",
    [
        (lambda d: d["arch"]["ghost"].update(dw_size=4), "arch.ghost.dw_size"),
        (lambda d: d["arch"].update(stages=[]), "needs at least one stage"),
        (lambda d: d["train"].update(optimizer="adam"), "train.optimizer"),
        (lambda d: d.update(colour="red"), "unknown key 'colour'"),
        (lambda d: d["train"].update(input_size=64), "differs from arch.input_size"),
    ],
)
def test_edited_config_is_one_clear_error(storage, tmp_path, edit, fragment) -> None:
    out = tmp_path / "cfg.yaml"
    export_study("s", pick="knee", storage=storage, out=out)
    data = yaml.safe_load(out.read_text())
    edit(data)
    out.write_text(yaml.safe_dump(data))
    with pytest.raises(WorkbenchError) as info:
        load_config(out)
    message = str(info.value)
    assert fragment in message and str(out) in message and "\n" not in message


def test_ties_export_the_cheaper_trial_and_confirmed_picks(storage, tmp_path) -> None:
    # The honest study: 0.950 (trial 0, 12.2M MACs) and 0.945 (trial 1, 6.7M) on 1000 images are a tie.
    proxy = _export(storage, tmp_path, "--pick", "best-accuracy", study="honest", name="p.yaml")
    assert proxy["provenance"]["trial"] == 1
    assert _export(storage, tmp_path, "--pick", "knee", study="honest", name="k.yaml")["provenance"]["trial"] == 1
    # Confirmed: trial 4 at 0.97 (sd 0.004, 3 seeds) beats trial 0's 0.93 (sd 0.01) beyond the noise.
    confirmed = _export(storage, tmp_path, "--pick", "best-accuracy", "--by", "confirmed", study="honest",
                        name="c.yaml")
    assert confirmed["provenance"]["trial"] == 4
    assert confirmed["provenance"]["pick"] == "best-accuracy (by confirmed accuracy at 15 epochs)"
    # A trial by number is that trial, whatever --by says.
    by_number = _export(storage, tmp_path, "--pick", "trial:0", "--by", "confirmed", study="honest", name="t.yaml")
    assert by_number["provenance"]["pick"] == "trial:0"


def test_a_never_scored_trial_exports_without_an_accuracy(storage, tmp_path) -> None:
    data = _export(storage, tmp_path, "--pick", "trial:2", study="honest")
    assert data["provenance"]["measured"]["accuracy"] is None   # the stored 0.0 was a placeholder
