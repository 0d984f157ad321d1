"""The dashboard (app.py) under Streamlit's AppTest, against small real studies.

The studies are written by `study_factory.make_study` (the real trial record of real
architectures) into a temporary SQLite file; the app is pointed at it with the
`WORKBENCH_STORAGE` / `WORKBENCH_STUDY` environment variables, exactly as a user would.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import optuna
import pandas as pd
import pytest
import streamlit
from helpers.dashboard import Traffic, fresh_caches, many_trials_study  # noqa: F401 - fresh_caches is autouse
from streamlit.testing.v1 import AppTest
from study_factory import DEFAULT_TRIALS, HONEST_FIDELITY, make_honest_study, make_study

from workbench import record, results
from workbench.storage import load_study

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 120
MAIN, THREE, EMPTY, FAILED = "test-study", "three-objectives", "empty-study", "only-failed"
HONEST = "honest-study"   # rejected, failed and reused trials, intervals, seed noise, confirmations
MANY = "sixty-trials"     # more trials than a page of the trial table


def write_studies(url: str) -> None:
    """Write the test studies to `url`: built in memory, then copied in one batch per study
    (one SQLite transaction per trial instead of one per attribute)."""
    specs = [
        dict(name=MAIN),
        dict(name=THREE, objectives=("accuracy", "macs", "latency_ms"), trials=DEFAULT_TRIALS[:5]),
        dict(name=EMPTY, trials=(), failed=0),
        dict(name=FAILED, trials=(), failed=3),
    ]
    for spec in specs:
        study = make_study(None, **spec)
        optuna.copy_study(from_study_name=spec["name"], from_storage=study._storage, to_storage=url)
    make_honest_study(url, name=HONEST, noise_sd=0.004, fidelity=HONEST_FIDELITY)
    many, _ = many_trials_study(60, name=MANY)
    optuna.copy_study(from_study_name=MANY, from_storage=many._storage, to_storage=url)


@pytest.fixture(scope="module")
def storage() -> str:
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None  # tmpfs: SQLite writes without fsync cost
    with tempfile.TemporaryDirectory(dir=base, prefix="wb-dashboard-") as folder:
        url = f"sqlite:///{folder}/studies.db"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        write_studies(url)
        yield url




def run_app(monkeypatch: pytest.MonkeyPatch, storage: str, study: str | None = MAIN) -> AppTest:
    monkeypatch.setenv("WORKBENCH_STORAGE", storage)
    if study is None:
        monkeypatch.delenv("WORKBENCH_STUDY", raising=False)
    else:
        monkeypatch.setenv("WORKBENCH_STUDY", study)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def tab(at: AppTest, label: str):
    return next(t for t in at.tabs if t.label == label)


def open_tab(at: AppTest, label: str) -> AppTest:
    """Click a tab: only the open tab is built, so the page reruns with it open."""
    at.session_state["tab"] = label
    return at.run()


def frame_of(storage: str, name: str = MAIN) -> tuple[optuna.Study, pd.DataFrame]:
    return results.open_results(name, storage)


def chart_spec(element) -> dict:
    import json

    return json.loads(element.proto.spec)


def pareto_numbers(at: AppTest) -> list[int]:
    text = next(m.value for m in at.markdown if m.value.startswith("**Pareto trials**"))
    return [int(n) for n in re.findall(r"\d+", text.split(":", 1)[1])]


def capture_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Record the data handed to every st.download_button, by key."""
    captured: dict[str, object] = {}
    original = streamlit.download_button

    def recording(label, data, *args, **kwargs):
        captured[kwargs.get("key") or label] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", recording)
    return captured


