"""The Engines view (dashboard tab, report section, `results.engines`, `figures.engines`) on a
hand-written study timed on torch-cpu, ort-cpu and ort-int8, checked against figures worked out
by hand below; and an older study without targets, which must look as it always did.

The study (accuracy; p50 in ms per target; int8 accuracy and its drop; trial 5's ORT export
failed, so both ORT targets are unavailable for it and carry a 0.0 placeholder that must never
be read; trial 6 was rejected: timed, never scored, no int8):

    trial  accuracy  torch-cpu  ort-cpu  ort-int8  int8 acc  drop [95%]
    0      0.90      1.0        0.8      0.4       0.88      0.020 [0.005, 0.035]
    1      0.92      2.0        0.6      0.75      0.915     0.005 [-0.004, 0.014]
    2      0.95      3.0        1.5      0.5       0.93      0.020 [0.008, 0.032]
    3      0.96      5.5        2.0      0.8       0.90      0.060 [0.045, 0.075]
    4      0.97      5.0        3.0      1.2       0.96      0.010 [0.002, 0.018]
    5      0.85      4.5        n/a      n/a       n/a
    6      rejected  0.7        0.9      –         –
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers.dashboard import fresh_caches  # noqa: F401 - autouse: every test starts with cleared caches
from streamlit.testing.v1 import AppTest
from study_factory import make_study

from workbench import figures, record, results
from workbench.dashboard.tabs import COST_AXES
from workbench.report import write_report
from workbench.results import engines

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 120
NAME, OLD = "engines-study", "old-study"
TARGETS = {
    "torch-cpu": {"engine": "torch", "precision": "fp32", "device": "cpu", "threads": 1},
    "ort-cpu": {"engine": "onnxruntime", "precision": "fp32", "device": "cpu", "threads": 1, "opset": 17},
    "ort-int8": {"engine": "onnxruntime", "precision": "int8", "device": "cpu", "threads": 1, "opset": 17,
                 "calibration": 64},
}
# number: (status, accuracy, {target: p50 or None for unavailable}, int8 (accuracy, drop, low, high) or None)
TRIALS = {
    0: ("complete", 0.90, {"torch-cpu": 1.0, "ort-cpu": 0.8, "ort-int8": 0.4}, (0.88, 0.020, 0.005, 0.035)),
    1: ("complete", 0.92, {"torch-cpu": 2.0, "ort-cpu": 0.6, "ort-int8": 0.75}, (0.915, 0.005, -0.004, 0.014)),
    2: ("complete", 0.95, {"torch-cpu": 3.0, "ort-cpu": 1.5, "ort-int8": 0.5}, (0.93, 0.020, 0.008, 0.032)),
    3: ("complete", 0.96, {"torch-cpu": 5.5, "ort-cpu": 2.0, "ort-int8": 0.8}, (0.90, 0.060, 0.045, 0.075)),
    4: ("complete", 0.97, {"torch-cpu": 5.0, "ort-cpu": 3.0, "ort-int8": 1.2}, (0.96, 0.010, 0.002, 0.018)),
    5: ("complete", 0.85, {"torch-cpu": 4.5, "ort-cpu": None, "ort-int8": None}, None),
    6: ("rejected", None, {"torch-cpu": 0.7, "ort-cpu": 0.9}, None),
}
ORT_REASON = "ORT output differs from PyTorch by 0.31 (tolerance 0.001)"

# By hand. torch-cpu against ort-cpu over the 6 architectures timed on both (0-4 and 6; 5 has no
# ort-cpu figure): of the 15 pairs, (0,1), (0,6), (1,6) and (3,4) are ordered differently, the
# other 11 alike, so tau = (11 - 4) / 15.
TAU_TORCH_ORT = 7 / 15
# Fronts of accuracy against p50 over the scored architectures timed on both (0-4):
#   torch-cpu: 0 (1.0), 1 (2.0), 2 (3.0), 4 (5.0); 3 (0.96 at 5.5) is dominated by 4 (0.97 at 5.0)
#   ort-cpu:   1 (0.6), 2 (1.5), 3 (2.0), 4 (3.0); 0 (0.90 at 0.8) is dominated by 1 (0.92 at 0.6)
TORCH_ONLY, ORT_ONLY, BOTH = [0], [3], [1, 2, 4]
# ort-cpu against ort-int8 over 0-4: (0,1) and (1,2) are ordered differently, 8 pairs alike: tau 0.6.
# int8-latency front on fp32 accuracy: 0 (0.4), 2 (0.5), 3 (0.8), 4 (1.2); 1 (0.92 at 0.75) loses to 2.
TAU_ORT_INT8, ORT_ONLY_VS_INT8, INT8_ONLY, BOTH_ORT_INT8 = 0.6, [1], [0], [2, 3, 4]
# int8 speed-up = ort-cpu p50 / ort-int8 p50: 0.8/0.4, 0.6/0.75 (int8 slower), 1.5/0.5, 2.0/0.8, 3.0/1.2.
SPEEDUPS = {0: 2.0, 1: 0.8, 2: 3.0, 3: 2.5, 4: 2.5}
# int8 accuracy against int8 latency: 0 (0.88 at 0.4), 2 (0.93 at 0.5), 4 (0.96 at 1.2); 1 (0.915 at
# 0.75) and 3 (0.90 at 0.8) are dominated by 2.
INT8_FRONT = [0, 2, 4]
# The ort-cpu front in the Pareto tab (all scored trials with an ort-cpu figure): 1, 2, 3, 4 by cost;
# within a 1.6 ms ort-cpu budget: 1 (0.6) and 2 (1.5).
ORT_FRONT, ORT_FRONT_UNDER_1_6 = [1, 2, 3, 4], [1, 2]


def _entry(p50: float | None, reason: str) -> dict:
    if p50 is None:  # unavailable: a 0.0 placeholder that no reader may take for a figure
        return {"p50_ms": 0.0, "p90_ms": 0.0, "cv": 0.0, "noisy": False, "available": False, "reason": reason}
    return {"p50_ms": p50, "p90_ms": p50 * 1.1, "cv": 0.02, "noisy": False, "available": True, "reason": None}


def _int8(figures: tuple[float, float, float, float] | None, accuracy: float | None) -> dict | None:
    if accuracy is None:
        return None
    if figures is None:
        return {"available": False, "reason": "no ONNX graph to quantize", "accuracy": 0.0, "drop": 0.0}
    int8, drop, low, high = figures
    return {"available": True, "reason": None, "accuracy": int8, "ci_low": int8 - 0.015, "ci_high": int8 + 0.015,
            "fp32_accuracy": accuracy, "drop": drop, "drop_ci_low": low, "drop_ci_high": high, "val_size": 1000,
            "target": "ort-int8", "calibration_images": 64}


def engines_study() -> optuna.Study:
    """The study of the module docstring, in memory."""
    study = optuna.create_study(study_name=NAME, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "macs"])
    for key, value in {record.STUDY_OBJECTIVES: ["accuracy", "macs"], record.STUDY_DATASET: "digits",
                       record.STUDY_DEVICE: "test-cpu", record.STUDY_LATENCY_TARGETS: TARGETS,
                       record.STUDY_BUDGETS: {"max_params": None, "max_macs": None, "max_latency_ms": None}}.items():
        study.set_user_attr(key, value)
    for number, (status, accuracy, p50s, int8) in TRIALS.items():
        macs = 1e6 * (number + 1)
        attrs = {record.STATUS: status, record.ACCURACY: accuracy, record.MACS: macs, record.PARAMS: 1e4 * (number + 1),
                 record.ARCH_HASH: f"arch-{number}", record.VAL_SIZE: 1000, record.LATENCY_P50: p50s["torch-cpu"],
                 record.LATENCY_TARGETS: {t: _entry(v, ORT_REASON) for t, v in p50s.items()},
                 record.REASON: "macs over budget" if status == "rejected" else None}
        if _int8(int8, accuracy) is not None:
            attrs[record.INT8] = _int8(int8, accuracy)
        study.add_trial(optuna.trial.create_trial(
            values=[accuracy if accuracy is not None else 0.0, macs], user_attrs=attrs,
            constraints={record.CONSTRAINT_MACS: 1.0 if status == "rejected" else -1.0}))
    return study


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return results.trials_frame(engines_study())


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('engines') / 'studies.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.copy_study(from_study_name=NAME, from_storage=engines_study()._storage, to_storage=url)
    old = make_study(None, name=OLD)
    optuna.copy_study(from_study_name=OLD, from_storage=old._storage, to_storage=url)
    return url


# --- results.engines, by hand ------------------------------------------------------------

def test_kendall_tau_between_two_targets_by_hand(frame) -> None:
    agreement = engines.latency_agreement(frame, "torch-cpu", "ort-cpu")
    assert agreement.n == 6   # the rejected trial's latency counts; trial 5 (no ort-cpu figure) does not
    assert agreement.tau == pytest.approx(TAU_TORCH_ORT)
    assert -1 <= agreement.low <= agreement.tau <= agreement.high <= 1
    assert engines.latency_agreement(frame, "ort-cpu", "ort-int8").tau == pytest.approx(TAU_ORT_INT8)


def test_front_membership_changes_by_hand(frame) -> None:
    changes = engines.front_changes(frame, "torch-cpu", "ort-cpu")
    assert (changes.only_first, changes.only_second, changes.both) == (TORCH_ONLY, ORT_ONLY, BOTH)
    assert changes.compared == [0, 1, 2, 3, 4] and changes.changed == [0, 3]
    int8 = engines.front_changes(frame, "ort-cpu", "ort-int8")
    assert (int8.only_first, int8.only_second, int8.both) == (ORT_ONLY_VS_INT8, INT8_ONLY, BOTH_ORT_INT8)


def test_int8_speedup_and_drop_per_architecture_by_hand(frame) -> None:
    assert engines.int8_pair(TARGETS) == ("ort-cpu", "ort-int8")
    table = engines.int8_table(frame, "ort-cpu", "ort-int8")
    assert table["number"].tolist() == [0, 1, 2, 3, 4]   # trial 5 has no int8 figure, trial 6 was never trained
    assert dict(zip(table["number"], table[engines.SPEEDUP])) == pytest.approx(SPEEDUPS)
    drops = [value for n in range(5) for value in TRIALS[n][3][1:]]   # (drop, low, high) as written
    assert table[["int8_drop", "int8_drop_ci_low", "int8_drop_ci_high"]].to_numpy().ravel().tolist() == \
        pytest.approx(drops)
    text = engines.speedup_text(table)
    assert "median int8 speed-up 2.50× over 5 architectures" in text and "slower on 1 (trial 1)" in text
    assert engines.int8_front(frame, "ort-int8")["number"].tolist() == INT8_FRONT


# --- an unavailable target is never a 0 ----------------------------------------------------

def _drawn(fig) -> tuple[set[int], list[float]]:
    """Every trial number a figure's points carry, and every number on its x and y axes."""
    numbers, values = set(), []
    for trace in fig.data:
        numbers |= {int(n) for n in (trace.customdata if trace.customdata is not None else [])}
        for axis in (trace.x, trace.y):
            values += [float(v) for v in (axis if axis is not None else []) if isinstance(v, (int, float))]
    return numbers, values


