"""The dashboard as a person sees it, beside optuna-dashboard, at 1,000 and 10,000 trials.

For each study size a synthetic study with the real trial record (every trial its own
architecture, ~5% failed, ~3% `reused` copies, ~16% rejected over the MAC budget) is written to
a SQLite file. Both dashboards are started on that same file; each gets one visit to warm its
server (timed too: that first visit reads the whole study), then, in alternation, fresh headless
Chromium windows (a cold page: new profile, no HTTP cache) load the page. Measured in the page,
from navigation start (`performance.now()`), until the Pareto chart has drawn its points:
plotly has laid the figure out and its data (`gd.data`) holds the points. Then every tab of ours
is clicked and timed until its content has drawn. In-process figures (the study read in full
and incrementally, the trials frame, the figure builders) and the auto-refresh cost of one new
trial come with them.

Targets (issue 15): our first chart within 0.5x optuna-dashboard's at 1,000 and 10,000 trials;
every tab within 10 s at 10,000; auto-refresh after one new trial reads only that trial.

    .venv/bin/python benchmarks/bench_dashboard.py [--sizes 1000 10000] [--repeats 3] [--db-dir DIR]

optuna-dashboard is a benchmark-only dependency (`pip install -e '.[bench]'`); without it the
comparison is skipped with a message. Results: reports/benchmarks/dashboard.json and .md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import save_report  # noqa: E402

from workbench import __version__, figures, record, results  # noqa: E402
from workbench.config.io import to_plain  # noqa: E402
from workbench.dashboard import cache, data  # noqa: E402
from workbench.models import build_model, get_preset  # noqa: E402
from workbench.profiling.counting import count_model  # noqa: E402
from workbench.stats import wilson_interval  # noqa: E402
from workbench.storage import load_study  # noqa: E402

STUDY = "bench-dashboard"
MAX_MACS = 3.0e7
VAL_SIZE = 1000
OUT_DIR = ROOT / "reports" / "benchmarks"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "")
                     if p and Path(p).exists()), None)
TAB_LABELS = ("Trials", "Trial detail", "Insights", "Compare", "Export", "Pareto front")
WAIT_S = 180
TARGET_RATIO, TARGET_TAB_S = 0.5, 10.0


# --- the synthetic study -------------------------------------------------------------------

_DISTRIBUTIONS = {"ratio": IntDistribution(2, 5), "dw_size": CategoricalDistribution([1, 3, 5, 7]),
                  "width": FloatDistribution(0.35, 1.0)}

def _architectures(n: int = 6) -> list[tuple[dict[str, Any], dict[str, Any], int, int]]:
    """A few real CIFAR GhostNets: (knobs, plain arch, params, MACs), counted once each."""
    archs = []
    for ratio, dw_size, width in [(2, 3, 0.5), (3, 3, 0.5), (4, 5, 0.35), (2, 1, 0.75), (5, 7, 0.35), (2, 3, 1.0)][:n]:
        arch = get_preset("ghostnet_cifar_050", ratio=ratio, dw_size=dw_size, width=width)
        counts = count_model(build_model(arch), arch)
        archs.append(({"ratio": ratio, "dw_size": dw_size, "width": width}, to_plain(arch), counts.params, counts.macs))
    return archs


def _variant(plain: dict[str, Any], scale: float, taken: set[str]) -> tuple[str, str]:
    """The arch JSON of `plain` with its width multiplier scaled (nudged until its hash is new),
    and that hash: every trial of the synthetic study is its own architecture."""
    width = round(plain["width"] * scale, 6)
    while True:
        arch_json = json.dumps({**plain, "width": width}, sort_keys=True)
        digest = hashlib.sha256(arch_json.encode()).hexdigest()
        if digest not in taken:
            taken.add(digest)
            return arch_json, digest
        width = round(width + 1e-6, 6)


def make_large_study(storage: str, n_trials: int = 1000, seed: int = 0, name: str = STUDY) -> optuna.Study:
    """A study of `n_trials` trials with the real record, written in one batch: ~5% failed,
    ~3% `reused` copies of an earlier trial's architecture, the rest each a distinct
    architecture (a real GhostNet with a jittered width; its figures jittered to match)."""
    rng = random.Random(seed)
    archs = _architectures()
    study = optuna.create_study(study_name=name, storage=storage, directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # set_metric_names is "experimental"
        study.set_metric_names(["accuracy", "macs"])
    study.set_user_attr(record.STUDY_OBJECTIVES, ["accuracy", "macs"])
    study.set_user_attr(record.STUDY_DATASET, "digits")
    study.set_user_attr(record.STUDY_DEVICE, "bench-cpu")
    study.set_user_attr(record.STUDY_BUDGETS, {"max_params": None, "max_macs": MAX_MACS, "max_latency_ms": None})
    protocol = {"device": "cpu", "device_name": "bench-cpu", "mode": "deploy", "dtype": "fp32", "batch_size": 1}
    study.set_user_attr(record.STUDY_LATENCY_PROTOCOL, protocol)
    distributions = _DISTRIBUTIONS
    trials: list[optuna.trial.FrozenTrial] = []
    scored: list[int] = []
    taken: set[str] = set()
    for number in range(n_trials):
        knobs, plain, params, macs = archs[rng.randrange(len(archs))]
        draw = rng.random()
        if draw < 0.05:
            trials.append(optuna.trial.create_trial(
                state=TrialState.FAIL, params=knobs, distributions=distributions,
                user_attrs={record.STATUS: "failed", record.REASON: "out of memory (benchmark)", record.KNOBS: knobs}))
            continue
        if draw < 0.08 and scored:
            origin = trials[rng.choice(scored)]
            attrs = {**origin.user_attrs, record.STATUS: "reused", record.REUSED_FROM: origin.number,
                     record.REASON: f"same architecture as trial {origin.number}"}
            trials.append(optuna.trial.create_trial(
                state=TrialState.COMPLETE, values=origin.values, params=origin.params, distributions=distributions,
                user_attrs=attrs, constraints=dict(origin.constraints)))
            continue
        scale = rng.uniform(0.8, 1.25)
        macs_j = int(macs * scale)
        arch_json, digest = _variant(plain, scale ** 0.5, taken)
        accuracy = min(0.995, 0.80 + 0.06 * (macs_j / 1e7) ** 0.5 + rng.gauss(0, 0.01))
        latency = 0.5 + macs_j / 8e6 * rng.uniform(0.8, 1.3)
        violation = float(macs_j - MAX_MACS)
        attrs = {
            record.ARCH_JSON: arch_json, record.ARCH_HASH: digest,
            record.PARAMS: int(params * scale), record.MACS: macs_j, record.FLOPS_FVCORE: int(macs_j * 1.05),
            record.LATENCY_P50: latency, record.LATENCY_P90: latency * 1.1, record.LATENCY_CV: 0.02,
            record.LATENCY_NOISY: False, record.LATENCY_PROTOCOL: protocol, record.DEVICE: "bench-cpu",
            record.PEAK_MEMORY: int(params * scale) * 4, record.ACCURACY_SOURCE: "proxy-train:3ep",
            record.VAL_CURVE: [accuracy - 0.1, accuracy - 0.03, accuracy], record.LOSS_CURVE: [1.5, 0.6, 0.3],
            record.TRAIN_SECONDS: 3.0, record.PROFILE_SECONDS: 0.2, record.IMAGES_PER_SECOND: 1200.0,
            record.STATUS: "rejected" if violation > 0 else "complete", record.REUSED_FROM: None,
            record.ACCURACY: None if violation > 0 else accuracy, record.VAL_SIZE: VAL_SIZE,
            record.ACCURACY_CI_LOW: None if violation > 0 else wilson_interval(accuracy, VAL_SIZE)[0],
            record.ACCURACY_CI_HIGH: None if violation > 0 else wilson_interval(accuracy, VAL_SIZE)[1],
            record.ACCURACY_SAMPLES: None if violation > 0 else [accuracy],
            record.REASON: f"macs {macs_j} over budget {MAX_MACS:g}" if violation > 0 else None,
            record.WORKBENCH_VERSION: __version__, record.KNOBS: knobs,
        }
        if violation <= 0:
            scored.append(number)
        trials.append(optuna.trial.create_trial(
            state=TrialState.COMPLETE, values=[0.0 if violation > 0 else accuracy, macs_j], params=knobs,
            distributions=distributions, user_attrs=attrs, constraints={record.CONSTRAINT_MACS: violation}))
    study.add_trials(trials)
    return study


# --- servers and browsers ------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _server(command: list[str], url: str, health: str, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a dashboard server until the block ends; yield its URL once `health` answers."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + health, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer within {WAIT_S} s") from None
                time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def ours(storage: str, log: Path) -> Any:
    """`streamlit run app.py` on `storage` (headless, no file watcher)."""
    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    env = {"WORKBENCH_STORAGE": storage, "WORKBENCH_STUDY": STUDY, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    return _server(command, f"http://127.0.0.1:{port}", "/_stcore/health", log, env)


def theirs(storage: str, log: Path) -> Any:
    """optuna-dashboard on `storage`."""
    port = _free_port()
    command = [sys.executable, "-c", "from optuna_dashboard._cli import main; main()", storage, "--port", str(port),
               "--host", "127.0.0.1"]
    return _server(command, f"http://127.0.0.1:{port}", "/api/studies", log)


def bare_page(figure_json: Path, log: Path) -> Any:
    """A Streamlit page holding nothing but one figure (read from `figure_json`): the floor that
    Streamlit and plotly.js set for any page showing that chart."""
    page = figure_json.with_suffix(".py")
    page.write_text("import plotly.io as pio\nimport streamlit as st\n\n"
                    f"st.plotly_chart(pio.read_json({str(figure_json)!r}))\n")
    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    return _server(command, f"http://127.0.0.1:{port}", "/_stcore/health", log,
                   {"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"})


@contextmanager
def _browser() -> Iterator[Any]:
    """A fresh headless Chromium: new profile, empty HTTP cache."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="bench-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                     "--window-size=1600,1200"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(WAIT_S)
        driver.set_script_timeout(WAIT_S)
        try:
            yield driver
        finally:
            driver.quit()


