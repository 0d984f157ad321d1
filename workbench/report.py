"""`write_report`: a study as files that open anywhere, offline.

Writes into one folder (default `reports/<study>/`):

* `index.html` — self-contained: the dashboard's plotly figures (Pareto fronts for each cost,
  the 3-D front of a three-objective study, hypervolume history, knob importance, MACs against
  latency), a table of the Pareto trials, and the study's space, dataset, device and latency
  protocol. plotly.js is embedded once, inline, so the page needs no network;
* `trials.csv` — every trial (`results.trials_frame`, with Optuna's trial `number`);
* `pareto.csv` — the Pareto trials of the study's objectives, same columns;
* `summary.md` — trials by state, the best trial under each budget, and the knee.

Everything is read through `workbench.results`; every file is written atomically.

Example:
    >>> paths = write_report("digits")  # doctest: +SKIP
    >>> paths.html  # doctest: +SKIP
    PosixPath('reports/digits/index.html')
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import optuna
import pandas as pd

from workbench import __version__, record, results
from workbench.config.io import write_text_atomic
from workbench.errors import WorkbenchError
from workbench.record import Objective
from workbench.results import Budgets, StudyInfo

DEFAULT_ROOT = Path("reports")
# Columns of the Pareto table in the HTML page and summary (knobs are appended).
_TABLE_COLUMNS = ("number", record.ACCURACY, record.PARAMS, record.MACS, record.FLOPS_FVCORE,
                  record.LATENCY_P50, record.LATENCY_P90, record.ACCURACY_SOURCE)


@dataclass(frozen=True)
class ReportPaths:
    """The files one report wrote."""

    folder: Path
    html: Path
    trials_csv: Path
    pareto_csv: Path
    summary_md: Path


@dataclass(frozen=True)
class Headline:
    """The report's key facts: the best trial under each budget and the knee."""

    states: dict[str, int]
    best: list[tuple[str, pd.Series | None, str]]   # (budget description, row or None, note)
    knee: pd.Series | None
    knee_note: str


def write_report(study_name: str, storage: str | None = None, out: str | Path | None = None) -> ReportPaths:
    """Write the report of a study to `out` (default `reports/<study>/`); return the paths."""
    study, frame = results.open_results(study_name, storage)
    info = results.study_info(study)
    folder = Path(out) if out is not None else DEFAULT_ROOT / _safe_name(study_name)
    front = results.pareto_front(frame, info.objectives)
    headline = headline_of(frame, info)
    paths = ReportPaths(folder, folder / "index.html", folder / "trials.csv", folder / "pareto.csv", folder / "summary.md")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(paths.trials_csv, frame.to_csv(index=False))
        write_text_atomic(paths.pareto_csv, front.to_csv(index=False))
        write_text_atomic(paths.summary_md, summary_markdown(info, frame, headline))
        write_text_atomic(paths.html, report_html(study, info, frame, front, headline))
    except OSError as error:
        raise WorkbenchError(f"{folder}: cannot write the report ({error.strerror or error})") from error
    return paths


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"


# --- the headline ------------------------------------------------------------------------

def budget_variants(budgets: Budgets) -> list[Budgets]:
    """No budget, each of the study's budgets alone, and all of them together."""
    variants = [Budgets()]
    single = [Budgets(**{k: v}) for k, v in asdict(budgets).items() if v is not None]
    variants += single
    if len(single) > 1:
        variants.append(budgets)
    return variants


def headline_of(frame: pd.DataFrame, info: StudyInfo) -> Headline:
    """The best-accuracy trial under each budget variant, and the knee under the study's budgets."""
    best: list[tuple[str, pd.Series | None, str]] = []
    has_accuracy = any(o.column == record.ACCURACY for o in info.objectives)
    for budgets in budget_variants(info.budgets):
        if not has_accuracy:
            break
        try:
            best.append((budgets.describe(), results.pick_best_accuracy(frame, budgets), ""))
        except WorkbenchError as error:
            best.append((budgets.describe(), None, str(error)))
    try:
        knee, knee_note = results.pick_knee(frame, info.objectives, info.budgets), ""
    except WorkbenchError as error:
        knee, knee_note = None, str(error)
    return Headline(dict(sorted(info.states.items())), best, knee, knee_note)


def _fmt(value: Any, column: str = "") -> str:
    from workbench.dashboard.figures import human

    return human(value, column)


def _row_text(row: pd.Series) -> str:
    return (f"trial {int(row['number'])}: accuracy {_fmt(row.get(record.ACCURACY), record.ACCURACY)}, "
            f"{_fmt(row.get(record.MACS))} MACs, {_fmt(row.get(record.PARAMS))} params, "
            f"latency p50 {_fmt(row.get(record.LATENCY_P50), record.LATENCY_P50)}")


