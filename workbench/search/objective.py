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

import hashlib
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench import __version__, record
from workbench.record import TrialRecord, empty_record, publish, write_record
from workbench.config.arch import ArchConfig
from workbench.config.io import to_plain
from workbench.errors import WorkbenchError
from workbench.search import ladder
from workbench.search.sampling import arch_from_params, sample_params
from workbench.search.space import SearchSpace
from workbench.stats import wilson_interval
from workbench.storage import named_constraints, set_constraint_list

# Placeholder objective value of a never-scored (rejected) trial; its record says None.
WORST_ACCURACY = 0.0
# Constraint names and the budget field / record key each one compares.
CONSTRAINTS: tuple[tuple[str, str, str], ...] = tuple((name, name, column) for name, column in record.BUDGET_COLUMNS.items())
# Record keys copied from a trial whose architecture is reused.
# Ladder outcomes: scored below the top rung (stopped) or left out by the pre-screen (screened).
_LADDER_STOPS = ("stopped", "screened")
_REUSED_KEYS = tuple(k for k in record.TRIAL_KEYS if k not in (record.STATUS, record.REASON, record.REUSED_FROM, record.KNOBS,
                                                                record.WORKBENCH_VERSION, record.RUN_ID))
# How often a worker looks again at another worker's trial of the same architecture.
_CLAIM_POLL_S = 1.0


class TrialFailed(Exception):
    """A trial that could not finish (cannot be built, diverged, out of memory, ...); its
    record is already written and Optuna marks it FAIL."""