def test_an_unavailable_target_is_never_drawn_or_counted_as_zero(frame) -> None:
    row = frame[frame["number"] == 5].iloc[0]
    assert math.isnan(row["latency_p50_ms:ort-cpu"]) and math.isnan(row["int8_accuracy"])
    assert not row["latency_available:ort-cpu"]   # False, not NaN: it was tried and could not run
    missing = engines.unavailable(frame, ["torch-cpu", "ort-cpu", "ort-int8"])
    assert missing.to_dict("records") == [{"number": 5, "target": "ort-cpu", "reason": ORT_REASON},
                                          {"number": 5, "target": "ort-int8", "reason": ORT_REASON}]
    changes = engines.front_changes(frame, "torch-cpu", "ort-cpu")
    drawn = [figures.latency_pair_figure(frame, changes, engines.latency_agreement(frame, "torch-cpu", "ort-cpu")),
             figures.int8_front_figure(frame, "ort-int8"),
             figures.pareto_figure(frame, [record.OBJECTIVES["accuracy"], record.OBJECTIVES["macs"]],
                                   "latency_p50_ms:ort-cpu")]
    for fig in drawn:
        numbers, values = _drawn(fig)
        assert 5 not in numbers and 0.0 not in values
    bars = figures.int8_figure(engines.int8_table(frame, "ort-cpu", "ort-int8"), "ort-cpu", "ort-int8")
    assert all("trial 5" not in (trace.x or ()) for trace in bars.data)
    speed = next(t for t in bars.data if t.name == "int8 speed-up")
    assert list(speed.y) == pytest.approx([SPEEDUPS[n] for n in range(5)])   # 0.8 kept, below the 1x line
    info = figures.front_info(frame, [record.OBJECTIVES["accuracy"], record.OBJECTIVES["macs"]],
                              "latency_p50_ms:ort-cpu")
    assert info.front["number"].tolist() == ORT_FRONT


