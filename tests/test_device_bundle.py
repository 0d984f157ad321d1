"""Device bundles (issue 20, items 1 and 2): `workbench device bundle`, the self-contained runner
and `workbench device import` with each of its refusals.

One small bundle of the tiny space (4 architectures, fp32 and int8, a quick protocol) is made
through the CLI once per module; the runner is run on it as a separate `python -I` process, the
way a device runs it. Every check compares against a value the test obtains itself: the files'
sha256, the manifest's bytes, fvcore's MACs, the zip's listing."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from helpers.search import TINY, write_space
from study_factory import make_study

from workbench.cli.main import main
from workbench.config.arch import ArchConfig
from workbench.models import build_model
from workbench.profiling.counting import count_model

ROOT = Path(__file__).resolve().parents[1]
ARCHS = 4
QUICK = {"warmup": 1, "repeats": 3, "max_seconds": 0.05}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The bundle's runner in its own isolated interpreter, from the bundle folder."""
    return subprocess.run([sys.executable, "-I", "run_bundle.py", *args], cwd=folder, capture_output=True,
                          text=True, timeout=240)


def _bundle(tmp: Path, out: str, archs: int, *extra: str) -> tuple[Path, Path]:
    space = write_space(tmp, {**copy.deepcopy(TINY), "latency": dict(QUICK)})
    devices = tmp / "devices"
    args = ["device", "bundle", "--space", str(space), "--archs", str(archs), "--out", str(tmp / out),
            "--devices", str(devices), *extra]
    assert main(args) == 0
    return tmp / out, devices


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(bundle folder, devices folder, first run, second run) of one int8 bundle timed in two runs."""
    tmp = tmp_path_factory.mktemp("bundle")
    folder, devices = _bundle(tmp, "tiny-bundle", ARCHS, "--int8")
    first = _run(folder, "--limit", "2")
    after_first = json.loads((folder / "results.json").read_text())
    second = _run(folder, "--modules")
    return folder, devices, first, after_first, second


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_bundle_holds_models_manifest_runner_and_readme(made):
    folder, devices, *_ = made
    manifest = _manifest(folder)
    models = manifest["models"]
    assert len(models) == 2 * ARCHS and {m["precision"] for m in models} == {"fp32", "int8"}
    assert len({m["arch_hash"] for m in models}) == ARCHS  # each architecture once, per precision
    assert manifest["space"] == "tiny" and uuid.UUID(manifest["bundle_id"])
    assert manifest["protocol"] == {**QUICK, "cv_threshold": 0.1, "threads": 1, "batch_size": 1,
                                    "graph_optimization": "all", "opset": 17}
    for entry in models:
        assert _sha(folder / entry["file"]) == entry["sha256"]
        arch = ArchConfig.model_validate(json.loads(entry["arch_json"]))
        assert hashlib.sha256(entry["arch_json"].encode()).hexdigest() == entry["arch_hash"]
        assert entry["macs"] == count_model(build_model(arch), arch).macs
        assert entry["input_shape"] == [1, 3, 16, 16] and set(entry["knobs"]) >= {"ratio", "dw_size", "width"}
    macs = [m["macs"] for m in models if m["precision"] == "fp32"]
    assert macs == sorted(macs) and macs[0] < macs[-1]  # spread over the cost range, cheapest first
    stored = devices / "bundles" / manifest["bundle_id"] / "manifest.json"
    assert stored.read_bytes() == (folder / "manifest.json").read_bytes()
    assert (folder / "run_bundle.py").read_bytes() == (ROOT / "workbench/devices/run_bundle.py").read_bytes()
    steps = [line for line in (folder / "README.md").read_text().splitlines() if line[:2] in {"1.", "2.", "3.",
                                                                                             "4.", "5."}]
    assert len(steps) == 5 and "Raspberry Pi" in steps[1] and "Termux" in steps[2]
    with zipfile.ZipFile(folder.with_name("tiny-bundle.zip")) as archive:
        names = set(archive.namelist())
    assert {f"tiny-bundle/{name}" for name in ("manifest.json", "run_bundle.py", "README.md")} <= names
    assert {f"tiny-bundle/{m['file']}" for m in models} <= names


def test_runner_imports_neither_torch_nor_workbench(made):
    *_, second = made
    assert second.returncode == 0, second.stdout + second.stderr
    modules = json.loads(second.stdout.strip().splitlines()[-1])
    assert "onnxruntime" in modules and "numpy" in modules
    assert not [m for m in modules if m.split(".")[0] in ("torch", "workbench", "optuna", "onnx")]
    source = (ROOT / "workbench/devices/run_bundle.py").read_text()
    assert "import torch" not in source and "from workbench" not in source


def test_runner_figures_carry_the_manifest_hashes(made):
    folder, *_ = made
    results = json.loads((folder / "results.json").read_text())
    manifest = _manifest(folder)
    assert results["bundle_id"] == manifest["bundle_id"]
    assert results["manifest_sha256"] == _sha(folder / "manifest.json")
    assert results["protocol"] == manifest["protocol"] and results["complete"] is True
    assert set(results["models"]) == {m["id"] for m in manifest["models"]}
    for entry in manifest["models"]:
        figures = results["models"][entry["id"]]
        assert figures["sha256"] == entry["sha256"]
        assert 0 < figures["p50_ms"] <= figures["p90_ms"] and figures["samples"] >= 1
        assert isinstance(figures["noisy"], bool) and figures["cv"] >= 0
    facts = results["device"]
    import onnxruntime

    assert facts["onnxruntime"] == onnxruntime.__version__ and facts["threads"] == 1
    assert "CPUExecutionProvider" in facts["providers"] and facts["platform"] and facts["machine"]


def test_runner_records_its_estimator_rounds_and_host(made):
    folder, *_ = made
    results = json.loads((folder / "results.json").read_text())
    assert results["version"] == 2 and results["estimator"] == "min-round-median"
    for figures in results["models"].values():
        medians = figures["round_medians_ms"]
        assert figures["estimator"] == "min-round-median" and len(medians) == figures["rounds_done"] >= 1
        assert figures["p50_ms"] == pytest.approx(min(medians), abs=1e-6)  # the quietest round's median
    assert len(results["runs"]) == 2  # --limit 2, then the rest
    assert all(len(run["load_average"]) == 3 and run["estimator"] == "min-round-median" for run in results["runs"])
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.split(":")[0].strip() in ("flags", "Features")), None)
    if flags is not None and results["device"]["machine"] == "x86_64":
        assert results["device"]["isa"] == {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni")}


def test_runner_resumes_without_timing_a_model_twice(made):
    folder, _, first, after_first, second = made
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(after_first["models"]) == 2 and after_first["complete"] is False
    assert "2 timed before, 6 to time now" in second.stdout
    final = json.loads((folder / "results.json").read_text())["models"]
    for model_id, figures in after_first["models"].items():
        assert final[model_id] == figures  # kept as the first run wrote it
    assert len(re.findall(r"^\[\d+/6\] ", second.stdout, flags=re.M)) == 6


@pytest.fixture
def devices(made, tmp_path):
    """A copy of the devices folder with the bundle imported as 'pi5', and the results' path."""
    folder, source, *_ = made
    copied = tmp_path / "devices"
    shutil.copytree(source, copied)
    results = tmp_path / "results.json"
    shutil.copyfile(folder / "results.json", results)
    assert main(["device", "import", str(results), "--name", "pi5", "--devices", str(copied)]) == 0
    return copied, results


