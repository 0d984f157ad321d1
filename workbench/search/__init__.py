"""Search: spaces (`SearchSpace`, `load_space`), sampling a trial into an `ArchConfig`, the
trial objective and the study runner (`run_search`).

Example:
    >>> from workbench.search import load_space, run_search
    >>> load_space("digits").objectives
    ['accuracy', 'macs']

`run_search`'s own example runs a small search.
"""

from workbench.search.arch_sampling import arch_from_params, param_names, sample_params
from workbench.search.dedupe import arch_hash
from workbench.search.loading import load_space, resolve_space_path, space_names
from workbench.search.optuna_samplers import SAMPLERS, make_sampler
from workbench.search.runner import run_search
from workbench.search.space import KNOB_TABLE, SearchSpace, parse_space
from workbench.search.study import open_search_study
from workbench.search.summary import SearchSummary, summarise
from workbench.search.trial import TrialContext, TrialFailed, run_trial

__all__ = [
    "KNOB_TABLE",
    "SAMPLERS",
    "SearchSpace",
    "SearchSummary",
    "TrialContext",
    "TrialFailed",
    "arch_from_params",
    "arch_hash",
    "load_space",
    "make_sampler",
    "open_search_study",
    "param_names",
    "parse_space",
    "resolve_space_path",
    "run_search",
    "run_trial",
    "sample_params",
    "space_names",
    "summarise",
]
