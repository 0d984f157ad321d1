"""One trial of a search: sample, build, count, time, check budgets, then train or score.

The order keeps an over-budget candidate cheap: it is counted and timed (seconds), recorded
with its figures, marked infeasible through `trial.set_constraint` (and Optuna's list form,
for optuna-dashboard) and never trained: its accuracy stays None (never scored) and only its
objective value holds a placeholder. An architecture already measured in the study is not
measured again: its figures are reused. With a pre-screen or a fidelity ladder
(`workbench.search.ladder`) a candidate may stop early, PRUNED, with status `screened` or
`stopped`. Otherwise a scored trial is trained with the space's `repeats`
seeds (`SearchSpace.trial_seeds`); its accuracy is their mean, recorded with every seed's
value, their sd and a Wilson interval from the validation size. Every trial ends with the
full fixed record (`workbench.record.TRIAL_KEYS`) in its user attributes, whether it
completed, was rejected, reused, pruned or failed.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import optuna
import torch

from workbench import __version__, record
from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.profiling import profile_arch
from workbench.profiling.engine_latency import Graphs, labelled
from workbench.record import empty_record, publish, write_record
from workbench.search import engine_figures, ladder
from workbench.search.arch_sampling import arch_from_params, sample_params
from workbench.search.dedupe import arch_hash, claim_architecture, reuse
from workbench.search.scoring import score
from workbench.search.space import SearchSpace
from workbench.search.space_resolve import ResolvedSpace
from workbench.search.stop import interrupt_reason
from workbench.storage import set_constraint_list, storage_failure_cause
from workbench.training import TrainingDiverged

# Placeholder objective value of a never-scored (rejected) trial; its record says None.
WORST_ACCURACY = 0.0
# Constraint names and the budget field / record key each one compares.
CONSTRAINTS: tuple[tuple[str, str, str], ...] = tuple(
    (name, name, column) for name, column in record.BUDGET_COLUMNS.items()
)


class TrialFailed(Exception):
    """A trial that could not finish (cannot be built, diverged, out of memory, ...); its
    record is already written and Optuna marks it FAIL."""


@dataclass
class TrialContext:
    """What every trial of one worker shares: the space resolved for this run (base
    architecture fitted to the data, recipe, latency protocol, base seed), the loaded data,
    the device and the hooks."""

    resolved: ResolvedSpace
    data: Any  # workbench.data.Dataset (on the device)
    device: str = "cpu"
    device_name: str = "cpu"
    timings: dict[str, float] = field(default_factory=dict)
    trainer: Callable[..., Any] | None = None  # replaces train_proxy (benchmarks, tests)
    claim_lock: Callable[[], Any] | None = None  # the study lock (workbench.storage.study_lock)
    run_id: str = ""  # the command's run id, written on every trial
    claim_wait_s: float = 900.0  # longest wait for another worker's same architecture
    calibration: Any = None  # int8 calibration images, drawn once per worker (engine_figures)

    def __post_init__(self) -> None:
        self.resolved = self.resolved.fitted_to(self.data)

    @property
    def space(self) -> SearchSpace:
        return self.resolved.space

    @property
    def base(self) -> ArchConfig:
        return self.resolved.base

    @property
    def protocol(self) -> Any:
        return self.resolved.protocol

    @property
    def seed(self) -> int:
        return self.resolved.seed


def objective_values(space: SearchSpace, figures: dict[str, Any]) -> list[float]:
    """Trial values in the order of the study's metrics, from the record's figures (a
    never-scored accuracy counts as the placeholder `WORST_ACCURACY`)."""
    names = list(space.scalarization.weights) if space.scalarization is not None else space.objectives
    by_name = {name: record.figure(figures, record.objective(name).column) for name in names}
    if by_name.get("accuracy", 0.0) is None:
        by_name["accuracy"] = WORST_ACCURACY
    if space.scalarization is not None:
        return [space.scalarization.value(by_name)]
    return [float(by_name[name]) for name in space.objectives]


def run_trial(trial: optuna.Trial, ctx: TrialContext) -> list[float] | float:
    """The Optuna objective of a search: returns the trial's values (a float for a
    single-objective study); raises `TrialFailed` after recording a failure and
    `optuna.TrialPruned` after recording a pruned trial."""
    started = time.perf_counter()
    rec = empty_record()
    rec[record.WORKBENCH_VERSION] = __version__
    rec[record.DEVICE] = ctx.device_name
    rec[record.ACCURACY_SOURCE] = ctx.resolved.accuracy_source
    rec[record.RUN_ID] = ctx.run_id or None
    rec[record.TORCH_THREADS] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    try:
        publish(trial, rec, [record.RUN_ID])  # now: a later run must tell a dead worker's trial
        params = sample_params(trial, ctx.space, ctx.base)
        rec[record.KNOBS] = params
        arch = arch_from_params(ctx.space, params, ctx.base)
        rec[record.ARCH_JSON], rec[record.ARCH_HASH] = arch_hash(arch)
        source = claim_architecture(trial, ctx, rec[record.ARCH_HASH])
        if source is not None:
            reuse(trial, rec, source)  # raises TrialPruned for a copy of a ladder stop
            return _values(ctx.space, rec, trial)
        _build_and_profile(arch, ctx, rec)  # scoring builds fresh models from each seed
        rec[record.PROFILE_SECONDS] = time.perf_counter() - started
        missing = engine_figures.unavailable_objective(ctx.space, rec)
        if missing:
            raise RuntimeError(missing)
        violations = _set_constraints(trial, ctx.space, rec)
        over = [
            f"{figure} {_fmt(record.figure(rec, key))} over budget {_fmt(limit)}"
            if record.figure(rec, key) is not None else f"{figure} unavailable, so budget {_fmt(limit)} cannot hold"
            for name, figure, key, limit, value in violations
            if value > 0
        ]
        if over:
            rec[record.STATUS] = "rejected"
            rec[record.REASON] = "; ".join(over)
            write_record(trial, rec)
            return _values(ctx.space, rec, trial)
        if ctx.space.prescreen is not None:
            ladder.prescreen(trial, ctx, arch, rec)  # raises TrialPruned unless promoted
        if ctx.space.fidelity is not None:
            ladder.train_on_ladder(trial, ctx, arch, rec)  # raises TrialPruned below the top rung
        else:
            model = score(trial, ctx, arch, rec)
            engine_figures.after_scoring(ctx, arch, model, rec, ctx.resolved.trial_seeds(trial.number)[0])
        rec[record.STATUS] = "complete"
        write_record(trial, rec)
        return _values(ctx.space, rec, trial)
    except optuna.TrialPruned:
        raise
    except TrialFailed:
        raise
    except KeyboardInterrupt as stop:
        _fail(trial, rec, interrupt_reason(stop))
        raise
    except Exception as error:  # noqa: BLE001 - any failure of one candidate is recorded, the study goes on
        _release_memory()
        cause = storage_failure_cause(error, drivers_only=True)
        if cause is not None:
            # Not the candidate's fault and no later trial could be stored either: recorded (if
            # the storage still takes it) as interrupted, so the next run retries it, and the
            # error ends the search instead of failing one empty trial after another.
            _fail(trial, rec, f"interrupted: the storage {cause}")
            raise
        _fail(trial, rec, _reason(error))
        raise TrialFailed(rec[record.REASON]) from error


def _values(space: SearchSpace, rec: dict[str, Any], trial: optuna.Trial) -> list[float] | float:
    values = objective_values(space, rec)
    return values[0] if space.single_objective else values


def _fail(trial: optuna.Trial, rec: dict[str, Any], reason: str) -> None:
    rec[record.STATUS] = "failed"
    rec[record.REASON] = reason
    try:
        write_record(trial, rec)
    except Exception:  # noqa: BLE001 - the storage itself may be what failed; Optuna still marks FAIL
        pass


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, TrainingDiverged):
        return f"training diverged: {text}"
    if "out of memory" in text.lower() or type(error).__name__ == "OutOfMemoryError":
        return f"out of memory: {text[:300]}"
    if isinstance(error, (WorkbenchError, ValueError)) or type(error).__name__ == "ValidationError":
        return f"config cannot be built: {text[:300]}"
    return f"{type(error).__name__}: {text[:300]}"


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _build_and_profile(arch: ArchConfig, ctx: TrialContext, rec: dict[str, Any]) -> tuple[Any, Any]:
    model = build_model(arch)
    profile = profile_arch(arch, ctx.protocol, model=model)
    rec[record.PARAMS] = int(profile.params)
    rec[record.MACS] = int(profile.macs)
    rec[record.FLOPS_FVCORE] = int(profile.flops_fvcore)
    rec[record.ACTIVATIONS] = int(profile.activations)
    rec[record.UNSUPPORTED_OPS] = dict(profile.unsupported_ops)
    rec[record.PEAK_MEMORY] = int(profile.peak_memory_bytes) if profile.peak_memory_bytes is not None else None
    targets = ctx.resolved.targets
    if targets:
        first = targets[0]
        known = {first.name: labelled(profile.latency, first)} if profile.latency is not None else {}
        early = engine_figures.timed_early(ctx.space, targets)
        int8 = ctx.resolved.int8_target
        calibration = engine_figures.calibration_for(ctx, int8) if int8 is not None and int8 in early else None
        results, seconds = engine_figures.measure(model, arch, early, Graphs(model, arch, calibration), known,
                                                  ctx.resolved.predictors)
        seconds[first.name] = seconds.get(first.name, 0.0) + (profile.latency_seconds or 0.0)
        engine_figures.record_targets(rec, results, seconds, first.name)
    return model, profile


def _constraints(space: SearchSpace) -> list[tuple[str, str, str]]:
    """(constraint name, budget name, record column) of every constraint a trial of `space` sets:
    the three fixed budgets, then one per target-named latency budget."""
    named = [name for name in space.budgets.limits() if record.split_target(name)[1] is not None]
    return [*CONSTRAINTS, *((name, name, record.budget_column(name)) for name in named)]


def _set_constraints(
    trial: optuna.Trial, space: SearchSpace, rec: dict[str, Any]
) -> list[tuple[str, str, str, float, float]]:
    """Set every constraint on the trial (figure - budget; 0 for an unbounded budget; 1 for a
    budgeted figure that could not be measured, which can never count as within budget)."""
    limits = space.budgets.limits()
    out = []
    for name, budget, key in _constraints(space):
        limit = limits.get(budget)
        figure = record.figure(rec, key)
        if limit is None:
            value = 0.0
        elif figure is None:
            value = 1.0 if record.split_target(key)[1] is not None else 0.0
        else:
            value = float(figure) - float(limit)
        trial.set_constraint(name, value)
        out.append((name, _figure_name(key), key, limit, value))
    set_constraint_list(trial, [value for *_, value in out])
    return out


def _figure_name(column: str) -> str:
    base, target = record.split_target(column)
    name = {record.PARAMS: "params", record.MACS: "macs", record.LATENCY_P50: "latency_ms"}[base]
    return f"{name}:{target}" if target else name


def _fmt(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) and abs(value) >= 1000 else f"{value:.3g}"
