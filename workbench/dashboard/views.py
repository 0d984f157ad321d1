"""The dashboard page: a sidebar (storage, study, auto-refresh, budgets) and six tabs.

`main()` is all `app.py` calls. A study is read through `cache` (read-only, released after
each read): in full once, then only the trials that are new or were unfinished, whenever the
catalog's trial counts by state change. Only the open tab is built; what a tab derives from
the study is cached on the study's version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import streamlit as st

from workbench import record, results
from workbench.dashboard import cache, data, figures, hypervolume, paging, tables
from workbench.errors import WorkbenchError
from workbench.record import COST_COLUMNS
from workbench.record import Budgets
from workbench.storage import journal_path, normalise_url, sqlite_path

CATALOG_TTL_S = 5          # how stale the study list and trial counts may be
STUDY_TTL_S = 120          # a loaded study is also keyed on its trial counts; past this it is refreshed
REFRESH_EVERY_S = 10       # auto-refresh polling interval
EXPORT_FORMATS = ("yaml", "json")
TAB_NAMES = ("pareto", "trials", "detail", "insights", "compare", "export")
TAB_LABELS = ("Pareto front", "Trials", "Trial detail", "Insights", "Compare", "Export")
TAB_KEY = "tab"
PAGE_SIZES = (25, 50, 100, 500)
# The x axes a chart offers, MACs first (the GhostNet papers' cost, and the axis every study has).
COST_AXES = (record.MACS, *(c for c in COST_COLUMNS if c != record.MACS))
PICKS = {"Best under the budgets": "best-accuracy", "Knee of the front": "knee", "A trial by number": "trial"}
TABLE_COLUMNS = [
    "number", "state", "status", "feasible", record.ACCURACY, record.MACS, record.PARAMS, record.FLOPS_FVCORE,
    record.LATENCY_P50, record.LATENCY_P90, record.LATENCY_CV, record.PEAK_MEMORY, record.ACCURACY_CI_LOW,
    record.ACCURACY_CI_HIGH, record.ACCURACY_SD, results.ACCURACY_SE, record.VAL_SIZE, record.CONFIRMED_ACCURACY,
    record.CONFIRMED_SD, record.CONFIRMED_EPOCHS, record.ACCURACY_SOURCE, record.TRAIN_SECONDS, "duration_s",
    record.REUSED_FROM, "reason", "datetime_start",
]
# The accuracy with its uncertainty, as the Pareto table shows it.
ACCURACY_TABLE_COLUMNS = [record.ACCURACY, record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD,
                          record.CONFIRMED_ACCURACY, record.CONFIRMED_SD]


# --- cached reads ----------------------------------------------------------------------

@st.cache_data(ttl=CATALOG_TTL_S, show_spinner=False)
def cached_catalog(storage: str) -> pd.DataFrame:
    return data.study_catalog(storage)


# Resources, not data: a 10,000-trial study is shared by reference, never pickled per rerun.
@st.cache_resource(ttl=STUDY_TTL_S, max_entries=16, show_spinner="Reading the study…")
def cached_snapshot(storage: str, name: str, counts: tuple[int, ...]) -> cache.Snapshot:
    """The study, refreshed incrementally whenever its trial counts by state change."""
    return cache.study_cache(storage, name).refresh()


@st.cache_data(max_entries=16, show_spinner="Ranking the knobs…")
def cached_importances(storage: str, name: str, version: int, _study: data.StudyData) -> dict[str, dict[str, float]]:
    return data.importances(_study)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_history(storage: str, name: str, version: int, _study: data.StudyData) -> pd.DataFrame:
    return hypervolume.hypervolume_history(_study.frame, _study.objectives)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_search_text(storage: str, name: str, version: int, _study: data.StudyData) -> pd.Series:
    return paging.search_text(_study.frame)


@st.cache_data(max_entries=64, show_spinner="Counting MACs per layer…")
def cached_layer_table(arch_json: str) -> pd.DataFrame:
    return tables.layer_table(results.arch_of(pd.Series({record.ARCH_JSON: arch_json})))


@st.cache_data(ttl=STUDY_TTL_S, max_entries=32, show_spinner="Building the export…")
def cached_export(storage: str, name: str, number: int, spec: str, budgets: tuple[float | None, float | None, float | None],
                  fmt: str, version: int, _row: pd.Series, by: str = "proxy") -> str:
    """The text `workbench export --pick SPEC --max-*` writes for this trial (same code path;
    `_row` is the trial's row of the cached frame, so only the study's attributes and that
    one trial are read again)."""
    from workbench.config.io import dump_model
    from workbench.export import build_export
    from workbench.storage import load_study, study_storage

    study = load_study(name, storage)
    try:
        config = build_export(study, _row, pick=spec, budgets=Budgets(**dict(zip(Budgets.model_fields, budgets))), by=by)
    finally:
        data.release(study_storage(study))
    return dump_model(config, fmt=fmt)


# --- the page ----------------------------------------------------------------------------

@dataclass
class Selection:
    """What the sidebar chose."""

    storage: str
    study: str
    counts: tuple[int, ...]
    budgets: Budgets
    catalog: pd.DataFrame
    version: int = 0


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
        help="An Optuna storage URL (sqlite:///workbench.db, postgresql://…) or a journal file path (.log/.jsonl/.journal). "
             "Default: the CLI's sqlite:///workbench.db, or $WORKBENCH_STORAGE, or `streamlit run app.py -- --storage URL`.",
    ).strip() or data.default_storage()
    catalog = _catalog_or_message(storage)
    if catalog is None:
        return
    name = _pick_study(catalog)
    counts = _counts(catalog, name)
    with st.sidebar:
        _auto_refresh(storage, name, counts)
        snapshot = cached_snapshot(storage, name, counts)
        _read_caption(storage, snapshot)
    study = snapshot.study
    budgets = _budget_inputs(name, study.info.budgets)
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
        _trials_tab(study, selection)
        return
    # Only the open tab is built: switching tabs reruns the page with the other one open.
    tabs = st.tabs(list(TAB_LABELS), key=TAB_KEY, on_change="rerun")
    sections: list[Callable[[data.StudyData, Selection], None]] = [
        lambda s, sel: _pareto_tab(s, sel, started), _trials_tab, _detail_tab, _insights_tab, _compare_tab, _export_tab,
    ]
    timings = st.session_state["_timings"]
    timings["load_s"] = time.perf_counter() - started
    for tab, section, label in zip(tabs, sections, TAB_NAMES):
        if tab.open is False:
            continue
        with tab:
            tab_started = time.perf_counter()
            section(study, selection)
            timings[f"tab_{label}_s"] = time.perf_counter() - tab_started


def _mask(url: str) -> str:
    """The URL with its password hidden."""
    try:
        import sqlalchemy

        if "://" in url:
            return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: nothing to hide
        pass
    return url


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
        st.warning(f"Cannot open the storage {_mask(url)}. {str(error).replace(url, _mask(url))}. "
                   "Check the URL, the database server and its driver, then reload.")
        return None
    if catalog.empty:
        st.info(f"The storage {_mask(url)} holds no studies yet. Start one with `workbench search --storage {_mask(url)}`.")
        return None
    return catalog


def _pick_study(catalog: pd.DataFrame) -> str:
    names = catalog["study"].tolist()
    wanted = data.default_study()
    index = names.index(wanted) if wanted in names else 0
    rows = catalog.set_index("study")

    def describe(name: str) -> str:
        row = rows.loc[name]
        return f"{name} — {row['trials']} trials ({row['complete']} complete)"

    name = st.sidebar.selectbox("Study", names, index=index, format_func=describe, key="study")
    row = rows.loc[name]
    st.sidebar.caption(f"Objectives: {row['objectives'] or '–'} · device: {row['device'] or '–'} · "
                       f"dataset: {row['dataset'] or '–'} · {row['failed']} failed, {row['running']} running")
    return name


def _counts(catalog: pd.DataFrame, name: str) -> tuple[int, ...]:
    row = catalog.set_index("study").loc[name]
    return int(row["trials"]), int(row["complete"]), int(row["failed"]), int(row["running"])


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
        now = _counts(fresh, name) if name in set(fresh["study"]) else counts
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
    what = f"all {len(read.numbers):,} trials" if read.full else \
        (f"{len(read.numbers)} new or unfinished trial{'s' if len(read.numbers) != 1 else ''}" if read.numbers else "no trials")
    st.caption(f"Last read: {what} in {read.seconds:.2f} s (finished trials are read once).")
    if st.button("Re-read the whole study", key="reread", help="Reads every trial again; normally only new and "
                 "unfinished trials are read."):
        cache.forget(storage)
        cached_snapshot.clear()
        cached_catalog.clear()
        st.rerun()


def _budget_inputs(name: str, stored: Budgets) -> Budgets:
    st.sidebar.subheader("Budgets")
    st.sidebar.caption(f"Every view honours these; empty means unbounded. Stored with the study: {stored.describe()}.")
    latency = st.sidebar.number_input("Max latency p50 (ms)", min_value=0.0, value=_float(stored.max_latency_ms), step=0.5,
                                      format="%.3f", key=f"budget_max_latency_ms::{name}", placeholder="unbounded")
    macs = st.sidebar.number_input("Max MACs", min_value=0.0, value=_float(stored.max_macs), step=1e6, format="%.0f",
                                   key=f"budget_max_macs::{name}", placeholder="unbounded")
    params = st.sidebar.number_input("Max params", min_value=0.0, value=_float(stored.max_params), step=1e5, format="%.0f",
                                     key=f"budget_max_params::{name}", placeholder="unbounded")
    return Budgets(max_params=params, max_macs=macs, max_latency_ms=latency)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _header(study: data.StudyData, selection: Selection) -> None:
    info = study.info
    st.title(f"Study {info.name}")
    st.caption(
        f"{info.n_trials} trials ({_statuses(study.frame)}) · objectives: {', '.join(o.name for o in info.objectives)} · "
        f"dataset: {info.dataset or '–'} · device: {info.device or '–'} · space: {info.space_file or '–'} · "
        f"latency protocol: {figures.protocol_text(info.latency_protocol)} · budgets: {selection.budgets.describe()} · "
        f"storage: {_mask(normalise_url(selection.storage))}"
    )
    st.caption(f"Seed noise of the proxy accuracy: {figures.noise_text(info)} · "
               f"proxy-to-confirmed ranking: {figures.fidelity_text(info)}", help=_NOISE_HELP)


_NOISE_HELP = ("Two accuracies within 1.96 × the standard error of their difference are a tie, and every pick prefers "
               "the cheaper trial of a tie. The standard error is the seed noise sd over √seeds where the study measured "
               "it, else the binomial error of the validation size.")


def _statuses(frame: pd.DataFrame) -> str:
    """'6 complete, 1 reused, 2 rejected (never scored)' or 'no trials'."""
    return ", ".join(f"{n} {name}" for name, n in results.status_counts(frame).items()) or "no trials"


def _best(frame: pd.DataFrame, budgets: Budgets, by: str = "proxy") -> tuple[pd.Series | None, str | None]:
    try:
        return results.pick_best_accuracy(frame, budgets, by=by), None
    except WorkbenchError as error:
        return None, str(error)


def _describe(row: pd.Series, by: str = "proxy") -> str:
    accuracy = figures.accuracy_text(row)
    if by == "confirmed":
        accuracy = f"confirmed {figures.confirmed_text(row)} (proxy {accuracy})"
    return (f"trial {int(row['number'])} — accuracy {accuracy}, "
            f"MACs {figures.human(row[record.MACS])}, params {figures.human(row[record.PARAMS])}, "
            f"latency p50 {figures.human(row[record.LATENCY_P50], record.LATENCY_P50)}")


def _ties(frame: pd.DataFrame, budgets: Budgets, by: str) -> str:
    """' (tied within noise with trials 3, 7: the cheapest of the tie)' or ''."""
    try:
        tied = results.indistinguishable_from_best(frame, budgets, by=by)
    except WorkbenchError:
        return ""
    if len(tied) < 2:
        return ""
    return f" — tied within noise with {len(tied) - 1} other{'s' if len(tied) > 2 else ''}; the cheapest of the tie is the pick"


_NUMBER_FORMATS = {
    record.ACCURACY: st.column_config.NumberColumn(format="%.4f"),
    record.ACCURACY_CI_LOW: st.column_config.NumberColumn(format="%.4f"),
    record.ACCURACY_CI_HIGH: st.column_config.NumberColumn(format="%.4f"),
    record.ACCURACY_SD: st.column_config.NumberColumn(format="%.4f"),
    results.ACCURACY_SE: st.column_config.NumberColumn(format="%.4f"),
    record.CONFIRMED_ACCURACY: st.column_config.NumberColumn(format="%.4f"),
    record.CONFIRMED_SD: st.column_config.NumberColumn(format="%.4f"),
    record.MACS: st.column_config.NumberColumn(format="compact"),
    record.FLOPS_FVCORE: st.column_config.NumberColumn(format="compact"),
    record.PARAMS: st.column_config.NumberColumn(format="compact"),
    record.PEAK_MEMORY: st.column_config.NumberColumn(format="compact"),
    record.LATENCY_P50: st.column_config.NumberColumn(format="%.3f"),
    record.LATENCY_P90: st.column_config.NumberColumn(format="%.3f"),
}


# --- tabs ---------------------------------------------------------------------------------

def _rung_view(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """A ladder study's frame on the rung the user picks: the top rung by default (its fully
    trained candidates), a lower rung shows more, shorter-trained candidates."""
    levels = results.rungs(frame)
    if len(levels) < 2 or by != "proxy":
        return frame
    rung = st.select_slider("Rung (fidelity ladder)", options=levels, value=levels[-1], key="pareto_rung",
                            format_func=lambda r: f"{r:g}" + (" (top)" if r == levels[-1] else ""),
                            help="Accuracy at this rung of the ladder; candidates stopped below it are left out. "
                                 "Picks and the front default to the top rung.")
    return frame if rung == levels[-1] else results.at_rung(frame, rung)


def _pareto_tab(study: data.StudyData, selection: Selection, started: float) -> None:
    frame, budgets = study.frame, selection.budgets
    knobs = [c for c in frame.columns if c.startswith(results.KNOB_PREFIX)]
    left, right = st.columns(2)
    cost = left.selectbox("Cost axis", list(COST_AXES), format_func=figures.label, key="pareto_cost")
    color_by = right.selectbox("Colour by knob", [None, *knobs], format_func=lambda c: "none" if c is None else figures.label(c),
                               key="pareto_color")
    by = "proxy"
    if results.has_confirmed(frame) and st.toggle(
            "Plot confirmed accuracy", key="pareto_confirmed",
            help="Accuracy re-measured by `workbench confirm` (longer training, several seeds); trials without a "
                 "confirmation are left out, and the best and the front are taken on it."):
        by = "confirmed"
    frame = _rung_view(frame, by)
    best, problem = _best(frame, budgets, by)
    highlight = int(best["number"]) if best is not None else None
    fig = figures.pareto_figure(frame, study.objectives, cost, budgets, color_by, highlight, by=by)
    st.plotly_chart(fig, key="pareto_chart", width="stretch")
    st.session_state["_timings"]["first_chart_s"] = time.perf_counter() - started
    if best is not None:
        st.success(f"Best under budgets: {_describe(best, by)}{_ties(frame, budgets, by)}")
    else:
        st.warning(f"Nothing to highlight: {problem}. Loosen the budgets in the sidebar.")
    axes = figures.axis_objectives(study.objectives, cost, by)
    front = results.pareto_front(frame, axes, budgets)
    numbers = ", ".join(str(int(n)) for n in front["number"]) or "none"
    st.markdown(f"**Pareto trials** ({figures.label(axes[0].column)} vs {figures.label(cost)}, within the budgets): {numbers}")
    categories = figures.point_categories(frame, axes, budgets).value_counts()
    strip = len(figures.never_scored(frame, cost))
    st.caption(" · ".join(f"{n} {c}" for c, n in categories.items()) +
               (f" · {strip} never scored (rejected or failed: on the cost axis only)" if strip else "") +
               f" · {len(frame) - int(categories.sum()) - strip} not drawn (reused copies of an architecture already "
               f"drawn, unconfirmed trials in the confirmed view, failed before profiling, pruned or running)")
    if not front.empty:
        accuracy_columns = [c for c in ACCURACY_TABLE_COLUMNS if c in front and (c == record.ACCURACY or front[c].notna().any())]
        shown = ["number", *accuracy_columns, record.MACS, record.PARAMS, record.LATENCY_P50, record.LATENCY_P90, *knobs]
        st.dataframe(front[shown], hide_index=True, key="pareto_table", column_config=_NUMBER_FORMATS)
    if len(study.objectives) == 3:
        st.plotly_chart(figures.pareto_3d_figure(frame, study.objectives, budgets), key="pareto_3d", width="stretch")


def _trials_tab(study: data.StudyData, selection: Selection) -> None:
    """Every trial, filtered, sorted and cut into pages on the server (the browser gets one page)."""
    frame = study.frame
    knobs = [c for c in frame.columns if c.startswith(results.KNOB_PREFIX)]
    violations = [c for c in frame.columns if c.startswith("violation_")]
    columns = [c for c in TABLE_COLUMNS[:4] + knobs + TABLE_COLUMNS[4:] + violations if c in frame.columns]
    a, b, c = st.columns([1, 1, 2])
    states = a.multiselect("State", sorted(frame["state"].dropna().unique()), key="trials_state", placeholder="all states")
    statuses = b.multiselect("Status", sorted(frame["status"].dropna().astype(str).unique()), key="trials_status",
                             placeholder="all statuses")
    text = c.text_input("Filter text", key="trials_text", placeholder="matches reason, status, knobs… (e.g. 'budget')")
    haystack = cached_search_text(selection.storage, selection.study, selection.version, study) if text.strip() else None
    shown = paging.filter_trials(frame, states, statuses, text, haystack)[columns]
    over = ~selection.budgets.mask(shown) if not shown.empty else pd.Series(dtype=bool)
    shown = shown.assign(within_budgets=~over) if not shown.empty else shown
    d, e, f, g = st.columns([2, 1, 1, 1])
    sort = d.selectbox("Sort by", columns, format_func=figures.label, key="trials_sort")
    descending = e.toggle("Descending", key="trials_descending")
    size = f.selectbox("Rows per page", PAGE_SIZES, index=1, key="trials_page_size")
    n_pages = paging.pages(len(shown), size)
    number = g.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, value=1, step=1, key="trials_page")
    rows = paging.page(shown, sort, descending, int(number), size)
    first = (min(int(number), n_pages) - 1) * size
    st.caption(f"Trials {first + 1 if len(rows) else 0}–{first + len(rows)} of {len(shown):,} matching "
               f"({len(frame):,} in the study), sorted by {figures.label(sort)}{' descending' if descending else ''}.")
    st.dataframe(rows, hide_index=True, key="trials_table",
                 column_config={**_NUMBER_FORMATS, "reason": st.column_config.TextColumn(width="large")})
    # The file is made only when the button is clicked: a 10,000-row CSV is not built on every rerun.
    st.download_button(f"Download the {len(shown):,} matching trials as CSV", lambda: shown.to_csv(index=False),
                       file_name=f"{selection.study}-trials.csv", mime="text/csv", key="trials_csv", on_click="ignore")


def _detail_tab(study: data.StudyData, selection: Selection) -> None:
    frame = study.frame
    numbers = [int(n) for n in frame["number"]]
    best, _ = _best(frame, selection.budgets)
    default = numbers.index(int(best["number"])) if best is not None else 0
    statuses = dict(zip(numbers, frame["status"]))
    number = st.selectbox("Trial", numbers, index=default, key="detail_trial", format_func=lambda n: f"trial {n} ({statuses[n]})")
    row = frame[frame["number"] == number].iloc[0]
    extras = study.extras.get(number, {})
    cols = st.columns(5)
    for col, (title, column) in zip(cols, [("accuracy", record.ACCURACY), ("MACs", record.MACS), ("params", record.PARAMS),
                                           ("latency p50", record.LATENCY_P50), ("latency p90", record.LATENCY_P90)]):
        col.metric(title, figures.human(row[column], column) if column != record.ACCURACY or row[results.SCORED]
                   else "never scored")
    confirmed = figures.confirmed_text(row)
    st.caption(f"State {row['state']}, status {row['status']} · accuracy {figures.accuracy_text(row)}"
               + (f" · confirmed {confirmed}" if confirmed else "")
               + f" · accuracy source: {row.get(record.ACCURACY_SOURCE) or '–'} · "
               f"fvcore FLOPs {figures.human(row[record.FLOPS_FVCORE])} · peak memory {figures.human(row[record.PEAK_MEMORY])}B")
    if isinstance(row.get("reason"), str) and row["reason"]:
        st.warning(f"Reason: {row['reason']}")
    if not isinstance(row.get(record.ARCH_JSON), str):
        st.info(f"Trial {number} has no stored architecture (it stopped before one was built), so there is nothing to draw.")
        return
    arch = results.arch_of(row)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Architecture, stage by stage")
        st.dataframe(tables.architecture_table(arch), hide_index=True, key="detail_arch")
        st.subheader("MACs and parameters per layer")
        st.caption("fvcore at batch 1; MACs are conv/linear multiply-accumulates, fvcore FLOPs also count BN, pooling and "
                   "element-wise ops. Depth 1 is the stem/stages/head, depth 2 a stage, depth 3 a block.")
        st.dataframe(cached_layer_table(row[record.ARCH_JSON]), hide_index=True, key="detail_layers")
    with right:
        st.subheader("Latency")
        st.dataframe(pd.DataFrame([{
            "p50 (ms)": row[record.LATENCY_P50], "p90 (ms)": row[record.LATENCY_P90], "CV": row[record.LATENCY_CV],
            "noisy": row.get(record.LATENCY_NOISY), "device": row.get(record.DEVICE),
        }]), hide_index=True, key="detail_latency")
        protocol = extras.get(record.LATENCY_PROTOCOL) or study.info.latency_protocol
        st.caption(f"Protocol: {figures.protocol_text(protocol)}")
        if protocol:
            st.json(protocol, expanded=False)
        st.plotly_chart(figures.validation_curve_figure(extras.get(record.VAL_CURVE) or []), key="detail_curve", width="stretch")


def _export_command(selection: Selection, spec: str, file_name: str, by: str = "proxy") -> str:
    """The `workbench export` command line that writes the same file."""
    parts = [f"workbench export --study {selection.study}", f"--storage {_mask(normalise_url(selection.storage))}", f"--pick {spec}"]
    if by != "proxy" and not spec.startswith("trial:"):
        parts.append(f"--by {by}")
    for flag, value in (("--max-params", selection.budgets.max_params), ("--max-macs", selection.budgets.max_macs),
                        ("--max-latency-ms", selection.budgets.max_latency_ms)):
        if value is not None:
            parts.append(f"{flag} {value:g}")
    return " ".join([*parts, f"--out {file_name}"])


def _insights_tab(study: data.StudyData, selection: Selection) -> None:
    frame, objectives = study.frame, study.objectives
    history = cached_history(selection.storage, selection.study, selection.version, study)
    st.plotly_chart(figures.hypervolume_figure(history), key="insights_hv", width="stretch")
    reference = results.reference_point(frame, objectives)
    st.caption("Scored feasible trials only, each architecture once. Reference point (in loss space: accuracy negated, "
               "costs as measured): " + ", ".join(f"{o.name}={v:.4g}" for o, v in zip(objectives, reference)))
    importances = cached_importances(selection.storage, selection.study, selection.version, study)
    st.plotly_chart(figures.importance_figure(importances), key="insights_importance", width="stretch")
    st.plotly_chart(figures.macs_latency_figure(frame), key="insights_macs_latency", width="stretch")
    st.caption("Where FLOPs stop predicting latency on this device: points far from the dotted line are architectures "
               "whose measured latency the MAC count does not explain (memory-bound depthwise convs, SE, many small layers).")


def _compare_tab(study: data.StudyData, selection: Selection) -> None:
    others = [n for n in selection.catalog["study"] if n != selection.study]
    chosen = st.multiselect("Studies to compare with this one", others, key="compare_studies",
                            placeholder="pick studies from the same storage")
    cost = st.selectbox("Cost axis", list(COST_AXES), format_func=figures.label, key="compare_cost")
    fronts, rows = {}, []
    for name in [selection.study, *chosen]:
        other = study if name == selection.study else \
            cached_snapshot(selection.storage, name, _counts(selection.catalog, name)).study
        axes = figures.axis_objectives(other.objectives, cost)
        front = results.pareto_front(other.frame, axes, selection.budgets)
        fronts[name] = front
        best = front.sort_values(record.ACCURACY, ascending=False).iloc[0] if not front.empty else None
        rows.append({"study": name, "trials": len(other.frame), "front size": len(front),
                     "best accuracy": None if best is None else best[record.ACCURACY],
                     f"its {figures.label(cost)}": None if best is None else best[cost],
                     "device": other.info.device})
    st.plotly_chart(figures.compare_figure(fronts, cost), key="compare_chart", width="stretch")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="compare_table")
    if not chosen:
        st.caption("Pick other studies above to put their fronts beside this one's (budgets from the sidebar apply to all).")


def _export_tab(study: data.StudyData, selection: Selection) -> None:
    frame = study.frame
    choice = st.radio("Export", list(PICKS), horizontal=True, key="export_pick")
    fmt = st.radio("Format", EXPORT_FORMATS, horizontal=True, key="export_format")
    spec = PICKS[choice]
    by = "proxy"
    if spec != "trial" and results.has_confirmed(frame):
        by = st.radio("Rank by", list(results.BY_CHOICES), horizontal=True, key="export_by",
                      format_func=lambda b: f"{b} accuracy",
                      help="`confirmed` ranks on the accuracy `workbench confirm` measured; unconfirmed trials are left out.")
    if spec == "trial":
        built = [int(n) for n in frame.loc[frame[record.ARCH_JSON].notna(), "number"]] if record.ARCH_JSON in frame else []
        if not built:
            st.info("No trial of this study has a stored architecture to export.")
            return
        spec = f"trial:{st.selectbox('Trial to export', built, key='export_trial')}"
    try:
        row = results.pick(frame, spec, study.objectives, None if spec.startswith("trial:") else selection.budgets, by=by)
    except WorkbenchError as error:
        st.warning(f"Nothing to export: {error}. Loosen the budgets or pick a trial by number.")
        return
    number = int(row["number"])
    st.markdown(f"**Exporting** {_describe(row, by)}")
    try:
        budgets = selection.budgets
        text = cached_export(selection.storage, selection.study, number, spec, (budgets.max_params, budgets.max_macs,
                             budgets.max_latency_ms), fmt, selection.version, row, by)
    except ImportError:
        st.warning("Exporting needs `workbench.export`, which this installation does not have.")
        return
    file_name = f"{selection.study}-trial{number}.{fmt}"
    st.download_button(f"Download {file_name}", text, file_name=file_name, mime="application/json" if fmt == "json" else
                       "application/x-yaml", key="export_download", on_click="ignore", type="primary")
    st.caption(f"The same file as `{_export_command(selection, spec, file_name, by)}` (up to its `exported_at` time); "
               f"train it with `workbench train --config {file_name}`.")
    st.code(text, language=fmt)
