"""What a search run tells its user: the live progress bar and the closing summary.

Both read the study through `workbench.results` (the one read model): its front, its best
trial (ties within noise going to the cheaper) and its status counts, so the summary, the
dashboard, `report` and `export` never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from workbench import record, results
from workbench.errors import WorkbenchError
from workbench.record import TrialRecord
from workbench.search.workers import counts_toward_total


@dataclass
class SearchSummary:
    """What a search run did and where the study stands."""

    study_name: str
    storage: str
    states: dict[str, int]
    statuses: dict[str, int]
    pareto: list[dict[str, Any]]
    best: dict[str, Any] | None
    ran: int
    seconds: float
    interrupted: bool = False
    orphans_failed: int = 0
    metric_names: list[str] = field(default_factory=list)
    noise: dict[str, Any] | None = None   # the study's `accuracy_noise` (sd, trials, seeds, samples)
    ladder: str = ""                      # `rung_text`: candidates past the screen and on each rung
    latency_name: str = "latency_ms"      # the table's latency header: the first target, marked when predicted
    law_notes: dict[str, str] = field(default_factory=dict)  # predicted target -> which law predicts it, and why
    accuracy_sources: list[str] = field(default_factory=list)  # the scored trials' sources, e.g. a supernet's


def _figures(row: pd.Series, target: str | None) -> dict[str, Any]:
    def value(column: str) -> Any:
        item = row.get(column)
        return None if item is None or pd.isna(item) else float(item)

    latency = record.target_column(record.LATENCY_P50, target) if target else record.LATENCY_P50
    return {"number": int(row["number"]), "accuracy": value(record.ACCURACY), "macs": value(record.MACS),
            "params": value(record.PARAMS), "latency_ms": value(latency), "latency_target": target}


def latency_name(frame: pd.DataFrame) -> str:
    """`latency_ms`, or `latency_ms:<headline target>` where the study has targets (the deployment
    engine's when it measures one: `results.headline_target`), with `(predicted)` when that target
    is a prediction for an imported device."""
    target = frame.attrs.get("headline_target")
    if not target:
        return "latency_ms"
    return f"latency_ms:{target}" + (" (predicted)" if target in (frame.attrs.get("predicted_targets") or {}) else "")


def law_notes(trials: list[Any], predicted: Any) -> dict[str, str]:
    """Per predicted target, the note its predictions carry ('predicted by the MACs law: the
    kernel model did not beat it'), from the first trial that has one."""
    notes: dict[str, str] = {}
    for trial in trials:
        for name, entry in TrialRecord.of(trial).latency_targets.items():
            note = ((entry or {}).get("protocol") or {}).get("law_note")
            if name in (predicted or {}) and note and name not in notes:
                notes[name] = str(note)
    return notes


def best_scored(frame: pd.DataFrame) -> dict[str, Any] | None:
    """The best feasible scored trial's figures (`results.pick_best_accuracy`: ties within
    noise go to fewer MACs), or None when nothing is scored yet."""
    if frame.empty or not results.scored_mask(frame).any():
        return None
    try:
        return _figures(results.pick_best_accuracy(frame), frame.attrs.get("headline_target"))
    except WorkbenchError:
        return None


def summarise(study: optuna.Study, storage: str, *, ran: int = 0, seconds: float = 0.0) -> SearchSummary:
    """States, statuses, the Pareto trials (`results.pareto_front`: scored, feasible, each
    architecture once) and the best trial."""
    trials = study.get_trials(deepcopy=False)
    frame = results.trials_frame(study, trials)
    info = results.study_info(study, trials)
    objectives = info.objectives
    names = [o.name for o in objectives]
    front = results.pareto_front(frame, objectives) if not frame.empty else frame
    if len(objectives) == 1 and not front.empty:
        front = front.sort_values(objectives[0].column, ascending=objectives[0].direction == "minimize").head(1)
    knobs = {t.number: TrialRecord.of(t).stored_knobs for t in trials}
    pareto = []
    for _, row in front.sort_values("number").iterrows():
        entry = _figures(row, frame.attrs.get("headline_target"))
        entry.update({o.name: row.get(o.column) for o in objectives})
        entry["knobs"] = knobs.get(entry["number"])
        pareto.append(entry)
    sources = sorted({r for r in frame.get(record.ACCURACY_SOURCE, []) if isinstance(r, str) and r})
    return SearchSummary(study_name=study.study_name, storage=storage, states=info.states, statuses=info.statuses,
                         latency_name=latency_name(frame), pareto=pareto, best=best_scored(frame), ran=ran,
                         seconds=seconds, metric_names=names, ladder=rung_text(trials),
                         accuracy_sources=sources, law_notes=law_notes(trials, frame.attrs.get("predicted_targets")))


class ProgressBar:
    """tqdm over counted trials, with the best figures so far and the ladder's rungs."""

    def __init__(self, study: optuna.Study, total: int | None, done: int, enabled: bool) -> None:
        self.study, self.bar = study, None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=min(done, total) if total else done, unit="trial", dynamic_ncols=True,
                            desc=f"search {study.study_name}")
        self.done = done

    def update(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """An Optuna callback: refresh after each finished trial."""
        self.refresh_from(study)

    def refresh_from(self, study: optuna.Study) -> None:
        """Advance to the study's finished, counted trials and show the best so far (the
        study's frame is rebuilt only when a trial has finished: this runs every second)."""
        if self.bar is None:
            return
        trials = study.get_trials(deepcopy=False)
        done = sum(counts_toward_total(t) and t.state != TrialState.RUNNING for t in trials)
        if done <= self.done:
            return
        self.bar.update(done - self.done)
        self.done = done
        best = best_scored(results.trials_frame(study, trials))
        text = " ".join(filter(None, [results.progress_text(best) if best is not None else "", rung_text(trials)]))
        if text:
            self.bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        """Close the bar (no-op when disabled)."""
        if self.bar is not None:
            self.bar.close()


def rung_text(trials: list[FrozenTrial]) -> str:
    """How many candidates reached each rung of a ladder (and passed the pre-screen), e.g.
    `screen 9/30 rungs 1:9 3:3`; empty for a study without either.

    Example:
        >>> rung_text([])
        ''
    """
    records = [TrialRecord.of(t) for t in trials]
    screened = sum(r.prescreen_score is not None for r in records)
    passed = sum(r.prescreen_score is not None and r.stored_status != "screened" and r.state != TrialState.RUNNING
                 for r in records)
    reached: dict[float, int] = {}
    for rec in records:
        for key in rec.accuracy_by_rung or {}:
            reached[float(key)] = reached.get(float(key), 0) + 1
    parts = [f"screen {passed}/{screened}"] if screened else []
    if reached:
        parts.append("rungs " + " ".join(f"{rung:g}:{count}" for rung, count in sorted(reached.items())))
    return " ".join(parts)