def test_storage_and_study_from_the_command_line_or_environment(monkeypatch):
    from workbench.dashboard import data

    monkeypatch.delenv("WORKBENCH_STORAGE", raising=False)
    monkeypatch.delenv("WORKBENCH_STUDY", raising=False)
    assert data.default_storage([]) == "sqlite:///workbench.db"  # the CLI's file
    assert data.default_study([]) is None
    monkeypatch.setenv("WORKBENCH_STORAGE", "runs/journal.log")
    assert data.default_storage([]) == "runs/journal.log"
    argv = ["--storage", "postgresql://u@db/x", "--study=digits"]  # `streamlit run app.py -- --storage ... --study=...`
    assert data.default_storage(argv) == "postgresql://u@db/x" and data.default_study(argv) == "digits"


def test_every_tab_renders(monkeypatch, storage):
    at = run_app(monkeypatch, storage)
    assert_clean(at)
    labels = ["Pareto front", "Trials", "Trial detail", "Insights", "Compare", "Export"]
    assert [t.label for t in at.tabs] == labels
    assert "first_chart_s" in at.session_state["_timings"]
    keys = set()
    for label in labels:
        open_tab(at, label)
        assert_clean(at)
        # only the open tab is built
        assert [t.label for t in at.tabs if len(t.children) > 0] == [label], f"tab {label} is empty or not alone"
        keys |= {chart.proto.id for chart in at.get("plotly_chart")}
    assert len(keys) >= 6  # pareto, validation curve, hypervolume, importance, macs-latency, compare
    open_tab(at, "Pareto front")
    # the sidebar names the study, its trial count, objectives and device
    picker = at.sidebar.selectbox(key="study")
    assert picker.value == MAIN
    assert picker.options[0] == f"{MAIN} — 9 trials (8 complete)"
    assert any("accuracy, macs" in c.value and "test-cpu" in c.value for c in at.sidebar.caption)
    # every cost axis and a colour-by knob render too
    for cost in record.COST_COLUMNS:
        at.selectbox(key="pareto_cost").set_value(cost)
        at.selectbox(key="pareto_color").set_value("knob_width")
        at.run()
        assert_clean(at)


# The fronts of the main study (study_factory.DEFAULT_TRIALS under its 2.5e7 MAC budget; trials 5 and 6
# are over it and never scored), cheapest first, by hand:
#   MACs:    2 (0.90, 8.0M) 7 (0.91, 9.0M) 1 (0.93, 10.1M) 0 (0.95, 12.2M) 3 (0.97, 23.7M); 4 (0.85, 13.2M) dominated
#   latency: 4 (0.85, 2.0) 2 (0.90, 2.2) 7 (0.91, 3.0) 1 (0.93, 3.1) 0 (0.95, 4.0) 3 (0.97, 6.5); none dominated
#   params:  2 (0.90, 781k) 7 (0.91, 1.22M) 1 (0.93, 1.25M) 0 (0.95, 1.32M) 3 (0.97, 2.44M); 4 (0.85, 835k) dominated
FRONTS_BY_HAND = {record.MACS: [2, 7, 1, 0, 3], record.LATENCY_P50: [4, 2, 7, 1, 0, 3], record.PARAMS: [2, 7, 1, 0, 3]}


def test_pareto_trials_are_the_fronts_by_hand(monkeypatch, storage):
    study = load_study(MAIN, storage)
    at = run_app(monkeypatch, storage)
    for cost, expected in FRONTS_BY_HAND.items():
        at.selectbox(key="pareto_cost").set_value(cost).run()
        assert_clean(at)
        assert pareto_numbers(at) == expected
        table = tab(at, "Pareto front").dataframe[0].value
        assert table["number"].tolist() == expected
    # with the study's own objectives and no budgets, that is Optuna's own front
    at.selectbox(key="pareto_cost").set_value(record.MACS)
    at.number_input(key=f"budget_max_macs::{MAIN}").set_value(None)
    at.run()
    assert sorted(pareto_numbers(at)) == sorted(t.number for t in study.best_trials)


