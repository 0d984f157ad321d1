"""The dashboard's tabs, one function each: the Pareto front, the trials, one trial in detail,
insights, the engines (for a study timed on several latency targets), several studies compared,
and the export. Each reads the study already loaded (`data.StudyData`) and the sidebar's
`Selection`; what is costly comes from `cached`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import streamlit as st

from workbench import figures, record, results
from workbench.dashboard import data, paging
from workbench.dashboard.cached import (
    cached_engine_pair,
    cached_export,
    cached_history,
    cached_importances,
    cached_layer_table,
    cached_search_text,
    cached_snapshot,
)
from workbench.errors import WorkbenchError
from workbench.record import COST_COLUMNS, Budgets
from workbench.results import engines
from workbench.storage import normalise_url

EXPORT_FORMATS = ("yaml", "json")
PAGE_SIZES = (25, 50, 100, 500)
# The x axes a chart offers, MACs first (the GhostNet papers' cost, and the axis every study has);
# a study timed on latency targets adds each target's p50 and p90 (`cost_axes`).
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


@dataclass
class Selection:
    """What the sidebar chose."""

    storage: str
    study: str
    counts: tuple[int, ...]
    budgets: Budgets
    catalog: pd.DataFrame
    version: int = 0


def cost_axes(frame: pd.DataFrame) -> list[str]:
    """`COST_AXES`, then each latency target's p50 and p90 in the study's order (none for an
    older study, whose axes stay exactly `COST_AXES`)."""
    targets = results.target_names(frame)
    timed = (record.target_column(c, t) for t in targets for c in (record.LATENCY_P50, record.LATENCY_P90))
    return [*COST_AXES, *timed]


def axis_label(frame: pd.DataFrame) -> Callable[[str], str]:
    """`results.label`, naming the target the plain latency axes hold (the first) where there are targets."""
    first = next(iter(results.target_names(frame)), None)
    labelled = results.frame_label(frame)

    def name(column: str) -> str:
        plain = column in (record.LATENCY_P50, record.LATENCY_P90) and first is not None
        return f"{labelled(column)} — first target, {first}" if plain else labelled(column)

    return name


def has_engines(study: data.StudyData) -> bool:
    """Whether the study has something for the Engines tab: two latency targets or an int8 target."""
    return len(results.target_names(study.frame)) >= 2 or engines.int8_pair(study.info.latency_targets) is not None


def _best(frame: pd.DataFrame, budgets: Budgets, by: str = "proxy") -> tuple[pd.Series | None, str | None]:
    try:
        return results.pick_best_accuracy(frame, budgets, by=by), None
    except WorkbenchError as error:
        return None, str(error)


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


def pareto_tab(study: data.StudyData, selection: Selection, started: float) -> None:
    frame, budgets = study.frame, selection.budgets
    knobs = [c for c in frame.columns if c.startswith(results.KNOB_PREFIX)]
    left, right = st.columns(2)
    cost = left.selectbox("Cost axis", cost_axes(frame), format_func=axis_label(frame), key="pareto_cost")
    color_by = right.selectbox("Colour by knob", [None, *knobs],
                               format_func=lambda c: "none" if c is None else results.label(c),
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
    info = figures.front_info(frame, study.objectives, cost, budgets, by=by)
    st.plotly_chart(figures.draw_front(info, color_by, highlight), key="pareto_chart", width="stretch")
    st.session_state["_timings"]["first_chart_s"] = time.perf_counter() - started
    if best is not None:
        tie = results.tie_note(frame, budgets, int(best["number"]), by)
        target = frame.attrs.get("headline_target")
        st.success(f"Best under budgets: {results.pick_text(best, by, target)}" + (f" — {tie}" if tie else ""))
    else:
        st.warning(f"Nothing to highlight: {problem}. Loosen the budgets in the sidebar.")
    front = info.front
    numbers = ", ".join(str(int(n)) for n in front["number"]) or "none"
    st.markdown(f"**Pareto trials** ({results.label(info.accuracy)} vs {results.label(cost)}, within the budgets): "
                f"{numbers}")
    categories = info.categories.value_counts()
    strip = len(info.strip)
    target = record.split_target(cost)[1]
    untimed = int(frame[record.target_column(results.TARGET_AVAILABLE, target)].eq(False).sum()) \
        if target and record.target_column(results.TARGET_AVAILABLE, target) in frame else 0
    st.caption(" · ".join(f"{n} {c}" for c, n in categories.items()) +
               (f" · {strip} never scored (rejected or failed: on the cost axis only)" if strip else "") +
               f" · {len(frame) - int(categories.sum()) - strip} not drawn (reused copies of an architecture already "
               f"drawn, unconfirmed trials in the confirmed view, failed before profiling, pruned or running"
               + (f"; {untimed} of them not timed on {target}: the target was unavailable" if untimed else "") + ")")
    if not front.empty:
        accuracy_columns = [c for c in ACCURACY_TABLE_COLUMNS
                            if c in front and (c == record.ACCURACY or front[c].notna().any())]
        # With targets, each target's p50 (and the chosen axis) instead of the plain copy of the first's.
        timed = [engines.p50(t) for t in results.target_names(frame)]
        latency = [*timed, *([cost] if cost not in timed and target else [])] if timed else \
            [record.LATENCY_P50, record.LATENCY_P90]
        shown = ["number", *accuracy_columns, record.MACS, record.PARAMS, *latency, *knobs]
        st.dataframe(front[shown], hide_index=True, key="pareto_table", column_config=_NUMBER_FORMATS)
    if len(study.objectives) == 3:
        st.plotly_chart(figures.pareto_3d_figure(frame, study.objectives, budgets), key="pareto_3d", width="stretch")


def trials_tab(study: data.StudyData, selection: Selection) -> None:
    """Every trial, filtered, sorted and cut into pages on the server (the browser gets one page)."""
    frame = study.frame
    knobs = [c for c in frame.columns if c.startswith(results.KNOB_PREFIX)]
    violations = [c for c in frame.columns if c.startswith("violation_")]
    columns = [c for c in TABLE_COLUMNS[:4] + knobs + TABLE_COLUMNS[4:] + violations if c in frame.columns]
    a, b, c = st.columns([1, 1, 2])
    states = a.multiselect("State", sorted(frame["state"].dropna().unique()), key="trials_state",
                           placeholder="all states")
    statuses = b.multiselect("Status", sorted(frame["status"].dropna().astype(str).unique()), key="trials_status",
                             placeholder="all statuses")
    text = c.text_input("Filter text", key="trials_text", placeholder="matches reason, status, knobs… (e.g. 'budget')")
    haystack = cached_search_text(selection.storage, selection.study, selection.version, study) \
        if text.strip() else None
    shown = paging.filter_trials(frame, states, statuses, text, haystack)[columns]
    over = ~selection.budgets.mask(shown) if not shown.empty else pd.Series(dtype=bool)
    shown = shown.assign(within_budgets=~over) if not shown.empty else shown
    d, e, f, g = st.columns([2, 1, 1, 1])
    sort = d.selectbox("Sort by", columns, format_func=results.label, key="trials_sort")
    descending = e.toggle("Descending", key="trials_descending")
    size = f.selectbox("Rows per page", PAGE_SIZES, index=1, key="trials_page_size")
    n_pages = paging.pages(len(shown), size)
    number = g.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, value=1, step=1, key="trials_page")
    rows = paging.page(shown, sort, descending, int(number), size)
    first = (min(int(number), n_pages) - 1) * size
    st.caption(f"Trials {first + 1 if len(rows) else 0}–{first + len(rows)} of {len(shown):,} matching "
               f"({len(frame):,} in the study), sorted by {results.label(sort)}{' descending' if descending else ''}.")
    st.dataframe(rows, hide_index=True, key="trials_table",
                 column_config={**_NUMBER_FORMATS, "reason": st.column_config.TextColumn(width="large")})
    # The file is made only when the button is clicked: a 10,000-row CSV is not built on every rerun.
    st.download_button(f"Download the {len(shown):,} matching trials as CSV", lambda: shown.to_csv(index=False),
                       file_name=f"{selection.study}-trials.csv", mime="text/csv", key="trials_csv", on_click="ignore")


def detail_tab(study: data.StudyData, selection: Selection) -> None:
    frame = study.frame
    numbers = [int(n) for n in frame["number"]]
    best, _ = _best(frame, selection.budgets)
    default = numbers.index(int(best["number"])) if best is not None else 0
    statuses = dict(zip(numbers, frame["status"]))
    number = st.selectbox("Trial", numbers, index=default, key="detail_trial",
                          format_func=lambda n: f"trial {n} ({statuses[n]})")
    row = frame[frame["number"] == number].iloc[0]
    extras = study.extras.get(number, {})
    cols = st.columns(5)
    metrics = [("accuracy", record.ACCURACY), ("MACs", record.MACS), ("params", record.PARAMS),
               ("latency p50", record.LATENCY_P50), ("latency p90", record.LATENCY_P90)]
    for col, (title, column) in zip(cols, metrics):
        col.metric(title, results.human(row[column], column) if column != record.ACCURACY or row[results.SCORED]
                   else "never scored")
    confirmed = results.confirmed_text(row)
    st.caption(f"State {row['state']}, status {row['status']} · accuracy {results.accuracy_text(row)}"
               + (f" · confirmed {confirmed}" if confirmed else "")
               + f" · accuracy source: {row.get(record.ACCURACY_SOURCE) or '–'} · "
               f"fvcore FLOPs {results.human(row[record.FLOPS_FVCORE])} · "
               f"peak memory {results.human(row[record.PEAK_MEMORY])}B")
    if isinstance(row.get("reason"), str) and row["reason"]:
        st.warning(f"Reason: {row['reason']}")
    if not isinstance(row.get(record.ARCH_JSON), str):
        st.info(f"Trial {number} has no stored architecture (it stopped before one was built), "
                "so there is nothing to draw.")
        return
    arch = results.arch_of(row)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Architecture, stage by stage")
        st.dataframe(figures.architecture_table(arch), hide_index=True, key="detail_arch")
        st.subheader("MACs and parameters per layer")
        st.caption("fvcore at batch 1; MACs are conv/linear multiply-accumulates, fvcore FLOPs also count BN, "
                   "pooling and element-wise ops. Depth 1 is the stem/stages/head, depth 2 a stage, depth 3 a block.")
        st.dataframe(cached_layer_table(row[record.ARCH_JSON]), hide_index=True, key="detail_layers")
    with right:
        st.subheader("Latency")
        st.dataframe(_latency_rows(row, results.target_names(frame)), hide_index=True, key="detail_latency")
        protocol = extras.get(record.LATENCY_PROTOCOL) or study.info.latency_protocol
        st.caption(f"Protocol: {results.protocol_text(protocol)}")
        if protocol:
            st.json(protocol, expanded=False)
        curve = figures.validation_curve_figure(extras.get(record.VAL_CURVE) or [])
        st.plotly_chart(curve, key="detail_curve", width="stretch")


def _latency_rows(row: pd.Series, targets: list[str]) -> pd.DataFrame:
    """The trial's latency: one row, or one per target (an unavailable one with its reason, no figures)."""
    if not targets:
        return pd.DataFrame([{
            "p50 (ms)": row[record.LATENCY_P50], "p90 (ms)": row[record.LATENCY_P90], "CV": row[record.LATENCY_CV],
            "noisy": row.get(record.LATENCY_NOISY), "device": row.get(record.DEVICE),
        }])

    def get(column: str, target: str) -> object:
        return row.get(record.target_column(column, target))

    return pd.DataFrame([{
        "target": t, "p50 (ms)": get(record.LATENCY_P50, t), "p90 (ms)": get(record.LATENCY_P90, t),
        "CV": get(record.LATENCY_CV, t), "noisy": get(record.LATENCY_NOISY, t),
        "available": get(results.TARGET_AVAILABLE, t), "reason": get(results.TARGET_REASON, t),
    } for t in targets])