def summary_markdown(info: StudyInfo, frame: pd.DataFrame, headline: Headline) -> str:
    """The headline as Markdown."""
    from workbench.dashboard.figures import protocol_text

    objectives = ", ".join(f"{o.name} ({o.direction})" for o in info.objectives)
    lines = [
        f"# Study `{info.name}`", "",
        f"- objectives: {objectives}",
        f"- dataset: {info.dataset or '–'}; device: {info.device or '–'}; space: {info.space_file or '–'}",
        f"- latency protocol: {protocol_text(info.latency_protocol)}",
        f"- budgets: {info.budgets.describe()}",
        f"- macs = conv/linear multiply-accumulates (the GhostNet paper's \"FLOPs\"); flops_fvcore = fvcore's total", "",
        "## Trials by state", "", "| state | trials |", "| --- | ---: |",
        *(f"| {state} | {count} |" for state, count in headline.states.items()),
        f"| **total** | **{info.n_trials}** |", "",
        "## Best trial under each budget", "",
    ]
    if headline.best:
        lines += ["| budgets | best trial |", "| --- | --- |"]
        lines += [f"| {name} | {_row_text(row) if row is not None else note} |" for name, row, note in headline.best]
    else:
        lines.append("The study has no accuracy objective.")
    lines += ["", "## Knee of the Pareto front", "",
              f"Within {info.budgets.describe()}: "
              + (_row_text(headline.knee) if headline.knee is not None else headline.knee_note),
              "", f"Pareto trials: {len(results.pareto_front(frame, info.objectives))} (see `pareto.csv`); "
                  f"every trial in `trials.csv`.", ""]
    return "\n".join(lines)


# --- the HTML page -------------------------------------------------------------------------

def _figures(study: optuna.Study, info: StudyInfo, frame: pd.DataFrame) -> list[tuple[str, Any]]:
    from workbench.dashboard import figures

    frame = frame.copy()
    frame.attrs["latency_protocol"] = info.latency_protocol
    out: list[tuple[str, Any]] = []
    costs = [o.column for o in info.objectives if o.direction == "minimize"]
    for column in (record.MACS, record.PARAMS, record.LATENCY_P50):
        if column not in costs and column in frame and frame[column].notna().any():
            costs.append(column)
    has_accuracy = record.ACCURACY in frame and frame[record.ACCURACY].notna().any()
    highlight = None
    if has_accuracy:
        try:
            highlight = int(results.pick_knee(frame, info.objectives, info.budgets)["number"])
        except WorkbenchError:
            highlight = None
    for column in costs if has_accuracy else []:
        fig = figures.pareto_figure(frame, info.objectives, column, budgets=info.budgets, highlight=highlight,
                                    protocol=info.latency_protocol)
        out.append((f"Accuracy vs {figures.label(column)}", fig))
    if len(info.objectives) == 3:
        out.append(("Three objectives", figures.pareto_3d_figure(frame, info.objectives, info.budgets)))
    out.append(("Hypervolume", figures.hypervolume_figure(results.hypervolume_history(frame, info.objectives))))
    importances = {o.name: results.param_importances(study, o) for o in info.objectives}
    out.append(("Knob importance", figures.importance_figure(importances)))
    out.append(("MACs vs latency", figures.macs_latency_figure(frame)))
    return out


def _table_html(front: pd.DataFrame) -> str:
    if front.empty:
        return "<p>No feasible completed trial yet.</p>"
    knobs = [c for c in front.columns if c.startswith(results.KNOB_PREFIX)]
    columns = [c for c in _TABLE_COLUMNS if c in front] + knobs
    head = "".join(f"<th>{html.escape(c[len(results.KNOB_PREFIX):] if c in knobs else c)}</th>" for c in columns)
    rows = []
    for _, row in front.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            text = str(int(value)) if column == "number" else _fmt(value, column) if column not in knobs else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _facts_html(info: StudyInfo, headline: Headline) -> str:
    from workbench.dashboard.figures import protocol_text

    facts = [
        ("objectives", ", ".join(f"{o.name} ({o.direction})" for o in info.objectives)),
        ("dataset", info.dataset or "–"), ("device", info.device or "–"), ("space file", info.space_file or "–"),
        ("latency protocol", protocol_text(info.latency_protocol)), ("budgets", info.budgets.describe()),
        ("trials", ", ".join(f"{k.lower()}: {v}" for k, v in headline.states.items()) + f" (total {info.n_trials})"),
        ("knee", _row_text(headline.knee) if headline.knee is not None else headline.knee_note),
    ]
    facts += [(f"best within {name}", _row_text(row) if row is not None else note) for name, row, note in headline.best]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f"<table class='facts'>{rows}</table>"


def _space_html(info: StudyInfo) -> str:
    space = info.attrs.get(record.STUDY_SPACE)
    if not space:
        return "<p>The study did not store its search space.</p>"
    text = json.dumps(space, indent=2, default=str)
    return f"<details><summary>Search space (as stored with the study)</summary><pre>{html.escape(text)}</pre></details>"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
thead th{background:#f4f6fa}.facts th{background:#f4f6fa;white-space:nowrap}pre{background:#f8f8f8;padding:.8rem;overflow:auto}
.note{color:#666;font-size:.85rem}
"""


def report_html(study: optuna.Study, info: StudyInfo, frame: pd.DataFrame, front: pd.DataFrame, headline: Headline) -> str:
    """The self-contained page: plotly.js inline once, then every figure as a div."""
    sections = []
    for i, (title, fig) in enumerate(_figures(study, info, frame)):
        body = fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False,
                           config={"displaylogo": False, "responsive": True})
        sections.append(f"<h2>{html.escape(title)}</h2>\n{body}")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    name = html.escape(info.name)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Study {name} — GhostNet Workbench report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body>
<h1>Study <code>{name}</code></h1>
<p class="note">GhostNet Workbench {html.escape(__version__)} report, written {stamp}. MACs are conv/linear
multiply-accumulates (the GhostNet paper's "FLOPs"); fvcore FLOPs are fvcore's total; latency is milliseconds
per batch under the stated protocol.</p>
<h2>Study</h2>
{_facts_html(info, headline)}
{_space_html(info)}
<h2>Pareto trials ({len(front)})</h2>
{_table_html(front)}
{''.join(sections)}
</body></html>
"""
