"""Scoring one candidate through the space's pre-screen and fidelity ladder.

Inside one Optuna trial: the zero-cost pre-screen (when the space has one) scores the untrained
model and stops the trial unless it is promoted; then the ladder trains it rung by rung and stops
it at the first rung where it is not promoted (`workbench.search.promotion`). A stopped trial
ends PRUNED in Optuna with status `stopped` (or `screened`): Optuna's samplers rank every
PRUNED trial after every COMPLETE one, so the sampler learns where not to look without a
1-epoch score ever being compared with a top-rung one; only trials that reached the top rung
are COMPLETE and carry objective values.

The trial's record is written as it climbs (`accuracy_by_rung`, `rung`, its cost figures), so a
candidate of another worker that is still training already counts on the rungs it has passed;
that is what makes the promotion asynchronous.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import optuna
import torch

from workbench import record
from workbench.models import build_model
from workbench.record import TrialRecord, write_record
from workbench.record import publish as publish_figures
from workbench.search.ladder_spec import FidelitySpec
from workbench.search.promotion import is_promoted, promoted_count
from workbench.search.scoring import accuracy_figures, train_candidate
from workbench.training import seed_everything, zero_cost_score

# Record keys written as soon as they are known, so other workers can compare against them
# (the architecture hash is already published by the claim, `dedupe.claim_architecture`).
_EARLY_KEYS = (record.PARAMS, record.MACS, record.LATENCY_P50, record.LATENCY_TARGETS)


def rung_key(rung: float) -> str:
    """The key of a rung in `accuracy_by_rung` (`1`, `3`, `0.25`).

    Example:
        >>> rung_key(3.0), rung_key(0.25)
        ('3', '0.25')
    """
    return f"{rung:g}"


def cost_columns(space: Any) -> list[str]:
    """Record keys of the study's cost objectives (every objective but accuracy)."""
    return [record.objective(name).column for name in space.objectives if name != "accuracy"]


def publish(trial: optuna.Trial, rec: dict[str, Any]) -> None:
    """Write the figures other workers compare against before the trial ends."""
    publish_figures(trial, rec, [key for key in _EARLY_KEYS if rec.get(key) is not None])


def _peers(trial: optuna.Trial, key: str, pick: Any, digest: str, costs: list[str]) -> list[list[float]]:
    """Loss rows (-score, costs...) of every other architecture scored under `key`, each once."""
    rows, seen = [], {digest}
    for other in trial.study.get_trials(deepcopy=False):
        attrs = TrialRecord.of(other)
        if other.number == trial.number or attrs.arch_hash in seen:
            continue
        score = pick(attrs)
        figures = [attrs.number_of(column) for column in costs]
        if score is None or any(f is None for f in figures) or not math.isfinite(float(score)):
            continue
        seen.add(attrs.arch_hash)
        rows.append([-float(score), *map(float, figures)])
    return rows


def decide(trial: optuna.Trial, rec: dict[str, Any], score: float, *, key: str, pick: Any, eta: float,
           costs: list[str]) -> tuple[bool, int]:
    """(promoted?, candidates on the rung including this one) against the study as it is now."""
    rows = _peers(trial, key, pick, rec[record.ARCH_HASH], costs)
    mine = [-float(score), *(float(record.figure(rec, column)) for column in costs)]
    # Last row: an exact tie goes to the candidates already on the rung.
    losses = np.array([*rows, mine], dtype=float)
    return is_promoted(len(rows), losses, eta), len(losses)


def prescreen(trial: optuna.Trial, ctx: Any, arch: Any, rec: dict[str, Any]) -> None:
    """Score the untrained candidate with the space's zero-cost proxy; record it and raise
    `optuna.TrialPruned` (status `screened`) unless it is in the top `keep` share so far."""
    spec = ctx.space.prescreen
    seed = ctx.resolved.trial_seeds(trial.number)[0]
    seed_everything(seed)
    model = build_model(arch).to(ctx.device)
    score = float(zero_cost_score(spec.proxy, model, ctx.data, batch_size=spec.batch_size, seed=seed))
    rec[record.PRESCREEN_SCORE] = score if math.isfinite(score) else None
    publish(trial, rec)
    publish_figures(trial, rec, [record.PRESCREEN_SCORE])
    if rec[record.PRESCREEN_SCORE] is None:
        _stop(trial, rec, "screened", f"zero-cost {spec.proxy} score is not finite")
    promoted, n = decide(trial, rec, score, key=record.PRESCREEN_SCORE, pick=lambda a: a.prescreen_score,
                         eta=spec.eta, costs=cost_columns(ctx.space))
    if not promoted:
        _stop(trial, rec, "screened", f"screened out: {spec.proxy} {score:.4g} is not in the top {spec.keep:g} "
                                      f"({promoted_count(n, spec.eta)} of {n}) of the screened candidates")