def test_import_stores_the_device(made, devices, capsys):
    folder, *_ = made
    copied, _ = devices
    manifest = _manifest(folder)
    device = json.loads((copied / "pi5" / "device.json").read_text())
    assert device["name"] == "pi5" and device["engine"] == "onnxruntime"
    assert device["bundles"][0]["bundle_id"] == manifest["bundle_id"]
    assert device["protocol"] == manifest["protocol"] and device["device"]["threads"] == 1
    by_model = {m["model"]: m for m in device["measurements"]}
    assert set(by_model) == {m["id"] for m in manifest["models"]}
    for entry in manifest["models"]:
        row = by_model[entry["id"]]
        assert (row["arch_hash"], row["arch_json"], row["precision"]) == (entry["arch_hash"], entry["arch_json"],
                                                                          entry["precision"])
        assert row["p50_ms"] > 0 and row["bundle_id"] == manifest["bundle_id"]
    assert set(device["predictors_skipped"]) == {"fp32", "int8"}  # 4 architectures: too few to fit
    capsys.readouterr()
    assert main(["device", "list", "--devices", str(copied)]) == 0
    out = capsys.readouterr().out
    assert "pi5" in out and "fp32 4, int8 4" in out


def _tampered(results: dict) -> None:
    first = sorted(results["models"])[0]
    results["models"][first]["sha256"] = "0" * 64


