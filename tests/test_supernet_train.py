"""Supernet training, its file and the `supernet` accuracy source end to end: resume after an
interrupt gives the uninterrupted run's tensors, a search scores trials from the file and says so,
export writes the inherited weights, and bad input is refused in one line with exit 2."""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from workbench import record
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.search import load_space, run_search
from workbench.search.supernet_run import load_space_to_train, train_space_supernet

TINY_PS = {
    "name": "tiny_ps",
    "base": "ghostnet_cifar_050",
    "dataset": "digits",
    "input_size": 8,
    "knobs": {
        "width": {"choices": [0.2, 0.3]},
        "ratio": {"choices": [2, 3], "scope": "per_stage", "stages": [0, 1, 2]},
        "dw_size": {"choices": [1, 3], "scope": "per_stage", "stages": [0, 1]},
        "se": {"choices": [True, False], "scope": "per_stage", "stages": [3]},
        "depth": {"low": 1, "high": 2, "scope": "per_stage", "stages": [6]},
    },
    "objectives": ["accuracy", "macs"],
    "recipe": {"batch_size": 128, "bn_recalibration_batches": 2},
    "latency": None,
    "seed": 0,
}


def write(folder: Path, data: dict, name: str = "tiny_ps.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-epoch supernet of the tiny space, interrupted after epoch 1 and resumed, beside an
    uninterrupted run."""
    folder = tmp_path_factory.mktemp("supernet")
    space = load_space_to_train(str(write(folder, TINY_PS)))
    whole = folder / "whole.pt"
    train_space_supernet(space, whole, epochs=2, progress=False)

    def stop(entry):
        raise KeyboardInterrupt

    resumed = folder / "resumed.pt"
    with pytest.raises(KeyboardInterrupt):
        train_space_supernet(space, resumed, epochs=2, progress=False, on_epoch=stop)
    half = torch.load(resumed, weights_only=True)
    train_space_supernet(space, resumed, epochs=2, progress=False)
    return folder, whole, resumed, half


def test_resume_continues_the_same_run(trained) -> None:
    _, whole, resumed, half = trained
    assert half["epoch"] == 1 and not half["complete"]
    a, b = torch.load(whole, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["complete"] and b["complete"] and a["epoch"] == b["epoch"] == 2
    for key, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][key]), key
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert a["history"][-1]["largest_accuracy"] > 0.3  # learned something in two short epochs


@pytest.fixture(scope="module")
def searched(trained):
    """A 3-trial search of the tiny space scored from the supernet; (storage URL, its summary)."""
    folder, whole, _, _ = trained
    data = copy.deepcopy(TINY_PS)
    data["accuracy"] = {"source": "supernet", "path": whole.name}
    space = load_space(str(write(folder, data, "search.yaml")))
    storage = f"sqlite:///{folder / 'study.db'}"
    return storage, run_search(space, storage=storage, trials=3, progress=False)


def test_search_scores_from_the_supernet_and_says_so(searched) -> None:
    storage, summary = searched
    assert summary.accuracy_sources == ["supernet-inherited:whole.pt (not trained)"]
    trials = optuna.load_study(study_name="tiny_ps", storage=storage).get_trials()
    scored = [t for t in trials if t.user_attrs[record.STATUS] == "complete"]
    assert scored
    for trial in scored:
        attrs = trial.user_attrs
        assert attrs[record.ACCURACY_SOURCE] == "supernet-inherited:whole.pt (not trained)"
        assert attrs[record.ACCURACY_CI_LOW] < attrs[record.ACCURACY] < attrs[record.ACCURACY_CI_HIGH]
        assert attrs[record.VAL_SIZE] > 100 and attrs[record.MACS] > 0


def test_space_of_another_supernet_is_refused(trained, capsys) -> None:
    folder, whole, _, _ = trained
    data = copy.deepcopy(TINY_PS)
    data["knobs"]["width"] = {"choices": [0.2, 0.4]}
    data["accuracy"] = {"source": "supernet", "path": str(whole)}
    path = write(folder, data, "other.yaml")
    storage = folder / "other.db"
    code = main(["search", "--space", str(path), "--trials", "1", "--storage", f"sqlite:///{storage}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "a supernet of another space" in err
    assert not storage.exists()


@pytest.mark.parametrize("content, expected", [
    (b"PK\x03\x04 cut short", "not a readable supernet file"),
    (None, "not a supernet file"),
])
def test_truncated_and_foreign_files_are_refused(trained, capsys, content, expected) -> None:
    folder, whole, _, _ = trained
    bad = folder / f"bad{len(content or b'')}.pt"
    if content is None:
        torch.save({"state_dict": {"w": torch.ones(1)}, "config": {}}, bad)
    else:
        bad.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2] if content.startswith(b"PK") else content)
    data = copy.deepcopy(TINY_PS)
    data["accuracy"] = {"source": "supernet", "path": str(bad)}
    before = bad.read_bytes()
    code = main(["search", "--space", str(write(folder, data, "bad.yaml")), "--trials", "1",
                 "--storage", f"sqlite:///{folder / 'bad.db'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expected in err
    assert bad.read_bytes() == before and not (folder / "bad.db").exists()


def test_base_without_ghost_blocks_is_refused(tmp_path, capsys) -> None:
    data = {"name": "plain", "base": "vgg16_cifar", "dataset": "digits", "input_size": 8,
            "knobs": {"width": {"choices": [0.25, 0.5]}}, "latency": None,
            "accuracy": {"source": "supernet", "path": "x.pt"}}
    code = main(["supernet", "train", "--space", str(write(tmp_path, data, "plain.yaml")), "--epochs", "1",
                 "--out", str(tmp_path / "s.pt")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "without Ghost bottleneck blocks" in err
    assert not (tmp_path / "s.pt").exists()
    with pytest.raises(WorkbenchError, match="without Ghost bottleneck blocks"):
        load_space(str(tmp_path / "plain.yaml"))


def test_train_refuses_a_foreign_out_and_a_supernet_of_another_space(trained, tmp_path, capsys) -> None:
    folder, whole, _, _ = trained
    space_file = write(tmp_path, TINY_PS)
    mine = tmp_path / "notes.pt"
    mine.write_text("the user's own file")
    code = main(["supernet", "train", "--space", str(space_file), "--epochs", "1", "--out", str(mine)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "not written by the workbench" in err and mine.read_text() == "the user's own file"
    other = copy.deepcopy(TINY_PS)
    other["knobs"]["width"] = {"choices": [0.2, 0.4]}
    before = whole.read_bytes()
    code = main(["supernet", "train", "--space", str(write(tmp_path, other, "o.yaml")), "--epochs", "2",
                 "--out", str(whole)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "a supernet of another space" in err
    assert whole.read_bytes() == before


def test_export_writes_inherited_weights_for_train_init(trained, searched, capsys) -> None:
    """Exports the best trial of the supernet-scored search."""
    from workbench.config.export import ExportConfig
    from workbench.config.io import load_model
    from workbench.models import build_model
    from workbench.supernet.files import load_supernet
    from workbench.training.checkpoint import load_weights
    from workbench.training.inherit import inherit_weights, read_init

    folder, whole, _, _ = trained
    out = folder / "pick.yaml"
    code = main(["export", "--study", "tiny_ps", "--storage", searched[0],
                 "--pick", "best-accuracy", "--out", str(out)])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err
    assert "inherited (supernet) accuracy" in printed and "--init" in printed
    config = load_model(ExportConfig, out)
    state, stored = load_weights(folder / "pick.pt")
    net, _ = load_supernet(whole)
    x = torch.randn(3, config.arch.in_channels, 8, 8)
    model = build_model(config.arch)
    model.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), net(x, config.arch), atol=1e-5)
    fresh = build_model(config.arch)  # what `workbench train --init` does with the file
    assert inherit_weights(fresh, read_init(folder / "pick.pt", config.arch), "pick.pt").fraction == 1.0
    assert stored["arch"] == config.arch.model_dump(mode="json")


def test_report_says_the_accuracy_is_inherited(trained, searched) -> None:
    from workbench.report import write_report

    folder, _, _, _ = trained
    paths = write_report("tiny_ps", searched[0], folder / "report")
    summary = paths.summary_md.read_text()
    assert "supernet-inherited:whole.pt (not trained): inherited from a supernet, never trained" in summary
    assert "supernet-inherited" in paths.trials_csv.read_text()