def test_target_axes_map_to_their_objective_and_budget() -> None:
    assert figures.cost_objective("latency_p50_ms:ort-int8") == record.objective("latency_ms:ort-int8")
    assert figures.axis_budget("latency_p50_ms:ort-int8") == "max_latency_ms:ort-int8"
    assert figures.axis_budget("latency_p50_ms") == "max_latency_ms" and figures.axis_budget("macs") == "max_macs"
    per_target = record.Budgets(max_latency_ms={"ort-cpu": 1.6})
    assert figures.axis_limit(per_target, "latency_p50_ms:ort-cpu") == 1.6
    assert figures.axis_limit(per_target, "latency_p50_ms:torch-cpu") is None


# --- the report --------------------------------------------------------------------------

def test_report_carries_the_engines_section(storage, tmp_path) -> None:
    summary = write_report(NAME, storage, tmp_path / "new").summary_md.read_text()
    section = summary[summary.index("## Engines"):]
    assert f"| torch-cpu | ort-cpu | {TAU_TORCH_ORT:.2f} [" in section
    assert "| 6 | 5 | 0 | 3 | 1, 2, 4 |" in section   # timed on both, compared, torch only, ort only, both
    assert "| 1 | 0.6 ms | 0.75 ms | 0.80× |" in section and "| 2 | 1.5 ms | 0.5 ms | 3.00× |" in section
    assert f"- trial 5 on ort-cpu: {ORT_REASON}" in section
    int8_rows = [line for line in section[section.index("### int8"):].splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in int8_rows[2:]] == ["| 0", "| 1", "| 2", "| 3", "| 4"]   # no trial 5
    assert "int8 front (int8 accuracy vs p50 on ort-int8, within the budgets): trials 0, 2, 4" in section
    page = (tmp_path / "new" / "index.html").read_text()
    assert "<h2>Engines</h2>" in page and "int8 speed-up and accuracy drop" in page
    assert "Accuracy vs latency p50 (ms) on ort-cpu" in page
    old = write_report(OLD, storage, tmp_path / "old")
    assert "Engines" not in old.summary_md.read_text() and "<h2>Engines</h2>" not in old.html.read_text()