def _export_command(selection: Selection, spec: str, file_name: str, by: str = "proxy") -> str:
    """The `workbench export` command line that writes the same file."""
    parts = [f"workbench export --study {selection.study}",
             f"--storage {data.mask_url(normalise_url(selection.storage))}", f"--pick {spec}"]
    if by != "proxy" and not spec.startswith("trial:"):
        parts.append(f"--by {by}")
    latency = selection.budgets.max_latency_ms
    for flag, value in (("--max-params", selection.budgets.max_params), ("--max-macs", selection.budgets.max_macs),
                        ("--max-latency-ms", None if isinstance(latency, dict) else latency)):
        if value is not None:
            parts.append(f"{flag} {value:g}")
    return " ".join([*parts, f"--out {file_name}"])


def insights_tab(study: data.StudyData, selection: Selection) -> None:
    frame, objectives = study.frame, study.objectives
    history = cached_history(selection.storage, selection.study, selection.version, study)
    st.plotly_chart(figures.hypervolume_figure(history), key="insights_hv", width="stretch")
    reference = results.reference_point(frame, objectives)
    st.caption("Scored feasible trials only, each architecture once. Reference point (in loss space: accuracy negated, "
               "costs as measured): " + ", ".join(f"{o.name}={v:.4g}" for o, v in zip(objectives, reference)))
    importances = cached_importances(selection.storage, selection.study, selection.version, study)
    st.plotly_chart(figures.importance_figure(importances), key="insights_importance", width="stretch")
    st.plotly_chart(figures.macs_latency_figure(frame), key="insights_macs_latency", width="stretch")
    st.caption("Where FLOPs stop predicting latency on this device: points far from the dotted line are "
               "architectures whose measured latency the MAC count does not explain (memory-bound depthwise convs, "
               "SE, many small layers).")


