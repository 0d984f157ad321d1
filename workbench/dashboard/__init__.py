"""The Streamlit dashboard over `workbench.results` (`streamlit run app.py`).

* `pareto` — the accuracy-versus-cost charts: scored trials with their intervals, the band of
  accuracies tied with the best, never-scored trials in a strip on the cost axis;
* `figures` — the other plotly figure builders (also used by the HTML report), re-exporting
  `pareto`'s and `common`'s;
* `common` — display names, readable numbers, the study's noise facts and hover texts;
* `tables` — the architecture stage by stage and the per-layer MACs/params breakdown;
* `data` — loading a study once (read-only, then released) and the plain messages for
  empty and broken storages;
* `cache` — a study read in full once, then only its new and unfinished trials;
* `scale` — WebGL past a few hundred points, a labelled sample of the dominated cloud;
* `hypervolume` — the hypervolume history, fast at 10,000 trials;
* `paging` — the trial table filtered, sorted and paged on the server;
* `views` — the page: sidebar and tabs (only the open tab is built).
"""
