"""How many trials a study has, found by probing trial numbers through Optuna's public storage API.

`BaseStorage.get_n_trials` reads every trial of an RDB study just to count them; a study's trial
numbers run 0..n-1, so a few look-ups of `get_trial_id_from_study_id_trial_number` tell the
count instead.

Example:
    >>> import optuna
    >>> storage = optuna.storages.InMemoryStorage()
    >>> study = optuna.create_study(storage=storage, study_name="five")
    >>> for _ in range(5):
    ...     study.add_trial(optuna.trial.create_trial(value=1.0))
    >>> five = storage.get_study_id_from_name("five")
    >>> count_trials(storage, five), count_trials(storage, five, known=5), has_trial(storage, five, 5)
    (5, 5, False)
"""

from __future__ import annotations

from optuna.storages import BaseStorage


def has_trial(storage: BaseStorage, study_id: int, number: int) -> bool:
    """Whether the study has a trial numbered `number`."""
    try:
        storage.get_trial_id_from_study_id_trial_number(study_id, number)
        return True
    except KeyError:
        return False


def count_trials(storage: BaseStorage, study_id: int, known: int = 0) -> int:
    """How many trials the study has, given that it has at least `known`: probe the trial
    numbers at `known`, then doubling steps past it, then bisect. Two look-ups when nothing
    or one trial is new; about 2·log2(n) on a first read."""
    if not has_trial(storage, study_id, known):
        return known
    low, step = known, 1  # trial `low` exists
    while has_trial(storage, study_id, low + step):
        low, step = low + step, step * 2
    high = low + step  # trial `high` does not exist
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if has_trial(storage, study_id, middle) else (low, middle)
    return high
