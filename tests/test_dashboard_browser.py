"""The dashboard in a real browser: `streamlit run app.py` against a real study, loaded by
headless Chromium through Selenium; the Pareto chart must appear with its trial points, counted
through plotly's own data (`gd.data`), SVG for a small study and WebGL for a large one; a tab
is built when it is clicked.

Runs by default where chromium, chromedriver and selenium are installed (skips, saying
which is missing, elsewhere). Saves a screenshot to reports/dashboard.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from helpers.dashboard import many_trials_study
from study_factory import make_study

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "reports" / "dashboard.png"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "")
                     if p and Path(p).exists()), None)
WAIT_S = 60

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install chromium)"
    if CHROMEDRIVER is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer on {url} within {WAIT_S} s:\n{log.read_text()[-3000:]}")


LARGE = 400  # trials of the WebGL study: past scale.WEBGL_MIN_POINTS, under scale.MAX_CLOUD_POINTS


@pytest.fixture(scope="module")
def study_storage():
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base, prefix="wb-browser-") as folder:
        url = f"sqlite:///{folder}/studies.db"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = make_study(None, name="browser-study")
        optuna.copy_study(from_study_name="browser-study", from_storage=study._storage, to_storage=url)
        yield url


@pytest.fixture(scope="module")
def large_storage():
    """A journal file (quick to write) holding a study of LARGE trials."""
    from workbench.storage import open_storage

    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base, prefix="wb-browser-large-") as folder:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study, written = many_trials_study(LARGE, name="large-study")
        journal = f"{folder}/large.log"
        optuna.copy_study(from_study_name="large-study", from_storage=study._storage,
                          to_storage=open_storage(journal, create=True))
        yield journal, written


@contextmanager
def streamlit_server(storage: str, study: str, log: Path):
    missing = _missing()
    if missing:
        pytest.skip(f"real-browser dashboard test skipped: {missing}")
    port = _free_port()
    env = {**os.environ, "WORKBENCH_STORAGE": storage, "WORKBENCH_STUDY": study,
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def browser(tmp_path):
    missing = _missing()
    if missing:
        pytest.skip(f"real-browser dashboard test skipped: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1600,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


# Plotly's own data of every chart on the page: per trace its type, name, mode and number of x values
# (plain arrays, typed arrays, or plotly's base64 form), once plotly has laid the figure out.
CHARTS_JS = """
function n(v) {
  if (!v) return 0;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return v.length;
  if (v.bdata) return atob(v.bdata).length / parseInt(v.dtype.slice(1));
  return 0;
}
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd => gd._fullLayout).map(gd => ({
  canvases: gd.querySelectorAll('canvas').length,
  traces: (gd.data || []).map(t => ({type: t.type || 'scatter', name: t.name || '', mode: t.mode || '', n: n(t.x)})),
}));
"""


def charts(driver) -> list[dict]:
    return driver.execute_script(CHARTS_JS)


def pareto_chart(driver) -> dict | None:
    return next((c for c in charts(driver) if any(t["name"].startswith("Pareto front (") for t in c["traces"])), None)


def marker_points(chart: dict) -> int:
    """Points drawn as markers, without the highlighted best trial (a second mark on a point)."""
    return sum(t["n"] for t in chart["traces"] if "markers" in t["mode"] and not t["name"].startswith("best:"))


def wait_for(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: condition(d))
    except Exception:  # selenium's TimeoutException: say what did not happen
        body = driver.find_element("tag name", "body").text
        pytest.fail(f"{what} did not happen within {WAIT_S} s; the page says:\n{body[:2000]}")


def test_pareto_chart_shows_every_measured_trial(study_storage, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from workbench import results
    from workbench.storage import load_study

    frame = results.trials_frame(load_study("browser-study", study_storage))
    plotted = int((frame["state"] == "COMPLETE").sum())  # every measured trial is a point (SVG at this size)
    with streamlit_server(study_storage, "browser-study", tmp_path / "streamlit.log") as url:
        started = time.monotonic()
        browser.get(url)
        chart = wait_for(browser, lambda d: (c := pareto_chart(d)) and marker_points(c) >= plotted and c,
                         "the Pareto chart with every measured trial")
        first_chart_s = time.monotonic() - started
        assert marker_points(chart) == plotted
        assert {t["type"] for t in chart["traces"]} == {"scatter"}
        wait_for(browser, lambda d: "Pareto trials" in d.find_element(By.TAG_NAME, "body").text, "the front's list")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Study browser-study" in body and "Traceback" not in body
        time.sleep(1.0)  # let the table settle before the picture
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
        print(f"first chart after {first_chart_s:.2f} s; screenshot at {SCREENSHOT}")

        # A tab is built when it is clicked: the Insights charts appear only then.
        assert len(charts(browser)) == 1
        tab = next(b for b in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stTab"]') if b.text == "Insights")
        tab.click()
        # ...and the Pareto tab, now closed, is emptied (its chart is not rebuilt behind the scenes)
        wait_for(browser, lambda d: len(charts(d)) == 3 and pareto_chart(d) is None,
                 "the Insights tab's three charts, alone on the page")


def test_a_large_study_is_drawn_with_webgl(large_storage, browser, tmp_path):
    journal, written = large_storage
    costed = sum(1 for w in written if w.macs is not None)  # scored and rejected trials: every one a point
    with streamlit_server(journal, "large-study", tmp_path / "streamlit.log") as url:
        browser.get(url)
        chart = wait_for(browser, lambda d: (c := pareto_chart(d)) and marker_points(c) >= costed and c,
                         f"the Pareto chart with {costed} points")
    assert marker_points(chart) == costed
    markers = [t for t in chart["traces"] if "markers" in t["mode"] and not t["name"].startswith("best:")]
    assert {t["type"] for t in markers} == {"scattergl"}
    assert chart["canvases"] >= 1  # WebGL draws on a canvas
