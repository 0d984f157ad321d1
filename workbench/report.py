"""`write_report`: a study as files that open anywhere, offline.

Writes into one folder (default `reports/<study>/`):

* `index.html` — self-contained: the plotly figures of `workbench.figures`, as the dashboard
  draws them (Pareto fronts for each cost,
  the 3-D front of a three-objective study, hypervolume history, knob importance, MACs against
  latency), a table of the Pareto trials, and the study's space, dataset, device and latency
  protocol. plotly.js is embedded once, inline, so the page needs no network;
* `trials.csv` — every trial (`results.trials_frame`, with Optuna's trial `number`);
* `pareto.csv` — the Pareto trials of the study's objectives (scored trials only, each
  architecture once), same columns, with the accuracy's interval and any confirmation;
* `summary.md` — the study's seed noise and proxy fidelity (Kendall tau) where measured,
  trials by state and by status (never-scored ones counted apart), the best trial under each
  budget (with the trials it is tied with within noise), and the knee.

A study timed on several latency targets (or on int8) also gets an Engines section in both
files (`report_engines`): each pair of targets' Kendall tau and front changes, the int8
speed-up and accuracy drop per architecture, and the int8 front, as the dashboard shows them.

Everything is read through `workbench.results` and drawn by `workbench.figures` (never the
dashboard); every file is written atomically.

Example:
    >>> paths = write_report("digits")  # doctest: +SKIP
    >>> paths.html  # doctest: +SKIP
    PosixPath('reports/digits/index.html')
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from workbench import __version__, figures, record, report_engines, results
from workbench.config.io import write_text_atomic
from workbench.errors import WorkbenchError
from workbench.outputs import check_outputs, claim
from workbench.record import Budgets
from workbench.results import StudyInfo, best_text, fidelity_text, human, noise_text, protocol_text, trial_text

DEFAULT_ROOT = Path("reports")
# Columns of the Pareto table in the HTML page and summary (knobs are appended).
_TABLE_COLUMNS = ("number", record.ACCURACY, record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD,
                  record.CONFIRMED_ACCURACY, record.CONFIRMED_SD, record.PARAMS, record.MACS, record.FLOPS_FVCORE,
                  record.LATENCY_P50, record.LATENCY_P90, record.ACCURACY_SOURCE)
# Columns the table leaves out when no trial has them (an old study, nothing confirmed yet).
_OPTIONAL_COLUMNS = (record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD, record.CONFIRMED_ACCURACY,
                     record.CONFIRMED_SD)


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
    """The report's key facts: the best trial under each budget and the knee.

    A found best's note names the trials tied with it within noise ('' when none is); a
    missing one's says why nothing was found."""

    states: dict[str, int]
    best: list[tuple[str, pd.Series | None, str]]   # (budget description, row or None, note)
    knee: pd.Series | None
    knee_note: str
    statuses: dict[str, int] = field(default_factory=dict)   # by workbench status, never-scored ones marked
    confirmed: tuple[pd.Series | None, str] | None = None     # best on confirmed accuracy (None: nothing confirmed)
    target: str | None = None  # the latency target every headline names (`results.headline_target`)


def write_report(study_name: str, storage: str | None = None, out: str | Path | None = None,
                 force: bool = False) -> ReportPaths:
    """Write the report of a study to `out` (default `reports/<study>/`); return the paths.

    Raises:
        WorkbenchError: the study cannot be read, or a report file exists that the workbench did
            not write (unless `force`), or the folder cannot be written.
    """
    folder = Path(out) if out is not None else DEFAULT_ROOT / report_folder_name(study_name)
    paths = ReportPaths(folder, folder / "index.html", folder / "trials.csv", folder / "pareto.csv",
                        folder / "summary.md")
    files = (paths.trials_csv, paths.pareto_csv, paths.summary_md, paths.html)
    check_outputs(folder, [path.name for path in files], flag="--out", force=force)
    study, frame = results.open_results(study_name, storage)
    info = results.study_info(study)
    front = results.pareto_front(frame, info.objectives)
    headline = headline_of(frame, info)
    view = report_engines.engines_view(frame, info)
    texts = (csv_text(frame), csv_text(front), summary_markdown(info, frame, headline, view),
             report_html(study, info, frame, front, headline, view))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in zip(files, texts):
            write_text_atomic(path, text)
            claim(path)
    except OSError as error:
        raise WorkbenchError(f"{folder}: cannot write the report ({error.strerror or error})") from error
    return paths


