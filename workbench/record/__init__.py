"""The trial and study record: its keys, and the only code that reads or writes them.

Example:
    >>> from workbench import record
    >>> record.OBJECTIVES["macs"].column, record.within_budgets({"max_macs": -1.0})
    ('macs', True)
"""

from workbench.record.budgets import Budgets
from workbench.record.keys import *  # noqa: F403 - the keys are this package's vocabulary
from workbench.record.objectives import (
    BUDGET_COLUMNS,
    COST_COLUMNS,
    OBJECTIVES,
    Objective,
    budget_column,
    figure,
    objective,
    split_target,
    target_column,
    within_budgets,
)
from workbench.record.study import (
    StudyRecord,
    clear_fidelity_tau,
    confirm_key,
    confirmations,
    study_names,
    write_confirmation,
    write_fidelity_tau,
    write_noise,
    write_run_index,
    write_study_record,
)
from workbench.record.trial import TrialRecord, empty_record, finite_number, publish, write_record