# --- what "drawn" means, in the page ---------------------------------------------------------

# Points per plotly trace from the figure's own data (plain, typed, or plotly's base64 arrays).
_POINTS_JS = """
function nPoints(v) {
  if (!v) return 0;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return v.length;
  if (v.bdata) return atob(v.bdata).length / parseInt(v.dtype.slice(1));
  return 0;
}
function markers(gd) {
  return (gd.data || []).filter(t => (t.mode || 'markers').includes('markers')).reduce((n, t) => n + nPoints(t.x), 0);
}
function drawn(gd) {
  return !!(gd && gd._fullLayout && gd._fullData && gd._fullData.length === (gd.data || []).length);
}
function panel() {
  return Array.from(document.querySelectorAll('[data-testid="stTabPanel"]'))
    .find(p => !p.hidden && p.offsetParent !== null);
}
function running() { return !!document.querySelector('[data-testid="stStatusWidget"]'); }
"""
# Until the chart has its points: ours is the plot holding the "Pareto front (n)" trace; theirs is #graph-pareto-front.
_CHART_READY = {
    "ours": "const gd = Array.from(document.querySelectorAll('.js-plotly-plot')).find("
            "g => (g.data || []).some(t => (t.name || '').startsWith('Pareto front ('))); "
            "return drawn(gd) && markers(gd) > 0 ? markers(gd) : 0;",
    "optuna-dashboard": "const gd = document.getElementById('graph-pareto-front'); "
                        "return drawn(gd) && markers(gd) > 0 ? markers(gd) : 0;",
}
# Until the open tab's content has drawn: what each tab must show, and Streamlit done running.
_TAB_READY = {
    "Pareto front": "plots >= 1 && frames >= 1", "Trials": "frames >= 1", "Trial detail": "frames >= 2 && plots >= 1",
    "Insights": "plots >= 3", "Compare": "plots >= 1 && frames >= 1", "Export": "codes >= 1",
}


