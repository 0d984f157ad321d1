"""The one reader of a study: trials as a DataFrame, Pareto fronts, hypervolume and picks.

The dashboard, `workbench report` and `workbench export` all go through this package; its
modules each do one thing:

* `frame` — the trials frame, which trials were scored, standard errors, confirmations;
* `studies` — the catalogue of studies, one study's facts and its objectives;
* `front` — fronts, one row per architecture, hypervolume and its history;
* `picks` — ties within noise and the picks (best, cheapest within, knee, a trial);
* `rungs` — the fidelity ladder's rungs;
* `insights` — knob importances and how well MACs predict latency;
* `engines` — how latency targets disagree (Kendall tau, front changes) and what int8 buys;
* `text` — every sentence the summary, the report and the dashboard share.

Only what was measured is read. A trial whose status is not in `record.SCORED_STATUSES`
(rejected, failed, ...) has no accuracy here, whatever placeholder its objective value holds,
and it is never on a front, in a hypervolume, a pick or an importance. Each architecture
counts once (by `record.ARCH_HASH`: the original trial, not its `reused` copies). Two
accuracies within each other's noise (`workbench.stats.tie_band` of their standard errors)
are a tie, and every pick breaks a tie towards the cheaper trial.
"""

from workbench.results import engines
from workbench.results.frame import (
    ACCURACY_SE,
    CONFIRMED_COLUMNS,
    CONFIRMED_SE,
    INT8_REASON,
    KNOB_PREFIX,
    METRIC_COLUMNS,
    OBJECTIVE_PREFIX,
    SCORED,
    TARGET_AVAILABLE,
    TARGET_REASON,
    UNCERTAINTY_COLUMNS,
    is_objective,
    scored_mask,
    scored_numbers,
    scored_trials,
    status_counts,
    target_names,
    trials_frame,
)
from workbench.results.front import (
    arrivals_on_front,
    candidates,
    dedupe_architectures,
    hypervolume,
    hypervolume_history,
    loss_matrix,
    pareto_front,
    reference_point,
)
from workbench.results.insights import macs_latency_correlation, param_importances
from workbench.results.picks import (
    BY_CHOICES,
    CONFIRMED_OBJECTIVE,
    accuracy_axis,
    arch_of,
    has_confirmed,
    indistinguishable_from_best,
    objectives_by,
    pick,
    pick_best_accuracy,
    pick_cheapest_within,
    pick_knee,
    pick_trial,
)
from workbench.results.rungs import at_rung, rung_table, rungs
from workbench.results.studies import STUDY_COLUMNS, StudyInfo, list_studies, open_results, study_info, study_objectives
from workbench.results.text import (
    LABELS,
    accuracy_text,
    best_text,
    confirmed_text,
    fidelity_text,
    frame_label,
    human,
    label,
    noise_text,
    pick_text,
    progress_text,
    protocol_text,
    statuses_text,
    tie_note,
    tie_text,
    trial_text,
)

__all__ = [
    "engines",
    "INT8_REASON", "TARGET_AVAILABLE", "TARGET_REASON", "is_objective", "target_names",
    "ACCURACY_SE", "BY_CHOICES", "LABELS", "CONFIRMED_COLUMNS", "CONFIRMED_OBJECTIVE", "CONFIRMED_SE", "KNOB_PREFIX",
    "METRIC_COLUMNS", "OBJECTIVE_PREFIX", "SCORED", "STUDY_COLUMNS", "UNCERTAINTY_COLUMNS", "StudyInfo",
    "accuracy_axis", "arch_of", "arrivals_on_front", "at_rung", "candidates", "dedupe_architectures", "has_confirmed",
    "hypervolume", "hypervolume_history", "indistinguishable_from_best", "list_studies", "loss_matrix",
    "macs_latency_correlation", "objectives_by", "open_results", "param_importances", "pareto_front", "pick",
    "pick_best_accuracy", "pick_cheapest_within", "pick_knee", "pick_trial", "reference_point", "rung_table", "rungs",
    "scored_mask", "scored_numbers", "scored_trials", "status_counts", "study_info", "study_objectives",
    "trials_frame", "accuracy_text", "best_text", "confirmed_text", "fidelity_text", "frame_label", "human", "label",
    "noise_text",
    "pick_text", "progress_text", "protocol_text", "statuses_text", "tie_note", "tie_text", "trial_text",
]