def report_folder_name(name: str) -> str:
    """A folder name for a study's report: the name itself when it is a plain, visible file
    name of at most 100 characters; otherwise its first 100 safe characters (never a leading
    dot) plus 8 hex digits of its sha256, so two names never share a folder.

    Example:
        >>> report_folder_name("digits"), report_folder_name("../../x"), report_folder_name(".._.._x")
        ('digits', 'x-9cdf6a50', 'x-4fef7a19')
    """
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip("._")[:100] or "study"
    if slug == name:
        return slug
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV with whole-number columns written as integers (`943551`, not
    `943551.0`; missing values stay empty)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype.kind == "f" and values.notna().any() and (values.dropna() % 1 == 0).all() \
                and values.dropna().abs().max() < 2 ** 53:
            out[column] = values.astype("Int64")
    return out.to_csv(index=False)


# --- the headline ------------------------------------------------------------------------

def budget_variants(budgets: Budgets) -> list[Budgets]:
    """No budget, each of the study's budgets alone, and all of them together."""
    variants = [Budgets()]
    single = [Budgets(**{k: v}) for k, v in budgets.limits().items()]
    variants += single
    if len(single) > 1:
        variants.append(budgets)
    return variants


def headline_of(frame: pd.DataFrame, info: StudyInfo) -> Headline:
    """The best-accuracy trial under each budget variant (ties within noise going to the
    cheaper trial, and named), and the knee under the study's budgets."""
    best: list[tuple[str, pd.Series | None, str]] = []
    has_accuracy = any(o.column == record.ACCURACY for o in info.objectives)
    for budgets in budget_variants(info.budgets):
        if not has_accuracy:
            break
        try:
            row = results.pick_best_accuracy(frame, budgets)
            best.append((budgets.describe(), row, results.tie_note(frame, budgets, int(row["number"]))))
        except WorkbenchError as error:
            best.append((budgets.describe(), None, str(error)))
    try:
        knee, knee_note = results.pick_knee(frame, info.objectives, info.budgets), ""
    except WorkbenchError as error:
        knee, knee_note = None, str(error)
    return Headline(dict(sorted(info.states.items())), best, knee, knee_note, results.status_counts(frame),
                    _confirmed_best(frame, info) if has_accuracy else None, frame.attrs.get("headline_target"))


def _confirmed_best(frame: pd.DataFrame, info: StudyInfo) -> tuple[pd.Series | None, str] | None:
    """The best trial on confirmed accuracy under the study's budgets, once anything is confirmed."""
    if not results.has_confirmed(frame):
        return None
    try:
        return results.pick_best_accuracy(frame, info.budgets, by="confirmed"), ""
    except WorkbenchError as error:
        return None, str(error)