def _wait_js(condition: str, click_tab: str | None = None) -> str:
    """An async script that (optionally clicks a tab, then) polls every animation frame until
    `condition` (a function body returning a number) is truthy; it answers [ms, value], ms being
    `performance.now()` (since navigation start) or the time since the click."""
    click = (f"const tab = Array.from(document.querySelectorAll('[data-testid=\"stTab\"]'))"
             f".find(b => b.innerText.trim() === {json.dumps(click_tab)}); "
             "const t0 = performance.now(); tab.click();") \
        if click_tab else "const t0 = 0;"
    return _POINTS_JS + f"""
const done = arguments[arguments.length - 1];
{click}
function check() {{ try {{ return (function() {{ {condition} }})(); }} catch (e) {{ return 0; }} }}
(function poll() {{
  const v = check(); if (v) done([performance.now() - t0, v]); else requestAnimationFrame(poll);
}})();
"""


def _tab_condition(label: str) -> str:
    wanted = _TAB_READY[label]
    return (f"const active = document.querySelector('[data-testid=\"stTab\"][aria-selected=\"true\"]'); "
            f"if (!active || active.innerText.trim() !== {json.dumps(label)}) return 0; "
            "const p = panel(); if (!p || running()) return 0; "
            "const charts = Array.from(p.querySelectorAll('.js-plotly-plot')); "
            "const plots = charts.filter(drawn).length; if (plots < charts.length) return 0; "
            "const frames = p.querySelectorAll('[data-testid=\"stDataFrame\"] canvas').length; "
            "const codes = p.querySelectorAll('[data-testid=\"stCode\"]').length; "
            f"return ({wanted}) ? 1 : 0;")


