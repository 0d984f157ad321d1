"""Scoring one candidate at full fidelity: proxy training over the trial's seeds (or a zero-cost
proxy, or weights inherited from a supernet) and the record's accuracy figures. The search, the
ladder, the seed-noise measurement, `workbench confirm` and `workbench train-proxy --space` all
score through here, so they agree."""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np
import optuna

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.models import build_model
from workbench.record import write_record
from workbench.stats import wilson_interval
from workbench.training import ProxyRecipe, seed_everything, train_proxy, zero_cost_score


def train_candidate(
    recipe: ProxyRecipe,
    arch: ArchConfig,
    data: Any,
    seed: int,
    *,
    device: str = "cpu",
    trainer: Callable[..., Any] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    keep: Callable[[Any], None] | None = None,
) -> Any:
    """One seed of a space's proxy score: seed everything, build a fresh `arch`, train it with
    the space's proxy `recipe` at that seed. The search, the noise measurement, `workbench
    confirm` and `workbench train-proxy --space` all score through here, so they agree exactly.

    Returns the trainer's `ProxyResult`; `keep`, when given, receives the trained model.

    Example:
        >>> from workbench.search import load_space
        >>> from workbench.search.space_resolve import resolve_space
        >>> from workbench.search.workers import load_search_data
        >>> resolved = resolve_space(load_space("digits"), device="cpu")
        >>> quick = resolved.recipe.model_copy(update={"epochs": 0.05})
        >>> 0.0 <= train_candidate(quick, resolved.base, load_search_data(resolved), seed=0).val_accuracy <= 1.0
        True
    """
    seed_everything(seed)
    model = build_model(arch)
    result = (trainer or train_proxy)(
        model, data, recipe.model_copy(update={"seed": seed}), device=device, on_epoch=on_epoch
    )
    if keep is not None:
        keep(model)
    return result


def accuracy_figures(samples: Sequence[float], val_size: int | None, *, proportion: bool = True) -> dict[str, Any]:
    """The record's accuracy keys from each seed's value: the mean, the samples, their sd
    (None for one seed) and, for a proportion, the Wilson 95% interval from `val_size`.

    Example:
        >>> figures = accuracy_figures([0.9, 0.8], 100)
        >>> round(figures["accuracy"], 3), round(figures["accuracy_sd"], 4), figures["val_size"]
        (0.85, 0.0707, 100)
    """
    values = [float(v) for v in samples]
    mean = float(np.mean(values))
    low, high = wilson_interval(mean, val_size) if proportion and val_size else (None, None)
    return {
        record.ACCURACY: mean,
        record.ACCURACY_SAMPLES: values,
        record.VAL_SIZE: val_size if proportion else None,
        record.ACCURACY_SD: float(np.std(values, ddof=1)) if len(values) > 1 else None,
        record.ACCURACY_CI_LOW: low,
        record.ACCURACY_CI_HIGH: high,
    }


def score(trial: optuna.Trial, ctx: Any, arch: ArchConfig, rec: dict[str, Any]) -> Any:
    """Proxy-train every seed of the trial (reporting the first seed's epochs to the pruner in
    single-objective mode) or compute the zero-cost proxy; fills the accuracy figures. `ctx`
    is the trial's `workbench.search.trial.TrialContext`.

    Returns the first seed's trained model (the one int8 accuracy is measured on), None for a
    zero-cost score."""
    space = ctx.space
    seeds = ctx.resolved.trial_seeds(trial.number)
    val_size = len(ctx.data.val_y) if getattr(ctx.data, "val_y", None) is not None else None
    started = time.perf_counter()
    if space.accuracy.source == "zero_cost":
        samples = []
        for seed in seeds:
            seed_everything(seed)
            samples.append(
                float(
                    zero_cost_score(
                        space.accuracy.proxy,
                        build_model(arch),
                        ctx.data,
                        batch_size=space.accuracy.batch_size,
                        seed=seed,
                    )
                )
            )
        rec.update(accuracy_figures(samples, val_size, proportion=False))
        rec[record.TRAIN_SECONDS] = time.perf_counter() - started
        return None
    if space.accuracy.source == "supernet":
        return _score_inherited(ctx, arch, rec, seeds, val_size, started)
    on_epoch = _pruning_hook(trial, rec) if space.single_objective and space.pruner != "none" else None
    trained: list[Any] = []
    runs = [
        train_candidate(
            ctx.resolved.recipe,
            arch,
            ctx.data,
            seed,
            device=ctx.device,
            trainer=ctx.trainer,
            on_epoch=on_epoch if index == 0 else None,
            keep=trained.append if index == 0 else None,
        )
        for index, seed in enumerate(seeds)
    ]
    rec.update(accuracy_figures([run.val_accuracy for run in runs], val_size))
    rec[record.VAL_CURVE] = _mean_curve([run.val_curve for run in runs])
    rec[record.LOSS_CURVE] = _mean_curve([run.loss_curve for run in runs])
    rec[record.TRAIN_SECONDS] = sum(
        float(run.train_seconds) + float(getattr(run, "eval_seconds", 0.0) or 0.0) for run in runs
    )
    speeds = [float(run.images_per_second) for run in runs if run.images_per_second is not None]
    rec[record.IMAGES_PER_SECOND] = float(np.mean(speeds)) if speeds else None
    return trained[0] if trained else None


def _score_inherited(ctx: Any, arch: ArchConfig, rec: dict[str, Any], seeds: list[int], val_size: int | None,
                     started: float) -> Any:
    """The accuracy inherited from the space's supernet (recalibrated per seed, never trained);
    returns the first seed's model for the int8 figures."""
    from workbench.search.supernet_cover import supernet_path
    from workbench.supernet.accuracy import score_inherited

    samples, model = score_inherited(supernet_path(ctx.space), arch, ctx.data, ctx.resolved.recipe, seeds,
                                     device=ctx.device)
    rec.update(accuracy_figures(samples, val_size))
    rec[record.TRAIN_SECONDS] = time.perf_counter() - started  # recalibration and scoring only
    return model


def _mean_curve(curves: list[list[float]]) -> list[float]:
    """The per-epoch mean over seeds (the shortest curve's length)."""
    length = min(len(curve) for curve in curves)
    return [float(np.mean([curve[i] for curve in curves])) for i in range(length)]


def _pruning_hook(trial: optuna.Trial, rec: dict[str, Any]) -> Callable[[int, float], None]:
    """Report each epoch's validation accuracy; record and raise `TrialPruned` when told."""
    curve: list[float] = []

    def on_epoch(epoch: int, val_accuracy: float) -> None:
        curve.append(float(val_accuracy))
        trial.report(float(val_accuracy), step=epoch)
        if trial.should_prune():
            rec[record.ACCURACY] = float(val_accuracy)
            rec[record.VAL_CURVE] = list(curve)
            rec[record.STATUS] = "pruned"
            rec[record.REASON] = f"pruned after epoch {epoch} (validation accuracy {val_accuracy:.4f})"
            write_record(trial, rec)
            raise optuna.TrialPruned(rec[record.REASON])

    return on_epoch