def test_budgets_change_the_highlighted_best_trial(monkeypatch, storage):
    # By hand (study_factory.DEFAULT_TRIALS; no validation size, so no ties): within the stored 2.5e7 MACs
    # the best is trial 3 (0.97); within 1.1e7, trial 1 (0.93 at 10.1M, over 7's 0.91 and 2's 0.90);
    # within 1.1e7 MACs and 3.05 ms, trial 7 (0.91 at 3.0 ms: trial 1 takes 3.1).
    at = run_app(monkeypatch, storage)
    assert at.number_input(key=f"budget_max_macs::{MAIN}").value == 2.5e7
    assert at.success[0].value.startswith("Best under budgets: trial 3 — accuracy 0.9700")
    names = [t.get("name") for t in chart_spec(at.get("plotly_chart")[0])["data"]]
    assert "best: trial 3" in names

    at.number_input(key=f"budget_max_macs::{MAIN}").set_value(1.1e7).run()
    assert_clean(at)
    assert at.success[0].value.startswith("Best under budgets: trial 1 — accuracy 0.9300")
    names = [t.get("name") for t in chart_spec(at.get("plotly_chart")[0])["data"]]
    assert "best: trial 1" in names
    assert any(n.startswith("over budget") for n in names)

    at.number_input(key=f"budget_max_latency_ms::{MAIN}").set_value(3.05).run()
    assert at.success[0].value.startswith("Best under budgets: trial 7 — accuracy 0.9100")

    at.number_input(key=f"budget_max_params::{MAIN}").set_value(10.0).run()
    assert_clean(at)
    assert not at.success
    assert any("no feasible completed trial within the budgets" in w.value for w in at.warning)


def without_timestamp(text: str) -> str:
    return re.sub(r'"?exported_at"?: .*', "exported_at: <time>", text)


def test_export_downloads_the_cli_file(monkeypatch, storage, tmp_path):
    import workbench
    from workbench.export import export_study

    downloads = capture_downloads(monkeypatch)
    at = open_tab(run_app(monkeypatch, storage), "Export")
    assert_clean(at)
    _, frame = frame_of(storage)
    # The best under the stored budget is trial 3, the knee trial 0 (test_pareto_trials_are_the_fronts_by_hand's
    # front, scaled to [0, 1]: distances 1.00, 0.86, 0.59, 0.39, 1.00).
    cases = [("Best under the budgets", "best-accuracy", "yaml", 3), ("Knee of the front", "knee", "json", 0)]
    for choice, spec, fmt, number in cases:
        at.radio(key="export_pick").set_value(choice)
        at.radio(key="export_format").set_value(fmt)
        at.run()
        assert_clean(at)
        text = downloads["export_download"]
        _, cli_text = export_study(MAIN, pick=spec, storage=storage, fmt=fmt)  # what `workbench export` writes
        assert without_timestamp(text) == without_timestamp(cli_text)
        path = tmp_path / f"exported.{fmt}"
        path.write_text(text)
        config = workbench.load_config(path)
        assert config.arch == results.arch_of(frame.set_index("number", drop=False).loc[number])
        assert config.provenance.trial == number and config.provenance.pick == spec
        workbench.build_model(config.arch)  # and it builds
    # a trial by number, under a tighter budget set in the sidebar
    at.radio(key="export_pick").set_value("A trial by number")
    at.number_input(key=f"budget_max_macs::{MAIN}").set_value(1.1e7)
    at.run()
    at.selectbox(key="export_trial").set_value(5).run()
    assert_clean(at)
    assert "trial5" in tab(at, "Export").get("download_button")[0].proto.label
    _, cli_text = export_study(MAIN, pick="trial:5", storage=storage, fmt="json", max_macs=1.1e7)
    assert without_timestamp(downloads["export_download"]) == without_timestamp(cli_text)
    assert any("--pick trial:5 --max-macs 1.1e+07" in c.value for c in tab(at, "Export").caption)


