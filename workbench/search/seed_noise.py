"""The study's own seed noise: a few scored trials re-trained with more seeds, after the search.

A proxy accuracy from one seed is one draw: on the digits space two seeds of the same
architecture differ by 0.5-1.2 points, as much as the whole front spans. When the space asks
for it (`noise: {trials: T, seeds: S}`), `measure_noise` picks T scored trials of distinct
architectures spread over the accuracy range, re-trains each with the seeds it lacks
(`SearchSpace` seed rule: seed i of trial n is `base + n + 1000 * i`, the trial's own scores
being seeds 0 .. K-1) until it has S, and stores the pooled sd as the study attributes:

* `accuracy_noise_sd` (`record.STUDY_NOISE_SD`): the pooled sample sd, a float in [0, 1];
* `accuracy_noise` (`record.STUDY_NOISE`): `{"sd": float, "trials": T measured (int),
  "seeds": S (int), "samples": {"<trial number>": [accuracy of seed 0, 1, ...]}}`.

Progress is written after every trial, so an interrupted measurement continues where it
stopped; a study that already holds T trials with S seeds is left alone.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.record import StudyRecord, TrialRecord, write_noise
from workbench.search.scoring import train_candidate
from workbench.search.space import SearchSpace, seed_rule
from workbench.search.space_resolve import ResolvedSpace
from workbench.stats import pooled_sd
from workbench.training.loop import TrainingDiverged


def noise_candidates(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Scored trials (state COMPLETE, status "complete") with their per-seed samples, one per
    architecture (the first trial that measured it), sorted by accuracy. Trials of older
    versions (no samples; scored without BatchNorm recalibration) are left out: their figure
    would not be a draw of the same recipe."""
    seen: set[str] = set()
    pool = []
    for trial in sorted(trials, key=lambda t: t.number):
        rec = TrialRecord.of(trial)
        digest = rec.arch_hash
        if (trial.state != TrialState.COMPLETE or rec.stored_status != "complete"
                or not rec.get(record.ACCURACY_SAMPLES) or not rec.arch_json or digest in seen):
            continue
        seen.add(digest)
        pool.append(trial)
    return sorted(pool, key=lambda t: (TrialRecord.of(t).accuracy, t.number))


def spread_pick(pool: list[FrozenTrial], count: int, keep: Sequence[int] = ()) -> list[FrozenTrial]:
    """`count` trials of `pool` (sorted by accuracy): those numbered in `keep` first, then
    the ones nearest to evenly spaced positions along the accuracy order.

    Example:
        >>> trials = [optuna.trial.create_trial(value=0.0, user_attrs={record.ACCURACY: a / 10}) for a in range(7)]
        >>> [TrialRecord.of(t).accuracy for t in spread_pick(trials, 3)]
        [0.0, 0.3, 0.6]
    """
    chosen = [i for i, t in enumerate(pool) if t.number in set(keep)][:count]
    for position in np.linspace(0, len(pool) - 1, count) if pool else []:
        rest = [i for i in range(len(pool)) if i not in chosen]
        if len(chosen) >= count or not rest:
            break
        chosen.append(min(rest, key=lambda i: (abs(i - position), i)))
    return [pool[i] for i in sorted(chosen)]


def stored_noise(study: optuna.Study) -> dict[str, Any]:
    """The study's stored noise measurement (empty when none)."""
    return StudyRecord.of(study).noise or {}


def noise_complete(study: optuna.Study, space: SearchSpace) -> bool:
    """True when the study holds the space's noise measurement (T trials with S seeds)."""
    spec = space.noise
    if spec is None or StudyRecord.of(study).noise_sd is None:
        return spec is None
    samples = stored_noise(study).get("samples") or {}
    return sum(len(values) >= spec.seeds for values in samples.values()) >= spec.trials


def measure_noise(study: optuna.Study, resolved: ResolvedSpace, data: Any, *, device: str = "cpu",
                  trainer: Callable[..., Any] | None = None, progress: bool = False) -> dict[str, Any] | None:
    """Measure (or complete) the study's seed noise as the space's `noise:` asks; returns the
    stored `accuracy_noise` dict, or None when the space asks for none or no trial is scored.

    `resolved` is the space as the search resolved it (its recipe, and the base seed the search
    ran with); `data` the dataset the trials were scored on; `trainer` replaces `train_proxy` (tests).

    `tests/test_accuracy_noise.py` runs it on real searches.
    """
    space = resolved.space
    spec = space.noise
    if spec is None or space.accuracy.source != "proxy":
        return None
    if noise_complete(study, space):
        return stored_noise(study)
    base_seed = resolved.seed
    samples: dict[str, list[float]] = {k: list(v) for k, v in (stored_noise(study).get("samples") or {}).items()}
    picked = spread_pick(noise_candidates(study.get_trials(deepcopy=False)), spec.trials, [int(k) for k in samples])
    if not picked:
        return None
    bar = _bar(sum(max(0, spec.seeds - len(samples.get(str(t.number)) or _own_samples(t))) for t in picked), progress)
    try:
        for trial in picked:
            key = str(trial.number)
            values = samples.get(key) or _own_samples(trial)
            arch = ArchConfig.model_validate(json.loads(TrialRecord.of(trial).arch_json))
            try:
                for extra in seed_rule(base_seed, trial.number, spec.seeds, first=len(values)):
                    result = train_candidate(resolved.recipe, arch, data, extra, device=device, trainer=trainer)
                    values = values + [float(result.val_accuracy)]
                    if bar is not None:
                        bar.update(1)
            except TrainingDiverged:
                continue  # a seed that diverges says nothing about the spread of the others
            samples[key] = values
            _store(study, samples, spec.seeds)
    finally:
        if bar is not None:
            bar.close()
    return stored_noise(study)


def _own_samples(trial: FrozenTrial) -> list[float]:
    """The accuracies the search itself measured (seeds 0 .. K-1)."""
    return [float(v) for v in TrialRecord.of(trial).get(record.ACCURACY_SAMPLES)]


def _store(study: optuna.Study, samples: dict[str, list[float]], seeds: int) -> None:
    sd = pooled_sd(list(samples.values()))
    if not math.isfinite(sd):
        return
    measured = sum(len(values) >= seeds for values in samples.values())
    write_noise(study, {"sd": sd, "trials": measured, "seeds": seeds, "samples": samples})


def _bar(total: int, enabled: bool) -> Any:
    if not enabled or total <= 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="run", desc="seed noise", dynamic_ncols=True, leave=False)
