"""Proxy training, evaluation and zero-cost scoring of candidate architectures."""

from workbench.training.loop import TrainingDiverged, evaluate, seed_everything
from workbench.training.proxy import ProxyResult, train_proxy
from workbench.training.recipe import ProxyRecipe
from workbench.training.zero_cost import ZERO_COST_PROXIES, zero_cost_score

__all__ = [
    "ZERO_COST_PROXIES",
    "ProxyRecipe",
    "ProxyResult",
    "TrainingDiverged",
    "evaluate",
    "seed_everything",
    "train_proxy",
    "zero_cost_score",
]