def _targets_text(settings: dict[str, dict], targets: list[str]) -> str:
    """'ort-cpu: onnxruntime fp32, 1 thread · ...' for the study's targets."""
    parts = []
    for name in targets:
        got = settings.get(name, {})
        threads = got.get("threads")
        parts.append(f"{name}: {got.get('engine', '?')} {got.get('precision', '?')} on {got.get('device', '?')}"
                     + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""))
    return " · ".join(parts)


def engines_tab(study: data.StudyData, selection: Selection) -> None:
    """Latency on one target against another (Kendall tau, front changes), and what int8 buys."""
    frame, budgets = study.frame, selection.budgets
    targets = results.target_names(frame)
    st.caption(f"Targets: {_targets_text(study.info.latency_targets, targets)}. Each architecture once; a trial a "
               "target could not time is left out of that target's figures (never drawn as 0 ms).")
    missing = engines.unavailable(frame, targets)
    if not missing.empty:
        st.warning("Not timed (target unavailable, left out): " + "; ".join(
            f"trial {r.number} on {r.target}: {r.reason}" for r in missing.itertuples()))
    if len(targets) >= 2:
        _target_pair(study, selection, targets)
    pair = engines.int8_pair(study.info.latency_targets)
    if pair is None:
        st.info("This study has no int8 target, so there is no int8 speed-up or accuracy drop to show.")
        return
    fp32, int8 = pair
    st.subheader(f"int8 on ONNX Runtime: {int8}" + (f" against {fp32}" if fp32 else ""))
    table = engines.int8_table(frame, fp32, int8)
    st.markdown(engines.speedup_text(table) + ". The int8 accuracy is the QDQ graph's own arithmetic (what any "
                "correct int8 engine computes); the drop is fp32 − int8 accuracy on the same validation images, "
                "with its 95% paired interval; " + engines.host_text(table) + ".")
    st.plotly_chart(figures.int8_figure(table, fp32, int8), key="engines_int8", width="stretch")
    st.dataframe(table, hide_index=True, key="engines_int8_table", column_config={
        c: st.column_config.NumberColumn(format="%.4f") for c in table.columns if c != "number"})
    st.plotly_chart(figures.int8_front_figure(frame, int8, budgets), key="engines_int8_front", width="stretch")
    front = engines.int8_front(frame, int8, budgets)
    st.markdown(f"**int8 front** (int8 accuracy vs {results.label(engines.p50(int8))}, within the budgets): "
                + (", ".join(str(int(n)) for n in front["number"]) or "none"))