def _foreign(results: dict) -> None:
    results["bundle_id"] = str(uuid.uuid4())


def _other_manifest(results: dict) -> None:
    results["manifest_sha256"] = "f" * 64


def _partial(results: dict) -> None:
    results["models"].pop(sorted(results["models"])[-1])


def _protocol(results: dict) -> None:
    results["protocol"]["repeats"] = 99


def _newer(results: dict) -> None:
    results["version"] = 3


def _absurd(results: dict) -> None:
    figures = results["models"][sorted(results["models"])[0]]
    figures["p50_ms"] = figures["p90_ms"] = 1e9  # eleven days a batch


def _inverted(results: dict) -> None:
    figures = results["models"][sorted(results["models"])[0]]
    figures["p90_ms"] = figures["p50_ms"] / 2


@pytest.mark.parametrize("change, flags, words", [
    (_tampered, ["--replace"], "differs from the bundled one"),
    (_foreign, ["--replace"], "is foreign"),
    (_other_manifest, ["--replace"], "manifest that differs"),
    (_partial, ["--replace"], "is partial: 7 of 8"),
    (_protocol, ["--replace"], "protocol differs from the bundle's (repeats: 99"),
    (_newer, ["--replace"], "results version 3 is newer than this workbench reads (2)"),
    (_absurd, ["--replace"], "p50_ms 1e+09 is past 60000 ms"),
    (_inverted, ["--replace"], "a 90th percentile is never below the median"),
    (None, [], "device 'pi5' exists"),
    (None, ["--replace", "--add"], "exclude each other"),
], ids=["tampered", "foreign", "manifest", "partial", "protocol", "newer", "absurd-p50", "p90-below-p50",
        "name-taken", "replace-and-add"])
def test_import_refusals(devices, tmp_path, capsys, change, flags, words):
    copied, results = devices
    device_file = copied / "pi5" / "device.json"
    before = device_file.read_bytes()
    data = json.loads(results.read_text())
    if change is not None:
        change(data)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    capsys.readouterr()
    code = main(["device", "import", str(changed), "--name", "pi5", "--devices", str(copied), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert device_file.read_bytes() == before


def test_partial_replace_and_add_are_accepted(devices, tmp_path):
    copied, results = devices
    data = json.loads(results.read_text())
    _partial(data)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data))
    flags = ["--name", "pi5", "--devices", str(copied)]
    assert main(["device", "import", str(partial), *flags, "--partial", "--replace"]) == 0
    stored = json.loads((copied / "pi5" / "device.json").read_text())
    assert len(stored["measurements"]) == 7
    assert main(["device", "import", str(results), *flags, "--add"]) == 0  # the rest of the bundle, added
    stored = json.loads((copied / "pi5" / "device.json").read_text())
    assert len(stored["measurements"]) == 8 and len(stored["bundles"]) == 1


def test_results_of_an_older_runner_are_imported(devices, tmp_path):
    copied, results = devices
    data = json.loads(results.read_text())
    data["version"] = 1  # what the runner wrote before rounds: no estimator, rounds, runs or ISA facts
    for key in ("estimator", "runs"):
        data.pop(key)
    data["device"].pop("isa")
    for figures in data["models"].values():
        for key in ("estimator", "round_medians_ms", "round_spread", "rounds_done", "precise"):
            figures.pop(key)
        figures["attempts"] = 1
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data))
    assert main(["device", "import", str(older), "--name", "old", "--devices", str(copied)]) == 0
    stored = json.loads((copied / "old" / "device.json").read_text())
    assert {m["estimator"] for m in stored["measurements"]} == {"steadiest-run-median"}
    assert stored["bundles"][0]["estimator"] == "steadiest-run-median" and stored["bundles"][0]["runs"] == []
    by_model = {m["model"]: m for m in stored["measurements"]}
    assert all(by_model[k]["p50_ms"] == v["p50_ms"] for k, v in data["models"].items())