def first_chart(url: str, tool: str, tabs: bool = False) -> dict[str, Any]:
    """Load `url` in a fresh browser: seconds from navigation start to the drawn Pareto chart,
    the points drawn, and (with `tabs`) seconds from each tab's click until it has drawn."""
    with _browser() as driver:
        driver.get(url)
        ms, points = driver.execute_async_script(_wait_js(_CHART_READY[tool]))
        out: dict[str, Any] = {"first_chart_s": round(ms / 1000, 3), "points": int(points)}
        if tabs:
            driver.execute_async_script(_wait_js(_tab_condition("Pareto front")))  # the first tab done
            out["tabs_s"] = {
                label: round(driver.execute_async_script(_wait_js(_tab_condition(label), label))[0] / 1000, 3)
                for label in TAB_LABELS}
        return out


def browser_figures(storage: str, repeats: int, log_dir: Path) -> dict[str, Any]:
    """Both dashboards on `storage`, measured in alternation: the warm-up visit, then `repeats`
    cold pages each (ours also clicking through every tab); and the floor, a bare Streamlit
    page holding only our Pareto chart."""
    try:
        import optuna_dashboard  # noqa: F401
        has_theirs = True
    except ImportError:
        print("optuna-dashboard is not installed (pip install -e '.[bench]'): measuring ours alone, no ratio.")
        has_theirs = False
    with ours(storage, log_dir / "streamlit.log") as our_url, \
            (theirs(storage, log_dir / "optuna-dashboard.log") if has_theirs else _nothing()) as their_url:
        # the study's own page, as a bookmark opens it
        study_page = f"{their_url}/dashboard/studies/{_study_id(storage)}"
        tools = {"ours": our_url, **({"optuna-dashboard": study_page} if has_theirs else {})}
        warm = {tool: first_chart(url, tool) for tool, url in tools.items()}
        runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
        for _ in range(repeats):
            for tool, url in tools.items():
                runs[tool].append(first_chart(url, tool, tabs=tool == "ours"))
    out: dict[str, Any] = {"server_warm_up_visit": warm, "runs": runs}
    for tool, measured in runs.items():
        out[f"{tool}_first_chart_s"] = statistics.median(r["first_chart_s"] for r in measured)
    if has_theirs:
        out["ratio"] = round(out["ours_first_chart_s"] / out["optuna-dashboard_first_chart_s"], 3)
    out["tabs_s"] = {label: max(r["tabs_s"][label] for r in runs["ours"]) for label in TAB_LABELS}
    out["bare_page_first_chart_s"] = _floor(storage, repeats, log_dir)
    return out