def _target_pair(study: data.StudyData, selection: Selection, targets: list[str]) -> None:
    """The two targets the user picks, one against the other, with tau and the front changes."""
    st.subheader("One target against another")
    left, right = st.columns(2)
    first = left.selectbox("Target on the x axis", targets, index=0, key="engines_first")
    second = right.selectbox("Target on the y axis", targets, index=1, key="engines_second")
    if first == second:
        st.info("Pick two different targets to compare.")
        return
    budgets = selection.budgets
    limits = tuple(sorted(budgets.limits().items()))
    agreement, changes = cached_engine_pair(selection.storage, selection.study, selection.version, first, second,
                                            limits, study, budgets)
    st.plotly_chart(figures.latency_pair_figure(study.frame, changes, agreement), key="engines_pair",
                    width="stretch")
    st.markdown(f"**Rank agreement** of {first} and {second}: {engines.agreement_text(agreement)}.")
    st.markdown(f"**Front membership** (accuracy vs latency p50, within the budgets): {engines.changes_text(changes)}.")
    changed = study.frame[study.frame["number"].isin(changes.changed)]
    if not changed.empty:
        rows = changed.assign(on_front_of=[first if int(n) in changes.only_first else second
                                           for n in changed["number"]])
        st.dataframe(rows[["number", "on_front_of", record.ACCURACY, engines.p50(first), engines.p50(second)]],
                     hide_index=True, key="engines_changed", column_config=_NUMBER_FORMATS)


