"""Which architectures a device bundle holds: space-filling samples of the space's knobs spread
over its cost range, the study's Pareto front, or both; each architecture once.

Samples come from Optuna's scrambled Sobol sampler (`QMCSampler`) asked in a throwaway in-memory
study, so they cover the knobs evenly without a search. Twice as many as needed are drawn and
counted; one is kept per equal-width bin of log-MACs (the earliest Sobol point in each bin,
which keeps both ends of the cost range), and the rest are filled with the earliest points left.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.search.space import SearchSpace

POOL_FACTOR = 2  # samples drawn per architecture kept
MAX_DRAWS_FACTOR = 20  # a small space runs out of new architectures: stop drawing after this many


@dataclass(frozen=True)
class Candidate:
    """One architecture chosen for a bundle, with its knobs and counts."""

    arch: ArchConfig
    arch_json: str
    arch_hash: str
    macs: int
    params: int
    knobs: dict[str, Any] = field(default_factory=dict)
    source: str = "sample"  # "sample" (space-filling) or "front" (the study's Pareto front)
    trial: int | None = None


def counted(arch: ArchConfig, knobs: dict[str, Any], source: str = "sample", trial: int | None = None) -> Candidate:
    """A candidate with its conv/linear MACs and parameters counted (fvcore, batch 1)."""
    from workbench.models import build_model
    from workbench.profiling.counting import count_model
    from workbench.search.dedupe import arch_hash

    counts = count_model(build_model(arch), arch)
    text, digest = arch_hash(arch)
    return Candidate(arch, text, digest, int(counts.macs), int(counts.params), dict(knobs), source, trial)


def sobol_params(space: SearchSpace, base: ArchConfig, seed: int) -> Iterator[dict[str, Any]]:
    """Endless knob assignments from a scrambled Sobol sequence over the space's knobs."""
    import optuna

    from workbench.search.arch_sampling import sample_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # QMCSampler is experimental; Sobol prefers powers of two
        sampler = optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
        study = optuna.create_study(sampler=sampler)
        while True:
            trial = study.ask()
            params = sample_params(trial, space, base)
            study.tell(trial, 0.0)  # QMCSampler infers the search space from completed trials
            yield params


def space_samples(space: SearchSpace, base: ArchConfig, count: int, seed: int,
                  exclude: Sequence[str] = ()) -> list[Candidate]:
    """`count` distinct architectures of the space (fewer when it has fewer), counted, in Sobol order."""
    from workbench.search.arch_sampling import arch_from_params
    from workbench.search.dedupe import arch_hash

    seen, found = set(exclude), []
    for draw, params in enumerate(sobol_params(space, base, seed)):
        if len(found) >= count or draw >= count * MAX_DRAWS_FACTOR:
            break
        arch = arch_from_params(space, params, base)
        digest = arch_hash(arch)[1]
        if digest not in seen:
            seen.add(digest)
            found.append(counted(arch, params))
    return found


def spread_by_macs(pool: Sequence[Candidate], count: int) -> list[Candidate]:
    """`count` candidates of `pool` covering its MACs range: the first of each equal-width
    log-MACs bin, then the earliest of the rest; sorted by MACs.

    Example:
        >>> pool = [Candidate(None, "", str(m), m, 0) for m in (100, 110, 120, 130, 10_000, 1_000)]
        >>> [c.macs for c in spread_by_macs(pool, 3)]
        [100, 1000, 10000]
    """
    if len(pool) <= count:
        return sorted(pool, key=lambda c: (c.macs, c.arch_hash))
    logs = [math.log(max(c.macs, 1)) for c in pool]
    low, width = min(logs), (max(logs) - min(logs)) / count or 1.0
    chosen: dict[int, int] = {}  # bin -> index into pool
    for index, value in enumerate(logs):
        chosen.setdefault(min(int((value - low) / width), count - 1), index)
    picked = list(chosen.values())
    picked += [i for i in range(len(pool)) if i not in set(picked)][: count - len(picked)]
    return sorted((pool[i] for i in picked), key=lambda c: (c.macs, c.arch_hash))


def front_candidates(study_name: str, storage: str | None, space: SearchSpace | None = None) -> list[Candidate]:
    """The study's Pareto front (scored, feasible, one per architecture), counted; with
    `space`, only when the study was searched with it.

    Raises:
        WorkbenchError: an unknown study, a study of another space, or an empty front.
    """
    from workbench import record, results

    study, frame = results.open_results(study_name, storage)
    if space is not None:
        check_study_space(study, space)
    front = results.pareto_front(frame, results.study_objectives(study))
    if front.empty:
        raise WorkbenchError(f"study '{study_name}' has no scored feasible trial, so no front to bundle")
    knobs = {t.number: record.TrialRecord.of(t).knobs for t in study.get_trials(deepcopy=False)}
    return [counted(results.arch_of(row), knobs.get(int(row["number"])) or {}, "front", int(row["number"]))
            for _, row in front.iterrows() if row.get(record.ARCH_JSON)]


def check_study_space(study: Any, space: SearchSpace) -> None:
    """Refuse a study searched with another space: its front would be bundled under `space`'s
    name. A study that records no space hash (not made by `workbench search`) cannot be told.

    Raises:
        WorkbenchError: the study's stored space hash is not `space`'s, naming what differs.
    """
    from workbench.record import StudyRecord
    from workbench.search.study import mismatch_text

    stored = StudyRecord.of(study)
    if stored.space_hash and stored.space_hash != space.space_hash():
        raise WorkbenchError(f"study '{study.study_name}' was searched with another space than '{space.name}': "
                             f"{mismatch_text(stored, space)}; pass the study's own space to --space")


def choose_architectures(space: SearchSpace, base: ArchConfig, *, archs: int, seed: int, study: str | None = None,
                         storage: str | None = None, front_only: bool = False) -> list[Candidate]:
    """The bundle's architectures: the study's front (when `study` is given) then `archs`
    space-filling samples spread over the MACs range (none with `front_only`), each once.

    Raises:
        WorkbenchError: `front_only` without a study, a count below 1, an unknown study.
    """
    if front_only and study is None:
        raise WorkbenchError("--front bundles a study's Pareto front: give --study NAME (and --storage URL)")
    if not front_only and archs < 1:
        raise WorkbenchError(f"--archs must be at least 1, got {archs}")
    front = front_candidates(study, storage, space) if study is not None else []
    if front_only:
        return front
    pool = space_samples(space, base, archs * POOL_FACTOR, seed, exclude=[c.arch_hash for c in front])
    return front + spread_by_macs(pool, archs)