def test_trials_tab_filters_and_csv(monkeypatch, storage):
    downloads = capture_downloads(monkeypatch)
    at = open_tab(run_app(monkeypatch, storage), "Trials")
    table = tab(at, "Trials").dataframe[0].value
    assert len(table) == 9 and {"state", "status", "reason", "knob_ratio", record.MACS} <= set(table.columns)
    at.multiselect(key="trials_state").set_value(["FAIL"]).run()
    table = tab(at, "Trials").dataframe[0].value
    assert table["state"].tolist() == ["FAIL"]
    assert "test failure" in table["reason"].iloc[0]
    at.multiselect(key="trials_state").set_value([])
    at.text_input(key="trials_text").set_value("over budget").run()
    table = tab(at, "Trials").dataframe[0].value
    assert len(table) >= 1 and set(table["status"]) == {"rejected"}
    csv = pd.read_csv(__import__("io").StringIO(downloads["trials_csv"]()))  # made when clicked
    assert csv["number"].tolist() == table["number"].tolist()


def test_trial_detail_shows_architecture_layers_latency_and_curve(monkeypatch, storage):
    at = open_tab(run_app(monkeypatch, storage), "Trial detail")
    at.selectbox(key="detail_trial").set_value(5).run()
    assert_clean(at)
    detail = tab(at, "Trial detail")
    frames = [d.value for d in detail.dataframe]
    arch_table, layers = frames[0], frames[1]
    assert arch_table["stage"].iloc[0] == "stem" and arch_table["stage"].iloc[-1] == "head"
    _, frame = frame_of(storage)
    stored_macs = frame.loc[frame["number"] == 5, record.MACS].iloc[0]
    assert layers.loc[layers["module"] == "(model)", "macs"].iloc[0] == stored_macs
    assert any("Protocol: cpu (test-cpu), deploy, fp32, batch 1" in c.value for c in detail.caption)
    curve = [chart_spec(c) for c in detail.get("plotly_chart")]
    assert curve and curve[0]["data"][0]["y"] == pytest.approx([0.88, 0.95, 0.98])
    # a failed trial says there is no architecture, without a traceback
    at.selectbox(key="detail_trial").set_value(8).run()
    assert_clean(at)
    assert any("has no stored architecture" in i.value for i in tab(at, "Trial detail").info)


def test_three_objective_study_and_compare(monkeypatch, storage):
    at = run_app(monkeypatch, storage, THREE)
    assert_clean(at)
    kinds = [chart_spec(c)["data"][0]["type"] for c in tab(at, "Pareto front").get("plotly_chart")]
    assert "scatter3d" in kinds
    open_tab(at, "Compare")
    at.multiselect(key="compare_studies").set_value([MAIN]).run()
    assert_clean(at)
    spec = chart_spec(tab(at, "Compare").get("plotly_chart")[0])
    assert {t["name"].split(" (")[0] for t in spec["data"]} == {THREE, MAIN}


def test_auto_refresh_polls_without_breaking(monkeypatch, storage):
    at = run_app(monkeypatch, storage)
    at.toggle(key="auto_refresh").set_value(True).run()
    assert_clean(at)
    assert any(c.value.startswith("Checked at") for c in at.sidebar.caption)


def test_auto_refresh_reads_only_the_new_trial(monkeypatch, storage, tmp_path):
    copy = tmp_path / "growing.db"
    copy.write_bytes(Path(storage[len("sqlite:///"):]).read_bytes())
    url = f"sqlite:///{copy}"
    at = run_app(monkeypatch, url)
    assert_clean(at)
    writer = optuna.load_study(study_name=MAIN, storage=url)  # a worker finishes one more trial
    trial = writer.ask()
    written = {record.STATUS: "complete", record.ACCURACY: 0.99, record.MACS: 1.0e6, record.ARCH_HASH: "new"}
    for key, value in written.items():
        trial.set_user_attr(key, value)
    writer.tell(trial, [0.99, 1.0e6])
    backend = optuna.storages.RDBStorage(url)
    new_id = backend.get_trial_id_from_study_id_trial_number(backend.get_study_id_from_name(MAIN), trial.number)
    backend.engine.dispose()
    with Traffic() as traffic:
        at.toggle(key="auto_refresh").set_value(True).run()  # polls the counts, sees the new trial, redraws
    assert_clean(at)
    assert traffic.trial_ids_read() == {new_id}
    assert any("Last read: 1 new or unfinished trial" in c.value for c in at.sidebar.caption)
    assert pareto_numbers(at)[0] == trial.number  # the new, cheapest and most accurate trial leads the front
    assert "10 trials" in at.caption[0].value


