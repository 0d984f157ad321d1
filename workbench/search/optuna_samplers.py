"""The samplers a search may use, seeded, and the pruner of single-objective studies."""

from __future__ import annotations

import warnings

import optuna

from workbench.errors import WorkbenchError
from workbench.search.space import SearchSpace

SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "random")


def make_sampler(
    name: str, seed: int | None, *, n_trials: int | None = None, parallel: bool = False
) -> optuna.samplers.BaseSampler:
    """The named sampler, seeded. Constraints are read from `trial.set_constraint` values
    (Optuna 5), so no `constraints_func` is passed.

    Example:
        >>> make_sampler("tpe", 0).__class__.__name__
        'TPESampler'
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=parallel, n_startup_trials=8)
    if name == "nsga2":
        population = max(4, min(50, (n_trials or 100) // 5))
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if name == "nsga3":
        population = max(4, min(50, (n_trials or 100) // 5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.NSGAIIISampler(seed=seed, population_size=population)
    if name == "gp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=8)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise WorkbenchError(f"unknown sampler '{name}' (allowed: {', '.join(SAMPLERS)})")


def make_pruner(space: SearchSpace) -> optuna.pruners.BasePruner:
    """MedianPruner on per-epoch validation accuracy for single-objective proxy-trained
    studies; no pruning otherwise (Optuna cannot prune multi-objective trials)."""
    if space.single_objective and space.pruner == "median" and space.accuracy.source == "proxy":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    return optuna.pruners.NopPruner()