def summary_markdown(info: StudyInfo, frame: pd.DataFrame, headline: Headline,
                     view: report_engines.EnginesView | None = None) -> str:
    """The headline as Markdown (and the Engines section, given its `view`)."""
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in info.objectives)
    lines = [
        f"# Study `{info.name}`", "",
        f"- objectives: {objectives}",
        f"- accuracy source: {accuracy_sources_text(frame)}",
        f"- dataset: {info.dataset or '–'}; device: {info.device or '–'}; space: {info.space_file or '–'}",
        f"- latency protocol: {protocol_text(info.latency_protocol)}",
        f"- budgets: {info.budgets.describe()}",
        f"- seed noise of the proxy accuracy: {noise_text(info)}",
        f"- proxy-to-confirmed ranking (fidelity): {fidelity_text(info)}",
        "- macs = conv/linear multiply-accumulates (the GhostNet paper's \"FLOPs\"); flops_fvcore = fvcore's total",
        "- accuracies are validation figures with their 95% interval; two within noise of each other are a tie, "
        "and a tie goes to the cheaper trial", "",
        "## Trials by state", "", "| state | trials |", "| --- | ---: |",
        *(f"| {state} | {count} |" for state, count in headline.states.items()),
        f"| **total** | **{info.n_trials}** |", "", complete_note(headline.statuses), "",
        "## Trials by status", "", "| status | trials |", "| --- | ---: |",
        *(f"| {status} | {count} |" for status, count in headline.statuses.items()), "",
        "## Best trial under each budget", "",
    ]
    if headline.best:
        lines += ["| budgets | best trial |", "| --- | --- |"]
        lines += [f"| {name} | {best_text(row, note, headline.target)} |" for name, row, note in headline.best]
    else:
        lines.append("The study has no accuracy objective.")
    if headline.confirmed is not None:
        row, note = headline.confirmed
        lines += ["", "## Best on confirmed accuracy", "",
                  f"Within {info.budgets.describe()}, ranked on `workbench confirm`'s longer runs: "
                  + (trial_text(row, headline.target) if row is not None else note)]
    ladder = results.rung_table(frame, info.objectives)
    if ladder:
        lines += ["", "## Fidelity ladder", "", "Fronts, picks and the knee use the top rung; lower rungs hold more, "
                  "shorter-trained candidates.", "",
                  "| rung | architectures scored | went on | median accuracy | front |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        lines += [_rung_row(row) for row in ladder]
    lines += ["", "## Knee of the Pareto front", "",
              f"Within {info.budgets.describe()}: "
              + (trial_text(headline.knee, headline.target) if headline.knee is not None else headline.knee_note),
              "", f"Pareto trials: {len(results.pareto_front(frame, info.objectives))} "
                  "(scored trials, each architecture "
                  f"once; see `pareto.csv`); every trial in `trials.csv`.", ""]
    if view is not None:
        lines.append(report_engines.markdown(view))
    return "\n".join(lines)


def accuracy_sources_text(frame: pd.DataFrame) -> str:
    """The study's accuracy sources, saying so when one is a supernet's inherited weights.

    Example:
        >>> accuracy_sources_text(pd.DataFrame({"accuracy_source": ["proxy-train:3ep", None]}))
        'proxy-train:3ep'
    """
    sources = sorted({s for s in frame.get(record.ACCURACY_SOURCE, []) if isinstance(s, str) and s})
    text = ", ".join(sources) or "–"
    if any(source.startswith("supernet") for source in sources):
        text += ": inherited from a supernet, never trained (`workbench confirm` trains the front from scratch)"
    return text


def complete_note(statuses: dict[str, int]) -> str:
    """What Optuna's COMPLETE state holds besides scored trials: over-budget trials (marked
    infeasible, never trained) and reused copies.

    Example:
        >>> print(complete_note({"complete": 5, "rejected (never scored)": 2}))
        Optuna's COMPLETE includes 2 rejected over budget (never scored); see the statuses below.
        >>> len(complete_note({"complete": 5, "rejected (never scored)": 2, "reused": 1}).split(" and "))
        2
    """
    parts = []
    rejected = sum(count for name, count in statuses.items() if name.startswith("rejected"))
    reused = sum(count for name, count in statuses.items() if name.startswith("reused"))
    if rejected:
        parts.append(f"{rejected} rejected over budget (never scored)")
    if reused:
        parts.append(f"{reused} reused (a copy of an earlier trial of the same architecture)")
    if not parts:
        return "Every COMPLETE trial was scored."
    return f"Optuna's COMPLETE includes {' and '.join(parts)}; see the statuses below."


def _rung_row(row: dict[str, Any]) -> str:
    went_on = "–" if row["promoted"] is None else str(row["promoted"])
    median = "–" if row["median_accuracy"] is None else f"{row['median_accuracy']:.4f}"
    return f"| {row['rung']:g} | {row['scored']} | {went_on} | {median} | {row['front']} |"


# --- the HTML page -------------------------------------------------------------------------

def _figures(study: optuna.Study, info: StudyInfo, frame: pd.DataFrame) -> list[tuple[str, Any]]:
    frame = frame.copy()
    frame.attrs["latency_protocol"] = info.latency_protocol
    out: list[tuple[str, Any]] = []
    costs = [o.column for o in info.objectives if o.direction == "minimize"]
    # With latency targets, one chart per target (the plain latency is the first target's again).
    timed = [record.target_column(record.LATENCY_P50, t) for t in results.target_names(frame)]
    for column in (record.MACS, record.PARAMS, *(timed or [record.LATENCY_P50])):
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
        out.append((f"Accuracy vs {results.label(column)}", fig))
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
    columns = [c for c in _TABLE_COLUMNS
               if c in front and (c not in _OPTIONAL_COLUMNS or front[c].notna().any())] + knobs
    head = "".join(f"<th>{html.escape(c[len(results.KNOB_PREFIX):] if c in knobs else c)}</th>" for c in columns)
    rows = []
    for _, row in front.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            text = str(int(value)) if column == "number" else str(value) if column in knobs else human(value, column)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _facts_html(info: StudyInfo, headline: Headline) -> str:
    facts = [
        ("objectives", ", ".join(f"{o.name} ({o.direction})" for o in info.objectives)),
        ("dataset", info.dataset or "–"), ("device", info.device or "–"), ("space file", info.space_file or "–"),
        ("latency protocol", protocol_text(info.latency_protocol)), ("budgets", info.budgets.describe()),
        ("seed noise", noise_text(info)), ("proxy fidelity", fidelity_text(info)),
        ("trials", ", ".join(f"{k.lower()}: {v}" for k, v in headline.states.items()) + f" (total {info.n_trials})"),
        ("by status", ", ".join(f"{k}: {v}" for k, v in headline.statuses.items()) or "–"),
        ("knee", trial_text(headline.knee, headline.target) if headline.knee is not None else headline.knee_note),
    ]
    facts += [(f"best within {name}", best_text(row, note, headline.target)) for name, row, note in headline.best]
    if headline.confirmed is not None:
        row, note = headline.confirmed
        facts.append(("best on confirmed accuracy", trial_text(row, headline.target) if row is not None else note))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f"<table class='facts'>{rows}</table>"


def _space_html(info: StudyInfo) -> str:
    space = info.attrs.get(record.STUDY_SPACE)
    if not space:
        return "<p>The study did not store its search space.</p>"
    text = json.dumps(space, indent=2, default=str)
    return (f"<details><summary>Search space (as stored with the study)</summary><pre>{html.escape(text)}</pre>"
            "</details>")


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
thead th{background:#f4f6fa}.facts th{background:#f4f6fa;white-space:nowrap}
pre{background:#f8f8f8;padding:.8rem;overflow:auto}
.note{color:#666;font-size:.85rem}
"""


def report_html(study: optuna.Study, info: StudyInfo, frame: pd.DataFrame, front: pd.DataFrame,
                headline: Headline, view: report_engines.EnginesView | None = None) -> str:
    """The self-contained page: plotly.js inline once, then every figure as a div (the Engines
    section's tables and figures last, given its `view`)."""
    drawn = _figures(study, info, frame)
    engines_from = len(drawn)
    if view is not None:
        drawn += report_engines.figures_of(view, frame, info)
    sections = []
    for i, (title, fig) in enumerate(drawn):
        body = fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False,
                           config={"displaylogo": False, "responsive": True})
        if i == engines_from and view is not None:
            sections.append(report_engines.html_tables(view))
        level = 3 if i >= engines_from else 2  # the Engines figures sit under its heading
        sections.append(f"<h{level}>{html.escape(title)}</h{level}>\n{body}")
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