def test_trials_tab_pages_and_sorts_on_the_server(monkeypatch, storage):
    _, written = many_trials_study(60, name=MANY)  # the same seeded trials as stored
    at = open_tab(run_app(monkeypatch, storage, MANY), "Trials")
    at.selectbox(key="trials_page_size").set_value(25).run()
    assert tab(at, "Trials").dataframe[0].value["number"].tolist() == list(range(25))
    at.number_input(key="trials_page").set_value(3).run()
    assert_clean(at)
    assert tab(at, "Trials").dataframe[0].value["number"].tolist() == list(range(50, 60))
    assert any(c.value.startswith("Trials 51–60 of 60 matching") for c in tab(at, "Trials").caption)
    at.selectbox(key="trials_sort").set_value(record.ACCURACY)
    at.toggle(key="trials_descending").set_value(True)
    at.number_input(key="trials_page").set_value(1).run()
    scored = sorted((w for w in written if w.accuracy is not None), key=lambda w: -w.accuracy)
    assert tab(at, "Trials").dataframe[0].value["number"].tolist()[:5] == [w.number for w in scored[:5]]


@pytest.mark.parametrize("case", ["missing-file", "empty-study", "only-failed", "unreachable", "no-studies"])
def test_empty_and_broken_states_speak_plainly(monkeypatch, storage, tmp_path, case):
    if case == "missing-file":
        at = run_app(monkeypatch, f"sqlite:///{tmp_path}/nothing-here.db")
        assert "No study storage at" in at.info[0].value and "workbench search" in at.info[0].value
    elif case == "empty-study":
        at = run_app(monkeypatch, storage, EMPTY)
        assert f"Study '{EMPTY}' has no trials yet" in at.info[0].value
    elif case == "only-failed":
        at = run_app(monkeypatch, storage, FAILED)
        assert any("has 3 trials but none has completed" in w.value for w in at.warning)
        assert set(at.dataframe[0].value["reason"]) == {"config cannot be built: test failure"}
    elif case == "unreachable":
        at = run_app(monkeypatch, "postgresql://u:secret@127.0.0.1:1/x")
        text = at.warning[0].value
        assert text.startswith("Cannot open the storage postgresql://u:***@127.0.0.1:1/x") and "secret" not in text
    else:
        url = f"sqlite:///{tmp_path}/blank.db"
        optuna.storages.RDBStorage(url).engine.dispose()
        at = run_app(monkeypatch, url)
        assert "holds no studies yet" in at.info[0].value
    assert_clean(at)
    assert not at.tabs or case == "only-failed"


def test_a_journal_file_storage(monkeypatch, storage, tmp_path):
    from workbench.storage import open_storage

    journal = tmp_path / "studies.log"
    optuna.copy_study(from_study_name=MAIN, from_storage=storage, to_storage=open_storage(str(journal), create=True))
    at = run_app(monkeypatch, str(journal))
    assert_clean(at)
    assert pareto_numbers(at) == FRONTS_BY_HAND[record.MACS]
    assert "9 trials" in at.sidebar.selectbox(key="study").options[0]


def test_the_app_only_reads(monkeypatch, storage):
    """Opening the app leaves the database byte for byte as it was, and holds no lock:
    a writer can add a trial right after a render."""
    path = Path(storage[len("sqlite:///"):])
    before = path.read_bytes()
    at = open_tab(run_app(monkeypatch, storage), "Trial detail")
    at.selectbox(key="detail_trial").set_value(3).run()
    assert_clean(at)
    assert path.read_bytes() == before
    copy = Path(tempfile.mkdtemp()) / "copy.db"
    copy.write_bytes(before)
    url = f"sqlite:///{copy}"
    at = run_app(monkeypatch, url)
    engine = {"connect_args": {"timeout": 1}}
    writer = optuna.load_study(study_name=MAIN, storage=optuna.storages.RDBStorage(url, engine_kwargs=engine))
    writer.enqueue_trial({"ratio": 2})  # fails with "database is locked" if the app held a lock


