"""The dashboard in a real browser: `streamlit run app.py` against a real study, loaded by
headless Chromium through Selenium; the Pareto chart must appear with its trial points.

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
from pathlib import Path

import optuna
import pytest

from study_factory import make_study

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "reports" / "dashboard.png"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "") if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and Path(p).exists()), None)
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


@pytest.fixture(scope="module")
def study_storage():
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base, prefix="wb-browser-") as folder:
        url = f"sqlite:///{folder}/studies.db"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = make_study(None, name="browser-study")
        optuna.copy_study(from_study_name="browser-study", from_storage=study._storage, to_storage=url)
        yield url


@pytest.fixture
def server(study_storage, tmp_path):
    missing = _missing()
    if missing:
        pytest.skip(f"real-browser dashboard test skipped: {missing}")
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "WORKBENCH_STORAGE": study_storage, "WORKBENCH_STUDY": "browser-study",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
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
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1600,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def test_pareto_chart_shows_every_measured_trial(server, browser, study_storage):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from workbench import results

    frame = results.trials_frame(results.load_study("browser-study", study_storage))
    plotted = int((frame["state"] == "COMPLETE").sum())  # every measured trial is a point

    started = time.monotonic()
    browser.get(server)
    wait = WebDriverWait(browser, WAIT_S)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .point")))
    first_chart_s = time.monotonic() - started
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) >= 1
               and "Best under budgets" in d.find_element(By.TAG_NAME, "body").text)

    def first_chart_points(driver) -> list:
        return driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[0].find_elements(By.CSS_SELECTOR, ".scatterlayer .point")

    # Plotly draws the traces one after another; wait (bounded) until the chart is complete.
    try:
        wait.until(lambda d: len(first_chart_points(d)) >= plotted)
    except Exception:  # selenium's TimeoutException or a stale element; the assertion below reports
        pass
    points = first_chart_points(browser)
    assert len(points) >= plotted, f"{len(points)} points drawn for {plotted} measured trials"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Pareto trials" in body and "Study browser-study" in body
    assert "Traceback" not in body
    time.sleep(1.0)  # let the remaining tabs and charts settle before the picture
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    print(f"first chart after {first_chart_s:.2f} s; screenshot at {SCREENSHOT}")
    assert first_chart_s < WAIT_S
