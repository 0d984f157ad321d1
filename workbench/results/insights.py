"""What a study says beyond its front: which knobs matter (`param_importances`) and how well
MACs predict the measured latency (`macs_latency_correlation`)."""

from __future__ import annotations

import json
import math
import warnings
from typing import Sequence

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from workbench import record
from workbench.record import Objective
from workbench.results.frame import scored_trials
from workbench.results.studies import study_objectives


def param_importances(study: optuna.Study, objective: Objective) -> dict[str, float]:
    """Knob importances for one objective over the scored trials only (Optuna's default
    evaluator, run on an in-memory copy of them); empty when there are too few to tell.

    Example:
        >>> study = load_study("digits")  # doctest: +SKIP
        >>> param_importances(study, OBJECTIVES["accuracy"])  # doctest: +SKIP
        {'width': 0.61, 'ratio': 0.22, 'dw_size': 0.17}
    """
    objectives = study_objectives(study)
    index = [o.name for o in objectives].index(objective.name)
    scored = [t for t in scored_trials(study.get_trials(deepcopy=False)) if t.values is not None]
    if len(scored) < 2 or len({json.dumps(t.params, sort_keys=True) for t in scored}) < 2:
        return {}
    # Optuna's default evaluator ranks knobs for *low* target values, so maximised
    # objectives are negated.
    sign = -1.0 if objective.direction == "maximize" else 1.0
    try:
        with warnings.catch_warnings():
            # The evaluator warns that it ranks for low targets: the sign above already says so.
            warnings.simplefilter("ignore", UserWarning)
            return optuna.importance.get_param_importances(_in_memory(study, scored),
                                                           target=lambda t: sign * t.values[index])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def _in_memory(study: optuna.Study, trials: Sequence[FrozenTrial]) -> optuna.Study:
    """A quiet in-memory study holding light copies (no user attributes) of `trials`."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials([optuna.trial.create_trial(state=t.state, values=t.values, params=t.params,
                                               distributions=t.distributions) for t in trials])
    return copy


def macs_latency_correlation(frame: pd.DataFrame) -> dict[str, float]:
    """Pearson and Spearman correlation between MACs and measured latency (p50) over
    trials with both: how well FLOPs predict latency on the measuring device."""
    both = frame[[record.MACS, record.LATENCY_P50]].dropna() if not frame.empty else frame
    if len(both) < 3 or both[record.MACS].nunique() < 2 or both[record.LATENCY_P50].nunique() < 2:
        return {"pearson": math.nan, "spearman": math.nan, "n": float(len(both))}  # undefined for a constant
    return {
        "pearson": float(both[record.MACS].corr(both[record.LATENCY_P50], method="pearson")),
        "spearman": float(both[record.MACS].corr(both[record.LATENCY_P50], method="spearman")),
        "n": float(len(both)),
    }