def _floor(storage: str, repeats: int, log_dir: Path) -> float:
    """Median seconds to the drawn chart on a bare page holding only our Pareto figure."""
    snapshot = cache.StudyCache(storage, STUDY).refresh()
    study = snapshot.study
    fig = figures.pareto_figure(study.frame, study.objectives, record.MACS, study.info.budgets)
    figure_json = log_dir / "pareto_figure.json"
    figure_json.write_text(fig.to_json())
    with bare_page(figure_json, log_dir / "bare-page.log") as url:
        first_chart(url, "ours")  # warm
        return statistics.median(first_chart(url, "ours")["first_chart_s"] for _ in range(repeats))


def _study_id(storage: str) -> int:
    backend = optuna.storages.RDBStorage(storage)
    try:
        return backend.get_study_id_from_name(STUDY)
    finally:
        backend.engine.dispose()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


# --- in-process figures ------------------------------------------------------------------------

def _time(function: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Median seconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def process_figures(storage: str, n_trials: int) -> dict[str, Any]:
    """The study read in full and incrementally, and the figure builders, in this process."""
    full_s, snapshot = _time(lambda: cache.StudyCache(storage, STUDY).refresh())
    frame, objectives, budgets = snapshot.study.frame, snapshot.study.objectives, snapshot.study.info.budgets
    study = load_study(STUDY, storage)
    out = {
        "full_read_and_frame_s": full_s,
        "trials_frame_from_memory_s": _time(lambda: results.trials_frame(study, snapshot.study.trials), 3)[0],
        "pareto_figure_s": _time(lambda: figures.pareto_figure(frame, objectives, record.MACS, budgets), 3)[0],
        "hypervolume_history_s": _time(lambda: results.hypervolume_history(frame, objectives))[0],
    }
    fig = figures.pareto_figure(frame, objectives, record.MACS, budgets)
    out["pareto_points_drawn"] = sum(len(t.x) for t in fig.data if "markers" in (t.mode or "") and t.x is not None)
    out["pareto_trace_types"] = sorted({t.type for t in fig.data})
    out["auto_refresh"] = _one_new_trial(storage, n_trials)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _one_new_trial(storage: str, n_trials: int) -> dict[str, Any]:
    """On a copy of the study: warm the cache, let a writer add one trial, refresh; what was read."""
    import sqlalchemy

    source = Path(storage[len("sqlite:///"):])
    with tempfile.TemporaryDirectory(dir=source.parent, prefix="bench-refresh-") as tmp:
        copy = Path(tmp) / source.name
        shutil.copyfile(source, copy)
        url = f"sqlite:///{copy}"
        study_cache = cache.StudyCache(url, STUDY)
        study_cache.refresh()
        # A worker finishes one more trial (a fresh architecture, the real record's figures).
        writer = optuna.load_study(study_name=STUDY, storage=url)
        writer.add_trial(_one_trial(n_trials))
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", listener)
        try:
            snapshot = study_cache.refresh()
        finally:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", listener)
        return {"trials_before": n_trials, "trials_read": list(snapshot.read.numbers), "full_read": snapshot.read.full,
                "refresh_s": round(snapshot.read.seconds, 4), "sql_statements": len(statements),
                "frame_rows_after": len(snapshot.study.frame)}


def _one_trial(number: int) -> optuna.trial.FrozenTrial:
    """One complete trial like the synthetic study's, of an architecture it does not hold."""
    knobs, plain, params, macs = _architectures(1)[0]
    arch_json, digest = _variant(plain, 1.0 + 1e-3 * (number % 997), set())
    attrs = {record.ARCH_JSON: arch_json, record.ARCH_HASH: digest, record.PARAMS: params, record.MACS: macs,
             record.LATENCY_P50: 2.0, record.ACCURACY: 0.93, record.VAL_SIZE: VAL_SIZE, record.STATUS: "complete",
             record.KNOBS: knobs, record.WORKBENCH_VERSION: __version__}
    return optuna.trial.create_trial(state=TrialState.COMPLETE, values=[0.93, macs], params=knobs,
                                     distributions=_DISTRIBUTIONS, user_attrs=attrs,
                                     constraints={record.CONSTRAINT_MACS: float(macs - MAX_MACS)})


# --- the run ---------------------------------------------------------------------------------

def _study_file(db_dir: Path, n_trials: int) -> tuple[str, float | None]:
    """A SQLite file with the `n_trials`-trial study (reused when `db_dir` already holds it)
    and the seconds it took to write (None when reused)."""
    db = db_dir / f"bench-{n_trials}.db"
    storage = f"sqlite:///{db}"
    if db.exists():
        try:
            catalog = data.study_catalog(storage)
            if catalog.set_index("study").loc[STUDY, "trials"] == n_trials:
                return storage, None
        except Exception:  # a broken or foreign file: write it again
            pass
        db.unlink()
    started = time.perf_counter()
    make_large_study(storage, n_trials)
    return storage, round(time.perf_counter() - started, 1)


def markdown(report: dict[str, Any]) -> str:
    """The report as a page: one table per question, the command, the machine."""
    lines = ["# Dashboard benchmark: what a person sees, beside optuna-dashboard", "",
             f"Command: `{report['command']}`. Headless Chromium {report['chromium']} through selenium; "
             "both servers on the same SQLite file, started once and warmed by one visit; "
             "each measured page is a fresh browser "
             f"profile (cold page), median of {report['repeats']}, ours and optuna-dashboard "
             f"{report.get('optuna_dashboard') or '(not installed)'} in alternation. Time from navigation start until "
             "the Pareto chart has drawn its points (plotly laid out, `gd.data` holding them).", "",
             "| trials | ours: first chart (s) | optuna-dashboard (s) | ratio | target | met | every tab ≤ 10 s | "
             "bare page, our chart alone (s) |",
             "| ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |"]
    for size in report["sizes"]:
        b = size["browser"]
        theirs_s = b.get("optuna-dashboard_first_chart_s")
        slowest = max(b["tabs_s"].values())
        lines.append(f"| {size['trials']:,} | {b['ours_first_chart_s']} | "
                     f"{theirs_s if theirs_s is not None else '–'} | "
                     f"{b.get('ratio', '–')} | ≤ {TARGET_RATIO} | {_yes(b.get('ratio'), TARGET_RATIO)} | "
                     f"{'—' if size['trials'] < 10000 else ('yes' if slowest <= TARGET_TAB_S else 'NO')} "
                     f"(slowest {slowest} s) | {b['bare_page_first_chart_s']} |")
    lines += ["", "The bare page is a Streamlit page holding nothing but our Pareto figure: the floor that Streamlit's "
              "frontend and plotly.js set on this machine for any page showing that chart, whatever the app does. "
              "As a ratio of optuna-dashboard's time: " + "; ".join(
                  f"{size['trials']:,} trials: bare page {_ratio(size, 'bare_page_first_chart_s')}, "
                  f"ours {_ratio(size, 'ours_first_chart_s')}" for size in report["sizes"]) + ".", "",
              "Every tab of ours, seconds from the click until it has drawn (slowest of the repeats; "
              "the first click on Insights computes the knob importances, later ones are cached):", "",
              "| trials | " + " | ".join(TAB_LABELS) + " |", "| ---: |" + " ---: |" * len(TAB_LABELS)]
    for size in report["sizes"]:
        tabs = " | ".join(str(size["browser"]["tabs_s"][t]) for t in TAB_LABELS)
        lines.append(f"| {size['trials']:,} | {tabs} |")
    lines += ["", "The server's warm-up visit (the first page after the server started: it reads the whole study), "
              "seconds to the drawn chart:", "", "| trials | ours | optuna-dashboard |", "| ---: | ---: | ---: |"]
    for size in report["sizes"]:
        warm = size["browser"]["server_warm_up_visit"]
        lines.append(f"| {size['trials']:,} | {warm['ours']['first_chart_s']} | "
                     f"{warm['optuna-dashboard']['first_chart_s'] if 'optuna-dashboard' in warm else '–'} |")
    lines += ["", "In the dashboard's process (seconds):", "",
              "| trials | full read + frame | frame from memory | Pareto figure | points drawn | hypervolume history "
              "| one new trial: trials read | refresh (s) | SQL statements |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for size in report["sizes"]:
        p, r = size["process"], size["process"]["auto_refresh"]
        lines.append(f"| {size['trials']:,} | {p['full_read_and_frame_s']} | {p['trials_frame_from_memory_s']} | "
                     f"{p['pareto_figure_s']} | {p['pareto_points_drawn']:,} ({', '.join(p['pareto_trace_types'])}) | "
                     f"{p['hypervolume_history_s']} | "
                     f"{r['trials_read']} of {r['trials_before'] + 1:,}{' (full read)' if r['full_read'] else ''} | "
                     f"{r['refresh_s']} | {r['sql_statements']} |")
    m = report["machine"]
    lines += ["", f"Machine: {m['platform']}, {m['cpus']} CPUs (shared with other jobs; 1-min load average "
              f"{m['load_average_1min_at_end']} at the end), Python {m['python']}, optuna {report['optuna']}.", ""]
    return "\n".join(lines)


def _ratio(size: dict[str, Any], key: str) -> str:
    theirs_s = size["browser"].get("optuna-dashboard_first_chart_s")
    return f"{size['browser'][key] / theirs_s:.2f}x" if theirs_s else "–"


def _yes(ratio: float | None, target: float) -> str:
    return "–" if ratio is None else ("yes" if ratio <= target else "NO")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--db-dir", type=Path, help="keep the studies here and reuse them on the next run "
                                                     "(writing 10,000 trials through Optuna takes minutes)")
    args = parser.parse_args(argv)
    if CHROMIUM is None or CHROMEDRIVER is None:
        raise SystemExit("the browser benchmark needs chromium and chromedriver "
                         "(apt-get install chromium chromium-driver)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None  # tmpfs: writing the study is set-up, not measured
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-dashboard-") as tmp:
        db_dir = (args.db_dir or Path(tmp)).resolve()
        db_dir.mkdir(parents=True, exist_ok=True)
        sizes = []
        for n_trials in args.sizes:
            storage, write_s = _study_file(db_dir, n_trials)
            written = f"written in {write_s} s" if write_s else "reused"
            print(f"{n_trials} trials: {written}; measuring…", flush=True)
            sizes.append({"trials": n_trials, "write_study_s": write_s, "process": process_figures(storage, n_trials),
                          "browser": browser_figures(storage, args.repeats, Path(tmp))})
    report = {
        "benchmark": "dashboard", "command": "python benchmarks/bench_dashboard.py " + " ".join(argv or sys.argv[1:]),
        "repeats": args.repeats, "sizes": sizes,
        "targets": {"first_chart_ratio": TARGET_RATIO, "every_tab_s": TARGET_TAB_S},
        "chromium": _chromium_version(), "optuna": optuna.__version__, "optuna_dashboard": _version("optuna-dashboard"),
        "streamlit": _version("streamlit"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
    }
    report["command"] = report["command"].strip()
    save_report(args.out, "dashboard", report, markdown(report))
    return report


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _chromium_version() -> str:
    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


if __name__ == "__main__":
    main()