def test_bundle_refuses_before_any_work(tmp_path, capsys):
    space = write_space(tmp_path, TINY)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    cases = [(["--out", str(tmp_path / "taken")], "exists"),
             (["--out", str(tmp_path / "new"), "--front"], "--front bundles a study's Pareto front")]
    for extra, words in cases:
        capsys.readouterr()
        assert main(["device", "bundle", "--space", str(space), "--devices", str(tmp_path / "d"), *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err, err
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me" and not (tmp_path / "d").exists()


def test_front_bundle_holds_only_the_studys_front(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = make_study(storage, name="front", trials=((2, 3, 0.35, 0.90, 1.0), (2, 3, 0.5, 0.95, 1.5),
                                                     (2, 3, 0.75, 0.80, 2.0)), failed=0)  # the widest is dominated
    front = {t.user_attrs["arch_hash"] for t in study.best_trials}
    folder, _ = _bundle(tmp_path, "front-bundle", 1, "--study", "front", "--storage", storage, "--front")
    models = _manifest(folder)["models"]
    assert {m["arch_hash"] for m in models} == front and len(models) == len(front) == 2
    assert {m["source"] for m in models} == {"front"} and sorted(m["knobs"]["width"] for m in models) == [0.35, 0.5]


def test_runner_is_package_data():
    tomllib = pytest.importorskip("tomllib")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "run_bundle.py" in data["workbench.devices"]


def test_predictor_fitted_on_import(tmp_path, capsys):
    pytest.importorskip("workbench.predictors.predictor")
    folder, devices = _bundle(tmp_path, "ten", 10)
    assert _run(folder).returncode == 0
    capsys.readouterr()
    assert main(["device", "import", str(folder / "results.json"), "--name", "host", "--devices", str(devices)]) == 0
    out = capsys.readouterr().out
    device = json.loads((devices / "host" / "device.json").read_text())
    entry = device["predictors"]["fp32"]
    assert entry["measurements"] == 10 and entry["summary"] in out
    assert entry["law"] in ("kernels", "macs") and entry["law_note"] in entry["summary"]
    from workbench.predictors.predictor import LatencyPredictor

    predictor = LatencyPredictor.from_dict(entry["predictor"])
    arch = ArchConfig.model_validate(json.loads(device["measurements"][0]["arch_json"]))
    ms, low, high = predictor.predict(arch)
    assert low <= ms <= high and ms > 0


def test_a_bundle_never_holds_the_front_of_a_study_of_another_space(tmp_path, capsys):
    """Issue 34, item 10: `device bundle --study S --space X` where S was searched with another space."""
    from workbench.search import load_space, run_search

    searched = write_space(tmp_path, {**copy.deepcopy(TINY), "latency": dict(QUICK)}, "searched.yaml")
    other = write_space(tmp_path, {**copy.deepcopy(TINY), "latency": dict(QUICK), "input_size": 12}, "other.yaml")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    run_search(load_space(str(searched)), storage=storage, trials=1, progress=False, device="cpu")
    before = _sha(tmp_path / "study.db")
    capsys.readouterr()
    code = main(["device", "bundle", "--space", str(other), "--study", "tiny", "--storage", storage, "--front",
                 "--out", str(tmp_path / "b"), "--devices", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "study 'tiny' was searched with another space than 'tiny'" in err and "input_size" in err
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.partial-*"))
    assert _sha(tmp_path / "study.db") == before


def test_a_full_disk_while_bundling_is_one_line_and_leaves_no_half_bundle(tmp_path):
    """Issue 34, item 11: the disk refuses a write (here `ulimit -f`) while the models are written,
    and again only when the zip is: one error line naming --out, exit 2, nothing of the bundle left."""
    import resource

    (tmp_path / "whole").mkdir()
    whole, _ = _bundle(tmp_path / "whole", "b", 2)
    largest = max(path.stat().st_size for path in whole.rglob("*") if path.is_file())
    assert whole.with_name("b.zip").stat().st_size > largest + 1000  # a limit between fails only at the zip
    space = write_space(tmp_path, {**copy.deepcopy(TINY), "latency": dict(QUICK)})
    for limit in (2_000, largest + 500):
        folder = tmp_path / f"cap{limit}"
        folder.mkdir()

        def cap(limit: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        done = subprocess.run([sys.executable, "-m", "workbench", "device", "bundle", "--space", str(space),
                               "--archs", "2", "--out", str(folder / "b"), "--devices", str(folder / "d")],
                              capture_output=True, text=True, timeout=300, preexec_fn=cap)
        errors = [line for line in done.stderr.splitlines() if line.startswith("workbench")]
        assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert f"--out {folder / 'b'}: the bundle could not be written (File too large" in errors[0], errors
        assert [p.name for p in folder.iterdir() if p.name != "d"] == []
        assert not (folder / "d").exists() or not list((folder / "d").rglob("*.json"))