def scored_points(spec: dict) -> dict[int, float]:
    """{trial number: accuracy} of the chart's points on the accuracy axis (not the strip)."""
    return {int(n): y for t in spec["data"] if t.get("customdata") is not None and t.get("yaxis", "y") == "y"
            for n, y in zip(_values(t["customdata"]), _values(t["y"]))}


def _values(data) -> list:
    """Plotly's JSON arrays, plain or base64-typed ({'bdata', 'dtype'})."""
    if isinstance(data, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def test_honest_study_shows_only_measured_accuracies_with_noise_and_ties(monkeypatch, storage):
    at = run_app(monkeypatch, storage, HONEST)
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "seed noise of the proxy accuracy: sd 0.0040 (0.40 points) over 4 trials × 3 seeds" in captions.lower()
    assert "Kendall tau 0.62 (95% bootstrap interval 0.31 to 0.85)" in captions
    assert "1 rejected (never scored)" in captions and "1 failed (never scored)" in captions
    # 0.945 (6.7M MACs) and 0.950 (12.2M) are within 1.96 * sqrt(2) * 0.004 = 0.011 of each other:
    # the cheaper is the best.
    assert at.success[0].value.startswith("Best under budgets: trial 1 — accuracy 0.9450 [0.9294, 0.9578]")
    assert "tied with 1 other within noise (trial 0); the cheapest of the tie is named" in at.success[0].value
    assert pareto_numbers(at) == [1, 0]
    spec = chart_spec(at.get("plotly_chart")[0])
    assert scored_points(spec) == {0: 0.95, 1: 0.945, 4: 0.9}        # trial 3 (a copy of 0) once, nothing at 0
    assert 0.85 < spec["layout"]["yaxis"]["range"][0] < 0.8797       # fits 0.8797 .. 0.9611, not 0 .. 1
    strip = [t["name"] for t in spec["data"] if t.get("yaxis") == "y2"]
    assert sorted(strip) == ["failed, never scored (1)", "rejected, never scored (1)"]
    assert any(s.get("name", "").startswith("indistinguishable from the best") for s in spec["layout"]["shapes"])
    # The confirmed accuracy, on request: trial 4's 0.97 leads, its interval from sd / sqrt(3 seeds).
    at.toggle(key="pareto_confirmed").set_value(True).run()
    assert_clean(at)
    assert scored_points(chart_spec(at.get("plotly_chart")[0])) == {0: 0.93, 4: 0.97}
    assert at.success[0].value.startswith("Best under budgets: trial 4 — accuracy confirmed 0.9700 ± 0.0040 (sd)")


def test_honest_study_trials_table_and_confirmed_export(monkeypatch, storage):
    from workbench.export import export_study

    downloads = capture_downloads(monkeypatch)
    at = open_tab(run_app(monkeypatch, storage, HONEST), "Trials")
    table = tab(at, "Trials").dataframe[0].value.set_index("number")
    assert (table.loc[0, record.ACCURACY_CI_LOW], table.loc[0, record.ACCURACY_CI_HIGH]) == (0.9358, 0.9611)
    assert pd.isna(table.loc[2, record.ACCURACY]) and table.loc[0, record.CONFIRMED_ACCURACY] == 0.93
    open_tab(at, "Export")
    at.radio(key="export_pick").set_value("Best under the budgets")
    at.radio(key="export_by").set_value("confirmed").run()
    assert_clean(at)
    _, cli_text = export_study(HONEST, pick="best-accuracy", storage=storage, by="confirmed")
    assert without_timestamp(downloads["export_download"]) == without_timestamp(cli_text)
    assert "trial4" in tab(at, "Export").get("download_button")[0].proto.label
    assert any("--pick best-accuracy --by confirmed" in c.value for c in tab(at, "Export").caption)