def arch_hash(arch: ArchConfig) -> tuple[str, str]:
    """(canonical JSON, sha256 of it) of an architecture: the dedupe key."""
    text = json.dumps(to_plain(arch), sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()


@dataclass
class TrialContext:
    """What every trial of one worker shares: the space, the loaded data, the latency
    protocol, the device, the base seed and the hooks."""

    space: SearchSpace
    data: Any                      # workbench.data.Dataset (on the device)
    protocol: Any                  # LatencyProtocol or None
    device: str = "cpu"
    seed: int = 0
    device_name: str = "cpu"
    base: ArchConfig | None = None
    timings: dict[str, float] = field(default_factory=dict)
    trainer: Callable[..., Any] | None = None   # replaces train_proxy (benchmarks, tests)
    claim_lock: Callable[[], Any] | None = None  # the study lock (workbench.storage.study_lock)
    run_id: str = ""                             # the command's run id, written on every trial
    claim_wait_s: float = 900.0                  # longest wait for another worker's same architecture

    def __post_init__(self) -> None:
        if self.base is None:
            self.base = self.space.base_arch()
        num_classes = getattr(self.data, "num_classes", None)
        in_channels = getattr(self.data, "in_channels", None)
        input_size = getattr(self.data, "input_size", None)
        update = {k: v for k, v in (("num_classes", num_classes), ("in_channels", in_channels),
                                    ("input_size", input_size)) if v is not None}
        if update:
            self.base = ArchConfig.model_validate({**self.base.model_dump(), **update})


def objective_values(space: SearchSpace, figures: dict[str, Any]) -> list[float]:
    """Trial values in the order of the study's metrics, from the record's figures (a
    never-scored accuracy counts as the placeholder `WORST_ACCURACY`)."""
    by_name = {name: figures.get(obj.column) for name, obj in record.OBJECTIVES.items()}
    if by_name["accuracy"] is None:
        by_name["accuracy"] = WORST_ACCURACY
    if space.scalarization is not None:
        return [space.scalarization.value({n: by_name[n] for n in space.scalarization.weights})]
    return [float(by_name[name]) for name in space.objectives]


def run_trial(trial: optuna.Trial, ctx: TrialContext) -> list[float] | float:
    """The Optuna objective of a search: returns the trial's values (a float for a
    single-objective study); raises `TrialFailed` after recording a failure and
    `optuna.TrialPruned` after recording a pruned trial."""
    started = time.perf_counter()
    rec = empty_record()
    rec[record.WORKBENCH_VERSION] = __version__
    rec[record.DEVICE] = ctx.device_name
    rec[record.ACCURACY_SOURCE] = ctx.space.accuracy_source
    rec[record.RUN_ID] = ctx.run_id or None
    try:
        publish(trial, rec, [record.RUN_ID])  # now: a later run must tell a dead worker's trial
        params = sample_params(trial, ctx.space)
        rec[record.KNOBS] = params
        arch = arch_from_params(ctx.space, params, base=ctx.base)
        rec[record.ARCH_JSON], rec[record.ARCH_HASH] = arch_hash(arch)
        source = claim_architecture(trial, ctx, rec[record.ARCH_HASH])
        if source is not None:
            return _reuse(trial, ctx, rec, source)
        _build_and_profile(arch, ctx, rec)  # scoring builds fresh models from each seed
        rec[record.PROFILE_SECONDS] = time.perf_counter() - started
        violations = _set_constraints(trial, ctx.space, rec)
        over = [f"{figure} {_fmt(rec[key])} over budget {_fmt(limit)}" for name, figure, key, limit, value in violations if value > 0]
        if over:
            rec[record.STATUS] = "rejected"
            rec[record.REASON] = "; ".join(over)
            write_record(trial, rec)
            return _values(ctx.space, rec, trial)
        if ctx.space.prescreen is not None:
            ladder.prescreen(trial, ctx, arch, rec)   # raises TrialPruned unless promoted
        _score(trial, ctx, arch, rec)
        rec[record.STATUS] = "complete"
        write_record(trial, rec)
        return _values(ctx.space, rec, trial)
    except optuna.TrialPruned:
        raise
    except TrialFailed:
        raise
    except KeyboardInterrupt:
        _fail(trial, rec, "interrupted by the user (Ctrl-C)")
        raise
    except Exception as error:  # noqa: BLE001 - any failure of one candidate is recorded, the study goes on
        _release_memory()
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
    from workbench.training import TrainingDiverged

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, TrainingDiverged):
        return f"training diverged: {text}"
    if "out of memory" in text.lower() or type(error).__name__ == "OutOfMemoryError":
        return f"out of memory: {text[:300]}"
    if isinstance(error, (WorkbenchError, ValueError)) or type(error).__name__ == "ValidationError":
        return f"config cannot be built: {text[:300]}"
    return f"{type(error).__name__}: {text[:300]}"


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# Statuses of a finished trial whose figures a later trial of the same architecture reuses.
_MEASURED = {TrialState.COMPLETE: ("complete", "rejected", "reused"), TrialState.PRUNED: _LADDER_STOPS}


def same_architecture(trial: optuna.Trial, digest: str) -> tuple[FrozenTrial | None, bool]:
    """(an earlier finished trial with this architecture hash whose figures can be reused,
    whether another RUNNING trial has claimed the same hash), from one read of the study.
    Reusable: completed, rejected, reused, or stopped / screened on a ladder."""
    measured, busy = None, False
    for other in trial.study.get_trials(deepcopy=False, states=(*_MEASURED, TrialState.RUNNING)):
        if other.number == trial.number or TrialRecord.of(other).arch_hash != digest:
            continue
        if other.state == TrialState.RUNNING:
            busy = True
        elif measured is None and TrialRecord.of(other).stored_status in _MEASURED[other.state]:
            measured = other
    return measured, busy


def claim_architecture(trial: optuna.Trial, ctx: TrialContext, digest: str) -> FrozenTrial | None:
    """The finished trial whose figures this one reuses, or None after claiming the
    architecture for this trial (its hash published under the study lock, so no other worker,
    in any process, starts measuring it too). While another worker is measuring the same
    architecture this one waits for it (up to `ctx.claim_wait_s`, then measures it itself)."""
    waited = 0.0
    while True:
        lock = ctx.claim_lock() if ctx.claim_lock is not None else nullcontext()
        with lock:
            source, busy = same_architecture(trial, digest)
            if source is not None:
                return source
            if not busy or waited >= ctx.claim_wait_s:
                publish(trial, {record.ARCH_HASH: digest}, [record.ARCH_HASH])
                return None
        time.sleep(_CLAIM_POLL_S)
        waited += _CLAIM_POLL_S


