"""The Streamlit dashboard over `workbench.results` (`streamlit run app.py`).

* `figures` — plotly figure builders (also used by the HTML report);
* `tables` — the architecture stage by stage and the per-layer MACs/params breakdown;
* `data` — loading a study once (read-only, then released) and the plain messages for
  empty and broken storages;
* `views` — the page: sidebar and tabs.
"""
