"""The report's Engines section, for a study timed on several latency targets or on int8.

`engines_view` computes it once from the trials frame (through `workbench.results.engines`):
every pair of targets with its Kendall tau and front changes, the int8 table and the int8
front; `markdown` and `html` write it, and `figures_of` draws it with `workbench.figures`, the
same charts as the dashboard's Engines tab. Fronts honour the study's stored budgets.

Example:
    >>> view = engines_view(frame, info)  # doctest: +SKIP
    >>> print(markdown(view))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench import figures, results
from workbench.results import StudyInfo, engines, human
from workbench.results.engines import Agreement, FrontChanges


@dataclass(frozen=True)
class EnginesView:
    """What the Engines section shows (see the module docstring)."""

    targets: list[str]
    settings: dict[str, dict[str, Any]]
    missing: pd.DataFrame
    pairs: list[tuple[Agreement, FrontChanges]]
    int8: tuple[str | None, str] | None
    int8_table: pd.DataFrame | None
    int8_front: list[int]


def engines_view(frame: pd.DataFrame, info: StudyInfo) -> EnginesView | None:
    """The section's figures, or None for a study with fewer than two targets and no int8."""
    targets = results.target_names(frame)
    pair = engines.int8_pair(info.latency_targets)
    if len(targets) < 2 and pair is None:
        return None
    pairs = [(engines.latency_agreement(frame, a, b), engines.front_changes(frame, a, b, info.budgets))
             for a, b in itertools.combinations(targets, 2)]
    table = engines.int8_table(frame, *pair) if pair else None
    front = [int(n) for n in engines.int8_front(frame, pair[1], info.budgets)["number"]] if pair else []
    return EnginesView(targets, info.latency_targets, engines.unavailable(frame, targets), pairs, pair, table, front)


def _target_line(name: str, settings: dict[str, Any]) -> str:
    threads = settings.get("threads")
    return (f"{name}: {settings.get('engine', '?')} {settings.get('precision', '?')} on {settings.get('device', '?')}"
            + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""))


def _trials(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers)) or "none"


def _tau(agreement: Agreement) -> str:
    if agreement.tau != agreement.tau:  # NaN: too few architectures
        return "–"
    return f"{agreement.tau:.2f} [{agreement.low:.2f}, {agreement.high:.2f}]"


def _pair_rows(view: EnginesView) -> list[list[str]]:
    return [[a.first, a.second, _tau(a), str(a.n), str(c.pool), _trials(c.only_first), _trials(c.only_second),
             _trials(c.both)] for a, c in view.pairs]


_PAIR_HEAD = ["x target", "y target", "Kendall tau [95% interval]", "timed on both", "scored, compared",
              "front on x only", "front on y only", "front on both"]
_INT8_HEAD = ["trial", "fp32 p50", "int8 p50", "speed-up", "int8 accuracy (QDQ graph) [95%]",
              "drop (fp32 - int8) [95%]", "host kernels' int8 accuracy", "host - QDQ [95%]"]


def _int8_rows(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for row in table.to_dict("records"):
        speed = row[engines.SPEEDUP]
        rows.append([str(int(row["number"])), human(row["fp32_p50_ms"], "latency_p50_ms"),
                     human(row["int8_p50_ms"], "latency_p50_ms"), "–" if speed != speed else f"{speed:.2f}×",
                     _interval(row, "int8_accuracy", "int8_ci_low", "int8_ci_high"),
                     _interval(row, "int8_drop", "int8_drop_ci_low", "int8_drop_ci_high"),
                     _plain(row["int8_host_accuracy"]),
                     _interval(row, "int8_host_gap", "int8_host_gap_ci_low", "int8_host_gap_ci_high")])
    return rows


def _plain(value: float) -> str:
    return "–" if value != value else f"{value:.4f}"


def _interval(row: dict[str, Any], value: str, low: str, high: str) -> str:
    if row[value] != row[value]:
        return "–"
    return f"{row[value]:.4f} [{row[low]:.4f}, {row[high]:.4f}]"


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(view: EnginesView) -> str:
    """The section as Markdown (for `summary.md`)."""
    lines = ["## Engines", "", *(f"- {_target_line(t, view.settings.get(t, {}))}" for t in view.targets), "",
             "Each architecture counts once; a target that could not time a trial leaves it out of that target's "
             "figures (never 0 ms)."]
    if not view.missing.empty:
        lines += ["", "Not timed (target unavailable):", "",
                  *(f"- trial {r.number} on {r.target}: {r.reason}" for r in view.missing.itertuples())]
    if view.pairs:
        lines += ["", "### One target against another", "",
                  "Kendall tau of the p50s over the architectures timed on both (bootstrap interval); fronts of "
                  "accuracy against each target's p50 over the same scored architectures, within the study's budgets.",
                  "", *_md_table(_PAIR_HEAD, _pair_rows(view))]
    if view.int8 is not None and view.int8_table is not None:
        fp32, int8 = view.int8
        lines += ["", f"### int8 on ONNX Runtime: {int8}" + (f" against {fp32}" if fp32 else ""), "",
                  engines.speedup_text(view.int8_table) + ". Speed-up = fp32 p50 / int8 p50; below 1 int8 is slower. "
                  "The int8 accuracy is the QDQ graph's own arithmetic; " + engines.host_text(view.int8_table) + ".",
                  "", *_md_table(_INT8_HEAD, _int8_rows(view.int8_table)), "",
                  f"int8 front (int8 accuracy vs p50 on {int8}, within the budgets): trials {_trials(view.int8_front)}"]
    return "\n".join(lines) + "\n"


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def html_tables(view: EnginesView) -> str:
    """The section's text and tables as HTML (the figures follow, from `figures_of`)."""
    parts = ["<h2>Engines</h2>", "<ul>" + "".join(f"<li>{html.escape(_target_line(t, view.settings.get(t, {})))}"
                                                  "</li>" for t in view.targets) + "</ul>"]
    if not view.missing.empty:
        parts.append("<p>Not timed (target unavailable, left out): " + html.escape("; ".join(
            f"trial {r.number} on {r.target}: {r.reason}" for r in view.missing.itertuples())) + "</p>")
    if view.pairs:
        parts.append(_html_table(_PAIR_HEAD, _pair_rows(view)))
    if view.int8 is not None and view.int8_table is not None:
        parts += [f"<p>{html.escape(engines.speedup_text(view.int8_table))}; "
                  f"{html.escape(engines.host_text(view.int8_table))}; int8 front: trials "
                  f"{html.escape(_trials(view.int8_front))}</p>", _html_table(_INT8_HEAD, _int8_rows(view.int8_table))]
    return "\n".join(parts)


def figures_of(view: EnginesView, frame: pd.DataFrame, info: StudyInfo) -> list[tuple[str, Any]]:
    """(title, figure) for every pair of targets, the int8 speed-up and drop, and the int8 front."""
    out: list[tuple[str, Any]] = [(f"Latency on {c.second} vs {c.first}", figures.latency_pair_figure(frame, c, a))
                                  for a, c in view.pairs]
    if view.int8 is not None and view.int8_table is not None:
        fp32, int8 = view.int8
        out.append(("int8 speed-up and accuracy drop", figures.int8_figure(view.int8_table, fp32, int8)))
        out.append(("int8 accuracy vs int8 latency", figures.int8_front_figure(frame, int8, info.budgets)))
    return out