def _reuse(trial: optuna.Trial, ctx: TrialContext, rec: dict[str, Any], source: FrozenTrial) -> list[float] | float:
    """Copy an earlier trial's figures. A copy of a never-scored (over-budget) trial stays
    "rejected" with no accuracy; only a copy of a scored one is "reused"."""
    attrs = TrialRecord.of(source)
    origin = attrs.reused_from
    origin = source.number if origin is None else origin
    for key in _REUSED_KEYS:
        rec[key] = attrs.get(key)
    if attrs.get(record.STATUS) in _LADDER_STOPS:
        rec[record.STATUS], rec[record.REUSED_FROM] = attrs.get(record.STATUS), int(origin)
        rec[record.REASON] = f"same architecture as trial {origin} ({attrs.get(record.REASON)})"
        write_record(trial, rec)
        raise optuna.TrialPruned(rec[record.REASON])
    constraints = named_constraints(source)
    # Old studies stored over-budget trials (and their copies) as scored 0.0: infeasibility tells.
    scored = attrs.get(record.STATUS) in record.SCORED_STATUSES and record.within_budgets(constraints)
    if not scored:
        for key in (record.ACCURACY, record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH, record.ACCURACY_SD,
                    record.ACCURACY_SAMPLES):
            rec[key] = None
    rec[record.STATUS] = "reused" if scored else "rejected"
    rec[record.REUSED_FROM] = int(origin)
    rec[record.REASON] = f"same architecture as trial {origin}" + (f" ({attrs.get(record.REASON)})" if attrs.get(record.REASON) else "")
    for name, value in constraints.items():
        trial.set_constraint(name, value)
    if constraints:
        set_constraint_list(trial, list(constraints.values()))
    write_record(trial, rec)
    return _values(ctx.space, rec, trial)


def _build_and_profile(arch: ArchConfig, ctx: TrialContext, rec: dict[str, Any]) -> tuple[Any, Any]:
    from workbench.models import build_model
    from workbench.profiling import profile_arch

    model = build_model(arch)
    profile = profile_arch(arch, ctx.protocol, model=model)
    rec[record.PARAMS] = int(profile.params)
    rec[record.MACS] = int(profile.macs)
    rec[record.FLOPS_FVCORE] = int(profile.flops_fvcore)
    rec[record.ACTIVATIONS] = int(profile.activations)
    rec[record.UNSUPPORTED_OPS] = dict(profile.unsupported_ops)
    rec[record.PEAK_MEMORY] = int(profile.peak_memory_bytes) if profile.peak_memory_bytes is not None else None
    latency = profile.latency
    if latency is not None:
        rec[record.LATENCY_PROTOCOL] = dict(latency.protocol)
        rec[record.DEVICE] = latency.protocol.get("device_name", ctx.device_name)
        if not latency.available:
            raise RuntimeError(f"latency could not be measured: {latency.reason}")
        rec[record.LATENCY_P50] = float(latency.p50_ms)
        rec[record.LATENCY_P90] = float(latency.p90_ms)
        rec[record.LATENCY_CV] = float(latency.cv)
        rec[record.LATENCY_NOISY] = bool(latency.noisy)
    return model, profile


def _set_constraints(trial: optuna.Trial, space: SearchSpace, rec: dict[str, Any]) -> list[tuple[str, str, str, float, float]]:
    """Set every constraint on the trial (figure - budget; 0 for an unbounded budget)."""
    out = []
    for name, field_name, key in CONSTRAINTS:
        limit = getattr(space.budgets, field_name)
        value = 0.0 if limit is None or rec.get(key) is None else float(rec[key]) - float(limit)
        trial.set_constraint(name, value)
        figure = {record.PARAMS: "params", record.MACS: "macs", record.LATENCY_P50: "latency_ms"}[key]
        out.append((name, figure, key, limit, value))
    set_constraint_list(trial, [value for *_, value in out])
    return out


