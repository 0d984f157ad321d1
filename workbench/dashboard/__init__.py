"""The Streamlit dashboard over `workbench.results` and `workbench.figures` (`streamlit run app.py`).

* `page` — the page: sidebar (storage, study, auto-refresh, budgets), header, the open tab;
* `tabs` — one function per tab (Pareto front, trials, trial detail, insights, compare, export);
* `cached` — the Streamlit caches, keyed on the storage, the study and its version;
* `cache` — a study read in full once, then only its new and unfinished trials;
* `data` — loading a study once (read-only, then released), the storage and study to open;
* `paging` — the trial table filtered, sorted and paged on the server.

The figures and tables are `workbench.figures`'s, the sentences `workbench.results.text`'s.
"""