def compare_tab(study: data.StudyData, selection: Selection) -> None:
    others = [n for n in selection.catalog["study"] if n != selection.study]
    chosen = st.multiselect("Studies to compare with this one", others, key="compare_studies",
                            placeholder="pick studies from the same storage")
    cost = st.selectbox("Cost axis", cost_axes(study.frame), format_func=axis_label(study.frame), key="compare_cost")
    fronts, rows = {}, []
    for name in [selection.study, *chosen]:
        other = study if name == selection.study else \
            cached_snapshot(selection.storage, name, data.catalog_counts(selection.catalog, name)).study
        axes = figures.axis_objectives(other.objectives, cost)
        # A study that never timed this target has no front on it (not a front at 0 ms).
        front = results.pareto_front(other.frame, axes, selection.budgets) if cost in other.frame \
            else other.frame.head(0)
        fronts[name] = front
        best = front.sort_values(record.ACCURACY, ascending=False).iloc[0] if not front.empty else None
        rows.append({"study": name, "trials": len(other.frame), "front size": len(front),
                     "best accuracy": None if best is None else best[record.ACCURACY],
                     f"its {results.label(cost)}": None if best is None else best[cost],
                     "device": other.info.device})
    st.plotly_chart(figures.compare_figure(fronts, cost), key="compare_chart", width="stretch")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="compare_table")
    if not chosen:
        st.caption("Pick other studies above to put their fronts beside this one's "
                   "(budgets from the sidebar apply to all).")


def export_tab(study: data.StudyData, selection: Selection) -> None:
    frame = study.frame
    choice = st.radio("Export", list(PICKS), horizontal=True, key="export_pick")
    fmt = st.radio("Format", EXPORT_FORMATS, horizontal=True, key="export_format")
    spec = PICKS[choice]
    by = "proxy"
    if spec != "trial" and results.has_confirmed(frame):
        by = st.radio("Rank by", list(results.BY_CHOICES), horizontal=True, key="export_by",
                      format_func=lambda b: f"{b} accuracy",
                      help="`confirmed` ranks on the accuracy `workbench confirm` measured; "
                           "unconfirmed trials are left out.")
    if spec == "trial":
        built = [int(n) for n in frame.loc[frame[record.ARCH_JSON].notna(), "number"]] \
            if record.ARCH_JSON in frame else []
        if not built:
            st.info("No trial of this study has a stored architecture to export.")
            return
        spec = f"trial:{st.selectbox('Trial to export', built, key='export_trial')}"
    try:
        budgets = None if spec.startswith("trial:") else selection.budgets
        row = results.pick(frame, spec, study.objectives, budgets, by=by)
    except WorkbenchError as error:
        st.warning(f"Nothing to export: {error}. Loosen the budgets or pick a trial by number.")
        return
    number = int(row["number"])
    st.markdown(f"**Exporting** {results.pick_text(row, by, frame.attrs.get('headline_target'))}")
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
    per_target = selection.budgets.max_latency_ms if isinstance(selection.budgets.max_latency_ms, dict) else None
    st.caption(f"The same file as `{_export_command(selection, spec, file_name, by)}` (up to its `exported_at` time"
               + (f"; the per-target latency budgets {per_target} are not on its command line: `workbench export` "
                  "takes them from the study's stored budgets" if per_target and not spec.startswith("trial:")
                  else "")
               + f"); train it with `workbench train --config {file_name}`.")
    st.code(text, language=fmt)
