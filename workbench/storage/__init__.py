"""The study store: the one package that opens Optuna storages and touches Optuna's internals.

* `urls`: storage URLs and paths as users type them; opening for reading or for a search.
* `journal`: journal files whose appends first cut off a torn last line.
* `optuna_internals`: every use of Optuna's private API (each with a contract test).
* `locks`: the study lock (count-and-ask, claim an architecture) and SQLite's one-writer run lock.
* `errors`: read-only, locked or unwritable storages as one line.
* `guard`: what is a storage file (outputs never overwrite one); a storage is checked writable
  before any work.
* `probing`: how many trials a study has, from a few look-ups by trial number.
* `proxy`: serving one storage over gRPC to worker processes, and opening `grpc://` storages.
* `leases`: the study lock of `grpc://` workers, a lease service served beside the storage.

Everything else in the workbench uses these functions or Optuna's public API.
"""

from workbench.storage.errors import (
    SERVER_GONE,
    describe_storage_error,
    server_gone,
    storage_errors,
    storage_failure_cause,
)
from workbench.storage.guard import check_writable_storage
from workbench.storage.locks import Lock, exclusive_run, lock_file_for, study_lock
from workbench.storage.optuna_internals import (
    fail_running,
    hypervolume,
    named_constraints,
    pareto_mask,
    release_storage,
    set_constraint_list,
    storage_location,
    stored_metric_names,
    study_id,
    study_storage,
    trial_by_number,
    trial_state_counts,
)
from workbench.storage.probing import count_trials, has_trial
from workbench.storage.proxy import grpc_address, open_grpc, serve_storage
from workbench.storage.urls import (
    DEFAULT_STORAGE,
    JOURNAL_SUFFIXES,
    journal_path,
    load_study,
    normalise_url,
    open_storage,
    postgres_driver_url,
    sqlite_path,
)

__all__ = [
    "DEFAULT_STORAGE", "JOURNAL_SUFFIXES", "Lock", "check_writable_storage", "count_trials", "describe_storage_error",
    "exclusive_run", "SERVER_GONE", "server_gone",
    "fail_running", "grpc_address", "has_trial", "hypervolume", "journal_path", "load_study", "lock_file_for",
    "named_constraints", "normalise_url", "open_grpc", "open_storage", "pareto_mask", "postgres_driver_url",
    "release_storage", "serve_storage", "set_constraint_list", "sqlite_path", "storage_errors", "storage_location",
    "storage_failure_cause", "stored_metric_names", "study_id", "study_lock", "study_storage", "trial_by_number",
    "trial_state_counts",
]
