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
import multiprocessing
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.record import StudyRecord, TrialRecord, write_noise
from workbench.search.scoring import train_candidate
from workbench.search.space import SearchSpace, seed_rule
from workbench.search.space_resolve import ResolvedSpace
from workbench.search.threads import set_torch_threads
from workbench.search.workers import load_search_data
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
                  trainer: Callable[..., Any] | None = None, progress: bool = False, workers: int = 1,
                  threads: int = 1) -> dict[str, Any] | None:
    """Measure (or complete) the study's seed noise as the space's `noise:` asks; returns the
    stored `accuracy_noise` dict, or None when the space asks for none or no trial is scored.

    `resolved` is the space as the search resolved it (its recipe, and the base seed the search
    ran with); `data` the dataset the trials were scored on; `trainer` replaces `train_proxy`
    (tests; it runs here). With `workers` > 1 the re-scored trials train side by side in that
    many processes of `threads` torch threads each; each trial's seeds are stored as it finishes.

    `tests/test_accuracy_noise.py` runs it on real searches.
    """
    space = resolved.space
    spec = space.noise
    if spec is None or space.accuracy.source != "proxy":
        return None
    if noise_complete(study, space):
        return stored_noise(study)
    samples: dict[str, list[float]] = {k: list(v) for k, v in (stored_noise(study).get("samples") or {}).items()}
    picked = spread_pick(noise_candidates(study.get_trials(deepcopy=False)), spec.trials, [int(k) for k in samples])
    if not picked:
        return None
    tasks = []
    for trial in picked:
        values = samples.get(str(trial.number)) or _own_samples(trial)
        seeds = seed_rule(resolved.seed, trial.number, spec.seeds, first=len(values))
        tasks.append((str(trial.number), values, TrialRecord.of(trial).arch_json, seeds))
    bar = _bar(sum(len(seeds) for *_, seeds in tasks), progress)
    try:
        for key, values in _rescored(tasks, resolved, data, device, trainer, workers, threads, bar):
            samples[key] = values
            _store(study, samples, spec.seeds)
    finally:
        if bar is not None:
            bar.close()
    return stored_noise(study)


Task = tuple[str, list[float], str, list[int]]   # trial key, its samples so far, its ArchConfig JSON, seeds to add


def _rescored(tasks: list[Task], resolved: ResolvedSpace, data: Any, device: str, trainer: Callable[..., Any] | None,
              workers: int, threads: int, bar: Any) -> Iterator[tuple[str, list[float]]]:
    """(trial key, all its samples) for each task whose seeds all trained, as each finishes
    (a diverged seed drops its trial: it says nothing about the spread of the others)."""
    if trainer is not None or workers <= 1 or len(tasks) <= 1:
        for key, values, arch_json, seeds in tasks:
            added = _train_seeds(resolved, arch_json, seeds, data, device, trainer, bar)
            if added is not None:
                yield key, values + added
        return
    # One run per (trial, seed), so the processes stay busy to the end; a trial is stored once all
    # its seeds are in, and the seeds are put back in their order.
    runs = [(key, arch_json, seed) for key, _, arch_json, seeds in tasks for seed in seeds]
    pending = {key: {"values": values, "seeds": seeds, "added": {}} for key, values, _, seeds in tasks}
    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(runs)), initializer=_pool_start,
                                                     initargs=(resolved, device, threads))
    try:
        for key, seed, accuracy in pool.imap_unordered(_pool_run, runs):
            if bar is not None:
                bar.update(1)
            entry = pending[key]
            entry["added"][seed] = accuracy
            if len(entry["added"]) == len(entry["seeds"]) and None not in entry["added"].values():
                yield key, entry["values"] + [entry["added"][s] for s in entry["seeds"]]
        pool.close()
    finally:
        pool.terminate()  # at once on Ctrl-C: every trial finished so far is already stored
        pool.join()


def _train_seeds(resolved: ResolvedSpace, arch_json: str, seeds: list[int], data: Any, device: str,
                 trainer: Callable[..., Any] | None, bar: Any = None) -> list[float] | None:
    """The validation accuracy of each seed, or None when one diverged."""
    arch = ArchConfig.model_validate(json.loads(arch_json))
    added = []
    try:
        for seed in seeds:
            added.append(float(train_candidate(resolved.recipe, arch, data, seed, device=device,
                                               trainer=trainer).val_accuracy))
            if bar is not None:
                bar.update(1)
    except TrainingDiverged:
        return None
    return added


_POOL: dict[str, Any] = {}


def _pool_start(resolved: ResolvedSpace, device: str, threads: int) -> None:
    """A noise process: its torch threads and its own copy of the data, loaded once."""
    set_torch_threads(threads)
    _POOL.update(resolved=resolved, device=device, data=load_search_data(resolved, device))


def _pool_run(run: tuple[str, str, int]) -> tuple[str, int, float | None]:
    key, arch_json, seed = run
    added = _train_seeds(_POOL["resolved"], arch_json, [seed], _POOL["data"], _POOL["device"], None)
    return key, seed, None if added is None else added[0]


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
