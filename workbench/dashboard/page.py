"""The dashboard page: a sidebar (storage, study, auto-refresh, budgets), a header and the tabs.

`main()` is all `app.py` calls. A study is read through `cache` (read-only, released after
each read): in full once, then only the trials that are new or were unfinished, whenever the
catalog's trial counts by state change. Only the open tab is built (`tabs`); what a tab derives
from the study is cached on the study's version (`cached`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd
import streamlit as st

from workbench import results
from workbench.dashboard import cache, data, tabs
from workbench.dashboard.cached import cached_catalog, cached_snapshot
from workbench.dashboard.tabs import Selection
from workbench.errors import WorkbenchError
from workbench.record import Budgets
from workbench.storage import journal_path, normalise_url, sqlite_path

REFRESH_EVERY_S = 10       # auto-refresh polling interval
TAB_NAMES = ("pareto", "trials", "detail", "insights", "compare", "export")
TAB_LABELS = ("Pareto front", "Trials", "Trial detail", "Insights", "Compare", "Export")
# A study timed on several latency targets (or int8) also has this tab, after Insights.
ENGINES_NAME, ENGINES_LABEL = "engines", "Engines"
TAB_KEY = "tab"


def main() -> None:
    """Render the whole page (what `streamlit run app.py` runs)."""
    st.set_page_config(page_title="GhostNet Workbench", page_icon="👻", layout="wide")
    started = time.perf_counter()
    st.session_state["_timings"] = {}
    try:
        _page(started)
    except WorkbenchError as error:
        st.warning(str(error))


def _page(started: float) -> None:
    st.sidebar.title("GhostNet Workbench")
    storage = st.sidebar.text_input(
        "Storage", value=data.default_storage(), key="storage",
        help="An Optuna storage URL (sqlite:///workbench.db, postgresql://…) or a journal file path "
             "(.log/.jsonl/.journal). Default: the CLI's sqlite:///workbench.db, or $WORKBENCH_STORAGE, or "
             "`streamlit run app.py -- --storage URL`.",
    ).strip() or data.default_storage()
    catalog = _catalog_or_message(storage)
    if catalog is None:
        return
    name = _pick_study(catalog)
    counts = data.catalog_counts(catalog, name)
    with st.sidebar:
        _auto_refresh(storage, name, counts)
        snapshot = cached_snapshot(storage, name, counts)
        _read_caption(storage, snapshot)
    study = snapshot.study
    budgets = _budget_inputs(name, study.info.budgets, results.target_names(study.frame))
    selection = Selection(storage, name, counts, budgets, catalog, snapshot.version)
    _header(study, selection)
    if study.frame.empty:
        st.info(f"Study '{name}' has no trials yet. Start it with `workbench search`, then turn on "
                "auto-refresh in the sidebar to watch it fill in.")
        return
    if not (study.frame["state"] == "COMPLETE").any():
        states = ", ".join(f"{n} {s.lower()}" for s, n in study.info.states.items())
        st.warning(f"Study '{name}' has {len(study.frame)} trials but none has completed ({states}). "
                   "The table below gives the reason each one stopped.")
        tabs.trials_tab(study, selection)
        return
    sections: list[Callable[[data.StudyData, Selection], None]] = [
        lambda s, sel: tabs.pareto_tab(s, sel, started), tabs.trials_tab, tabs.detail_tab, tabs.insights_tab,
        tabs.compare_tab, tabs.export_tab,
    ]
    names, labels = list(TAB_NAMES), list(TAB_LABELS)
    if tabs.has_engines(study):
        names.insert(4, ENGINES_NAME)
        labels.insert(4, ENGINES_LABEL)
        sections.insert(4, tabs.engines_tab)
    if st.session_state.get(TAB_KEY) not in (None, *labels):
        st.session_state[TAB_KEY] = labels[0]  # the Engines tab was open on a study without one
    # Only the open tab is built: switching tabs reruns the page with the other one open.
    opened = st.tabs(labels, key=TAB_KEY, on_change="rerun")
    timings = st.session_state["_timings"]
    timings["load_s"] = time.perf_counter() - started
    for tab, section, label in zip(opened, sections, names):
        if tab.open is False:
            continue
        with tab:
            tab_started = time.perf_counter()
            section(study, selection)
            timings[f"tab_{label}_s"] = time.perf_counter() - tab_started




def _catalog_or_message(storage: str) -> pd.DataFrame | None:
    """The studies in `storage`, or None after saying plainly why there are none."""
    url = normalise_url(storage)
    missing = sqlite_path(url) or journal_path(url)
    if missing is not None and not missing.exists():
        st.info(f"No study storage at {missing} yet. Run `workbench search` to create one, or enter another "
                "storage in the sidebar: an Optuna URL such as sqlite:///path/to.db or postgresql://user@host/db, "
                "or a journal file path.")
        return None
    try:
        catalog = cached_catalog(storage)
    except WorkbenchError as error:
        st.warning(f"Cannot open the storage {data.mask_url(url)}. {str(error).replace(url, data.mask_url(url))}. "
                   "Check the URL, the database server and its driver, then reload.")
        return None
    if catalog.empty:
        st.info(f"The storage {data.mask_url(url)} holds no studies yet. "
                f"Start one with `workbench search --storage {data.mask_url(url)}`.")
        return None
    return catalog




def _pick_study(catalog: pd.DataFrame) -> str:
    names = catalog["study"].tolist()
    wanted = data.default_study()
    index = names.index(wanted) if wanted in names else 0
    if wanted is not None and wanted not in names:  # never another study without a word
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        st.warning(f"No study '{wanted}' in this storage (asked for by --study or {data.STUDY_ENV}); showing "
                   f"'{names[0]}' instead. Studies there: {shown}.")
    rows = catalog.set_index("study")

    def describe(name: str) -> str:
        row = rows.loc[name]
        return f"{name} — {row['trials']} trials ({row['complete']} complete)"

    name = st.sidebar.selectbox("Study", names, index=index, format_func=describe, key="study")
    row = rows.loc[name]
    st.sidebar.caption(f"Objectives: {row['objectives'] or '–'} · device: {row['device'] or '–'} · "
                       f"dataset: {row['dataset'] or '–'} · {row['failed']} failed, {row['running']} running")
    return name




def _auto_refresh(storage: str, name: str, counts: tuple[int, ...]) -> None:
    """A toggle that polls the trial counts and reruns the page when they change."""
    on = st.toggle("Auto-refresh (running study)", key="auto_refresh",
                   help=f"Checks the trial counts every {REFRESH_EVERY_S} s and redraws when they change. Read-only.")
    if on:
        _watch(storage, name, counts)


@st.fragment(run_every=REFRESH_EVERY_S)
def _watch(storage: str, name: str, counts: tuple[int, ...]) -> None:
    try:
        fresh = data.study_catalog(storage)
        now = data.catalog_counts(fresh, name) if name in set(fresh["study"]) else counts
    except WorkbenchError as error:
        st.caption(f"Auto-refresh paused: {error}")
        return
    st.caption(f"Checked at {time.strftime('%H:%M:%S')}: {now[0]} trials, {now[1]} complete, {now[3]} running.")
    if now != counts:
        cached_catalog.clear()
        st.rerun(scope="app")


def _read_caption(storage: str, snapshot: cache.Snapshot) -> None:
    """What the last refresh read, and a button to read the whole study again."""
    read = snapshot.read
    plural = "s" if len(read.numbers) != 1 else ""
    what = f"all {len(read.numbers):,} trials" if read.full else \
        (f"{len(read.numbers)} new or unfinished trial{plural}" if read.numbers else "no trials")
    st.caption(f"Last read: {what} in {read.seconds:.2f} s (finished trials are read once).")
    if st.button("Re-read the whole study", key="reread", help="Reads every trial again; normally only new and "
                 "unfinished trials are read."):
        cache.forget(storage)
        cached_snapshot.clear()
        cached_catalog.clear()
        st.rerun()


def _budget_inputs(name: str, stored: Budgets, targets: list[str]) -> Budgets:
    st.sidebar.subheader("Budgets")
    st.sidebar.caption(f"Every view honours these; empty means unbounded. Stored with the study: {stored.describe()}.")
    latency = _latency_inputs(name, stored, targets) if targets else st.sidebar.number_input(
        "Max latency p50 (ms)", min_value=0.0, value=_float(stored.max_latency_ms), step=0.5, format="%.3f",
        key=f"budget_max_latency_ms::{name}", placeholder="unbounded")
    macs = st.sidebar.number_input("Max MACs", min_value=0.0, value=_float(stored.max_macs), step=1e6, format="%.0f",
                                   key=f"budget_max_macs::{name}", placeholder="unbounded")
    params = st.sidebar.number_input("Max params", min_value=0.0, value=_float(stored.max_params), step=1e5,
                                     format="%.0f", key=f"budget_max_params::{name}", placeholder="unbounded")
    return Budgets(max_params=params, max_macs=macs, max_latency_ms=latency)


def _latency_inputs(name: str, stored: Budgets, targets: list[str]) -> float | dict[str, float] | None:
    """One p50 limit per latency target. A limit on the first target alone is the plain
    `max_latency_ms` (what the CLI's `--max-latency-ms` sets); any other makes it per target."""
    limits = stored.max_latency_ms if isinstance(stored.max_latency_ms, dict) else \
        ({targets[0]: stored.max_latency_ms} if stored.max_latency_ms is not None else {})
    chosen = {}
    for target in targets:
        value = st.sidebar.number_input(f"Max latency p50 on {target} (ms)", min_value=0.0,
                                        value=_float(limits.get(target)), step=0.5, format="%.3f",
                                        key=f"budget_max_latency_ms:{target}::{name}", placeholder="unbounded")
        if value is not None:
            chosen[target] = float(value)
    if not chosen:
        return None
    return chosen[targets[0]] if list(chosen) == targets[:1] else chosen


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _header(study: data.StudyData, selection: Selection) -> None:
    info = study.info
    st.title(f"Study {info.name}")
    st.caption(
        f"{info.n_trials} trials ({results.statuses_text(study.frame)}) · "
        f"objectives: {', '.join(o.name for o in info.objectives)} · "
        f"dataset: {info.dataset or '–'} · device: {info.device or '–'} · space: {info.space_file or '–'} · "
        f"latency protocol: {results.protocol_text(info.latency_protocol)} · budgets: {selection.budgets.describe()} · "
        f"storage: {data.mask_url(normalise_url(selection.storage))}"
    )
    st.caption(f"Seed noise of the proxy accuracy: {results.noise_text(info)} · "
               f"proxy-to-confirmed ranking: {results.fidelity_text(info)}", help=_NOISE_HELP)


_NOISE_HELP = ("Two accuracies within 1.96 × the standard error of their difference are a tie, and every pick "
               "prefers the cheaper trial of a tie. The standard error is the seed noise sd over √seeds where the "
               "study measured it, else the binomial error of the validation size.")