def _fmt(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) and abs(value) >= 1000 else f"{value:.3g}"


def train_candidate(space: SearchSpace, arch: ArchConfig, data: Any, seed: int, *, device: str = "cpu",
                    trainer: Callable[..., Any] | None = None, on_epoch: Callable[[int, float], None] | None = None) -> Any:
    """One seed of the space's proxy score: seed everything, build a fresh `arch`, train it
    with the space's recipe at that seed. The search, the noise measurement and
    `workbench train-proxy --space` all score through here, so they agree exactly.

    Returns the trainer's `ProxyResult`.

    Example:
        >>> space = load_space("digits")  # doctest: +SKIP
        >>> train_candidate(space, space.base_arch(), load_search_data(space), seed=0).val_accuracy  # doctest: +SKIP
        0.97
    """
    from workbench.models import build_model
    from workbench.training import seed_everything, train_proxy

    seed_everything(seed)
    model = build_model(arch)
    recipe = space.proxy_recipe().model_copy(update={"seed": seed})
    return (trainer or train_proxy)(model, data, recipe, device=device, on_epoch=on_epoch)


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
    return {record.ACCURACY: mean, record.ACCURACY_SAMPLES: values, record.VAL_SIZE: val_size if proportion else None,
            record.ACCURACY_SD: float(np.std(values, ddof=1)) if len(values) > 1 else None,
            record.ACCURACY_CI_LOW: low, record.ACCURACY_CI_HIGH: high}


def _score(trial: optuna.Trial, ctx: TrialContext, arch: ArchConfig, rec: dict[str, Any]) -> None:
    """Proxy-train every seed of the trial (reporting the first seed's epochs to the pruner in
    single-objective mode) or compute the zero-cost proxy; fills the accuracy figures."""
    space = ctx.space
    if space.fidelity is not None:
        ladder.train_on_ladder(trial, ctx, arch, rec)   # raises TrialPruned below the top rung
        return
    seeds = space.trial_seeds(trial.number, ctx.seed)
    val_size = len(ctx.data.val_y) if getattr(ctx.data, "val_y", None) is not None else None
    started = time.perf_counter()
    if space.accuracy.source == "zero_cost":
        from workbench.models import build_model
        from workbench.training import seed_everything, zero_cost_score

        samples = []
        for seed in seeds:
            seed_everything(seed)
            samples.append(float(zero_cost_score(space.accuracy.proxy, build_model(arch), ctx.data,
                                                 batch_size=space.accuracy.batch_size, seed=seed)))
        rec.update(accuracy_figures(samples, val_size, proportion=False))
        rec[record.TRAIN_SECONDS] = time.perf_counter() - started
        return
    on_epoch = _pruning_hook(trial, rec) if space.single_objective and space.pruner != "none" else None
    runs = [train_candidate(space, arch, ctx.data, seed, device=ctx.device, trainer=ctx.trainer,
                            on_epoch=on_epoch if index == 0 else None)
            for index, seed in enumerate(seeds)]
    rec.update(accuracy_figures([run.val_accuracy for run in runs], val_size))
    rec[record.VAL_CURVE] = _mean_curve([run.val_curve for run in runs])
    rec[record.LOSS_CURVE] = _mean_curve([run.loss_curve for run in runs])
    rec[record.TRAIN_SECONDS] = sum(float(run.train_seconds) + float(getattr(run, "eval_seconds", 0.0) or 0.0)
                                    for run in runs)
    speeds = [float(run.images_per_second) for run in runs if run.images_per_second is not None]
    rec[record.IMAGES_PER_SECOND] = float(np.mean(speeds)) if speeds else None


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