# --- the dashboard -----------------------------------------------------------------------



def run(monkeypatch: pytest.MonkeyPatch, storage: str, study: str) -> AppTest:
    monkeypatch.setenv("WORKBENCH_STORAGE", storage)
    monkeypatch.setenv("WORKBENCH_STUDY", study)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def open_tab(at: AppTest, label: str) -> AppTest:
    """Click a tab: only the open tab is built, so the page reruns with it open."""
    at.session_state["tab"] = label
    return at.run()


def pareto_numbers(at: AppTest) -> list[int]:
    text = next(m.value for m in at.markdown if m.value.startswith("**Pareto trials**"))
    return [int(n) for n in re.findall(r"\d+", text.split(":", 1)[1])]


def test_engines_tab_renders_tau_front_changes_and_int8(monkeypatch, storage) -> None:
    at = run(monkeypatch, storage, NAME)
    assert_clean(at)
    assert [t.label for t in at.tabs] == ["Pareto front", "Trials", "Trial detail", "Insights", "Engines", "Compare",
                                          "Export"]
    open_tab(at, "Engines")
    assert_clean(at)
    assert (at.selectbox(key="engines_first").value, at.selectbox(key="engines_second").value) == \
        ("torch-cpu", "ort-cpu")
    texts = [m.value for m in at.markdown]
    assert any(f"Kendall tau {TAU_TORCH_ORT:.2f}" in t and "over 6 architectures" in t for t in texts)
    assert any("on torch-cpu only: trial 0; on ort-cpu only: trial 3; on both: trials 1, 2, 4" in t for t in texts)
    assert any("int8 is slower on 1 (trial 1)" in t for t in texts)
    assert any(t.startswith("**int8 front**") and t.endswith(": 0, 2, 4") for t in texts)
    assert any("trial 5 on ort-cpu" in w.value for w in at.warning)
    table = next(d.value for d in at.dataframe if engines.SPEEDUP in d.value)
    assert dict(zip(table["number"], table[engines.SPEEDUP])) == pytest.approx(SPEEDUPS)
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        for trace in spec["data"]:
            assert 5 not in (trace.get("customdata") or []) and "trial 5" not in (trace.get("x") or [])
    at.selectbox(key="engines_first").set_value("ort-cpu")
    at.selectbox(key="engines_second").set_value("ort-int8")
    at.run()
    assert_clean(at)
    texts = [m.value for m in at.markdown]
    assert any(f"Kendall tau {TAU_ORT_INT8:.2f}" in t for t in texts)
    assert any("on ort-cpu only: trial 1; on ort-int8 only: trial 0; on both: trials 2, 3, 4" in t for t in texts)


