"""The dashboard's Streamlit caches: the study list, the study (read incrementally, see `cache`),
and what a tab derives from the study, keyed on the study's version so a new trial refreshes it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench import figures, record, results
from workbench.dashboard import cache, data, paging
from workbench.record import Budgets
from workbench.results import engines

CATALOG_TTL_S = 5          # how stale the study list and trial counts may be
STUDY_TTL_S = 120          # a loaded study is also keyed on its trial counts; past this it is refreshed


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
    return results.hypervolume_history(_study.frame, _study.objectives)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_search_text(storage: str, name: str, version: int, _study: data.StudyData) -> pd.Series:
    return paging.search_text(_study.frame)


@st.cache_data(max_entries=32, show_spinner="Comparing the targets…")
def cached_engine_pair(storage: str, name: str, version: int, first: str, second: str,
                       limits: tuple[tuple[str, float], ...], _study: data.StudyData,
                       _budgets: Budgets) -> tuple[engines.Agreement, engines.FrontChanges]:
    """Kendall tau (bootstrapped) and the front changes of two targets; `limits` keys the budgets."""
    frame = _study.frame
    return engines.latency_agreement(frame, first, second), engines.front_changes(frame, first, second, _budgets)


@st.cache_data(max_entries=64, show_spinner="Counting MACs per layer…")
def cached_layer_table(arch_json: str) -> pd.DataFrame:
    return figures.layer_table(results.arch_of(pd.Series({record.ARCH_JSON: arch_json})))


@st.cache_data(ttl=STUDY_TTL_S, max_entries=32, show_spinner="Building the export…")
def cached_export(storage: str, name: str, number: int, spec: str,
                  budgets: tuple[float | None, float | None, float | None],
                  fmt: str, version: int, _row: pd.Series, by: str = "proxy") -> str:
    """The text `workbench export --pick SPEC --max-*` writes for this trial (same code path;
    `_row` is the trial's row of the cached frame, so only the study's attributes and that
    one trial are read again)."""
    from workbench.config.io import dump_model
    from workbench.export import build_export
    from workbench.storage import load_study, study_storage

    study = load_study(name, storage)
    try:
        limits = Budgets(**dict(zip(Budgets.model_fields, budgets)))
        config = build_export(study, _row, pick=spec, budgets=limits, by=by)
    finally:
        data.release(study_storage(study))
    return dump_model(config, fmt=fmt)