def _stop(trial: optuna.Trial, rec: dict[str, Any], status: str, reason: str) -> None:
    rec[record.STATUS] = status
    rec[record.REASON] = reason
    write_record(trial, rec)
    raise optuna.TrialPruned(reason)


class _StopAtRung(Exception):
    """Raised from the epoch hook to end training at a rung the candidate did not pass."""


def train_on_ladder(trial: optuna.Trial, ctx: Any, arch: Any, rec: dict[str, Any]) -> None:
    """Train through the rungs; fills the accuracy figures of the highest rung reached, and
    raises `optuna.TrialPruned` (status `stopped`, record written) below the top rung."""
    space = ctx.space
    fidelity: FidelitySpec = space.fidelity
    seed = ctx.resolved.trial_seeds(trial.number)[0]
    val_size = len(ctx.data.val_y)
    costs = cost_columns(space)
    by_rung: dict[str, float] = {}
    curve: list[float] = []
    state: dict[str, Any] = {"stop": None}
    publish(trial, rec)
    started = time.perf_counter()

    def passed(rung: float, accuracy: float) -> bool:
        by_rung[rung_key(rung)] = float(accuracy)
        rec[record.ACCURACY_BY_RUNG], rec[record.RUNG] = dict(by_rung), float(rung)
        publish_figures(trial, rec, [record.ACCURACY_BY_RUNG, record.RUNG])
        if rung == fidelity.top:
            return True
        key = rung_key(rung)
        promoted, n = decide(trial, rec, accuracy, key=key, pick=lambda a: (a.accuracy_by_rung or {}).get(key),
                             eta=fidelity.eta, costs=costs)
        if not promoted:
            state["stop"] = (rung, accuracy, n)
        return promoted

    if fidelity.unit == "epochs":
        rung_at_epoch = {int(r) - 1: r for r in fidelity.rungs}

        def on_epoch(epoch: int, accuracy: float) -> None:
            curve.append(float(accuracy))
            if epoch in rung_at_epoch and not passed(rung_at_epoch[epoch], accuracy):
                raise _StopAtRung()

        try:
            run = _train(ctx, arch, ctx.data, seed, on_epoch)
            rec[record.LOSS_CURVE], rec[record.IMAGES_PER_SECOND] = run.loss_curve, run.images_per_second
        except _StopAtRung:
            pass
    else:
        for rung in fidelity.rungs:
            run = _train(ctx, arch, train_share(ctx.data, rung, space.seed), seed, None)
            curve.append(float(run.val_accuracy))
            if not passed(rung, run.val_accuracy):
                break
    rec[record.TRAIN_SECONDS] = time.perf_counter() - started
    rec[record.VAL_CURVE] = curve
    rung = rec[record.RUNG]
    rec.update(accuracy_figures([by_rung[rung_key(rung)]], val_size))
    rec[record.ACCURACY_SOURCE] = f"proxy-train:{fidelity.label(rung)}" if fidelity.unit == "epochs" else \
        f"proxy-train:{ctx.resolved.recipe.epochs:g}ep@{fidelity.label(rung)}"
    if state["stop"] is not None:
        stop_rung, accuracy, n = state["stop"]
        _stop(
            trial,
            rec,
            "stopped",
            f"stopped at rung {fidelity.label(stop_rung)}: accuracy {accuracy:.4f} is not in the "
            f"top 1/{fidelity.eta:g} ({promoted_count(n, fidelity.eta)} of {n}) on that rung",
        )


def _train(ctx: Any, arch: Any, data: Any, seed: int, on_epoch: Any) -> Any:
    return train_candidate(
        ctx.resolved.recipe, arch, data, seed, device=ctx.device, trainer=ctx.trainer, on_epoch=on_epoch
    )


def train_share(data: Any, fraction: float, seed: int) -> Any:
    """The dataset with only a seeded `fraction` of its training split (the same share for
    every candidate of a study; validation untouched).

    Example:
        Half of the digits' 1,151 training images, rounded to even:

        >>> from workbench.data import load_dataset
        >>> len(train_share(load_dataset("digits"), 0.5, 0).train_y)
        576
    """
    if fraction >= 1:
        return data
    n = len(data.train_y)
    keep = max(1, int(round(fraction * n)))
    generator = torch.Generator().manual_seed(int(seed))
    index = torch.randperm(n, generator=generator)[:keep].sort().values.to(data.train_y.device)
    return dataclasses.replace(data, train_x=data.train_x[index], train_y=data.train_y[index])