def test_cost_axis_and_budgets_offer_every_target(monkeypatch, storage) -> None:
    at = run(monkeypatch, storage, NAME)
    options = at.selectbox(key="pareto_cost").options
    for target in TARGETS:
        assert f"latency p50 (ms) on {target}" in options
    keys = {n.key for n in at.sidebar.number_input}
    assert {f"budget_max_latency_ms:{t}::{NAME}" for t in TARGETS} <= keys
    at.selectbox(key="pareto_cost").set_value("latency_p50_ms:ort-cpu").run()
    assert_clean(at)
    assert pareto_numbers(at) == ORT_FRONT
    assert any("1 of them not timed on ort-cpu" in c.value for c in at.caption)
    at.number_input(key=f"budget_max_latency_ms:ort-cpu::{NAME}").set_value(1.6).run()
    assert_clean(at)
    assert pareto_numbers(at) == ORT_FRONT_UNDER_1_6
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(s.get("type") == "line" and s.get("x0") == 1.6 for s in spec["layout"].get("shapes", []))


def test_an_old_study_has_no_engines_tab_and_the_same_axes(monkeypatch, storage) -> None:
    at = run(monkeypatch, storage, NAME)
    open_tab(at, "Engines")
    at.sidebar.selectbox(key="study").set_value(OLD).run()   # the Engines tab was open: the old study has none
    assert_clean(at)
    assert [t.label for t in at.tabs] == ["Pareto front", "Trials", "Trial detail", "Insights", "Compare", "Export"]
    assert at.selectbox(key="pareto_cost").options == [results.label(c) for c in COST_AXES]
    assert [n.key for n in at.sidebar.number_input][:1] == [f"budget_max_latency_ms::{OLD}"]
