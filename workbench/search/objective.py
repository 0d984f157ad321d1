"""One trial of a search: sample, build, count, time, check budgets, then train or score.

The order keeps an over-budget candidate cheap: it is counted and timed (seconds), recorded
with its figures, marked infeasible through `trial.set_constraint` and never trained. An
architecture already measured in the study is not measured again: its figures are reused.
Every trial ends with the full fixed record (`workbench.record.TRIAL_KEYS`) in its user
attributes, whether it completed, was rejected, reused, pruned or failed.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench import __version__, record
from workbench.config.arch import ArchConfig
from workbench.config.io import to_plain
from workbench.errors import WorkbenchError
from workbench.search.sampling import arch_from_params, sample_params
from workbench.search.space import SearchSpace

# Value given to the accuracy objective of a trial that is rejected (never scored).
WORST_ACCURACY = 0.0
# Constraint names and the budget field / record key each one compares.
CONSTRAINTS: tuple[tuple[str, str, str], ...] = (
    (record.CONSTRAINT_PARAMS, "max_params", record.PARAMS),
    (record.CONSTRAINT_MACS, "max_macs", record.MACS),
    (record.CONSTRAINT_LATENCY, "max_latency_ms", record.LATENCY_P50),
)
# Record keys copied from a trial whose architecture is reused.
_REUSED_KEYS = tuple(k for k in record.TRIAL_KEYS if k not in (record.STATUS, record.REASON, record.REUSED_FROM, record.KNOBS,
                                                                record.WORKBENCH_VERSION))


class TrialFailed(Exception):
    """A trial that could not finish (cannot be built, diverged, out of memory, ...); its
    record is already written and Optuna marks it FAIL."""


def arch_hash(arch: ArchConfig) -> tuple[str, str]:
    """(canonical JSON, sha256 of it) of an architecture: the dedupe key."""
    text = json.dumps(to_plain(arch), sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()


def empty_record() -> dict[str, Any]:
    """The fixed record with every key present and None."""
    return {key: None for key in record.TRIAL_KEYS}


def write_record(trial: optuna.Trial, values: dict[str, Any]) -> None:
    """Store all of the fixed record's keys (None where not applicable) on the trial."""
    for key in record.TRIAL_KEYS:
        trial.set_user_attr(key, _plain(values.get(key)))


def _plain(value: Any) -> Any:
    """JSON-safe values for every storage (NaN becomes None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
    """Trial values in the order of the study's metrics, from the record's figures."""
    by_name = {name: figures.get(obj.column) for name, obj in record.OBJECTIVES.items()}
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
    try:
        params = sample_params(trial, ctx.space)
        rec[record.KNOBS] = params
        arch = arch_from_params(ctx.space, params, base=ctx.base)
        rec[record.ARCH_JSON], rec[record.ARCH_HASH] = arch_hash(arch)
        source = find_measured(trial, rec[record.ARCH_HASH])
        if source is not None:
            return _reuse(trial, ctx, rec, source)
        model, profile = _build_and_profile(arch, ctx, rec)
        rec[record.PROFILE_SECONDS] = time.perf_counter() - started
        violations = _set_constraints(trial, ctx.space, rec)
        over = [f"{figure} {_fmt(rec[key])} over budget {_fmt(limit)}" for name, figure, key, limit, value in violations if value > 0]
        if over:
            rec[record.STATUS] = "rejected"
            rec[record.REASON] = "; ".join(over)
            rec[record.ACCURACY] = WORST_ACCURACY
            write_record(trial, rec)
            return _values(ctx.space, rec, trial)
        _score(trial, ctx, model, arch, rec)
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


def find_measured(trial: optuna.Trial, digest: str) -> FrozenTrial | None:
    """An earlier completed trial of the study with the same architecture hash."""
    for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        attrs = other.user_attrs
        if other.number != trial.number and attrs.get(record.ARCH_HASH) == digest and attrs.get(record.STATUS) in ("complete", "rejected", "reused"):
            return other
    return None


def _reuse(trial: optuna.Trial, ctx: TrialContext, rec: dict[str, Any], source: FrozenTrial) -> list[float] | float:
    attrs = source.user_attrs
    origin = attrs.get(record.REUSED_FROM)
    origin = source.number if origin is None else origin
    for key in _REUSED_KEYS:
        rec[key] = attrs.get(key)
    rec[record.STATUS] = "reused"
    rec[record.REUSED_FROM] = int(origin)
    rec[record.REASON] = f"same architecture as trial {origin}" + (f" ({attrs.get(record.REASON)})" if attrs.get(record.REASON) else "")
    for name, value in source.constraints.items():
        trial.set_constraint(name, value)
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
    return out


def _fmt(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) and abs(value) >= 1000 else f"{value:.3g}"


def _score(trial: optuna.Trial, ctx: TrialContext, model: Any, arch: ArchConfig, rec: dict[str, Any]) -> None:
    """Proxy-train (reporting each epoch to the pruner in single-objective mode) or
    compute the zero-cost proxy; fills the accuracy figures of the record."""
    from workbench.training import seed_everything, train_proxy, zero_cost_score

    trial_seed = ctx.seed + trial.number
    seed_everything(trial_seed)
    space = ctx.space
    if space.accuracy.source == "zero_cost":
        started = time.perf_counter()
        from workbench.models import build_model

        fresh = build_model(arch)
        rec[record.ACCURACY] = float(zero_cost_score(space.accuracy.proxy, fresh, ctx.data, batch_size=space.accuracy.batch_size, seed=trial_seed))
        rec[record.TRAIN_SECONDS] = time.perf_counter() - started
        return
    recipe = space.proxy_recipe().model_copy(update={"seed": trial_seed})
    from workbench.models import build_model

    model = build_model(arch)  # fresh initialisation from the trial seed
    on_epoch = _pruning_hook(trial, rec) if space.single_objective and space.pruner != "none" else None
    train = ctx.trainer or train_proxy
    result = train(model, ctx.data, recipe, device=ctx.device, on_epoch=on_epoch)
    rec[record.ACCURACY] = float(result.val_accuracy)
    rec[record.VAL_CURVE] = [float(v) for v in result.val_curve]
    rec[record.LOSS_CURVE] = [float(v) for v in result.loss_curve]
    rec[record.TRAIN_SECONDS] = float(result.train_seconds) + float(getattr(result, "eval_seconds", 0.0) or 0.0)
    rec[record.IMAGES_PER_SECOND] = float(result.images_per_second) if result.images_per_second is not None else None


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
