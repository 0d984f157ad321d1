"""A trial's latency targets and int8 accuracy, written into its record.

When each target is timed:
- PyTorch targets and fp32 ONNX Runtime targets: before training, on the built model (as the
  single PyTorch latency always was), so budgets and cost objectives decide before training.
- int8 targets: after scoring, on the trained model, quantized once; the same quantized graph is
  timed and scored for accuracy (`workbench train --onnx --int8` quantizes the same way). An int8
  target that must decide before training (named by an objective or budget, a fidelity ladder
  or pre-screen comparing costs, or a zero-cost score that trains nothing) is timed before
  training on the untrained model's graph instead; int8 accuracy still uses the trained one.

An unavailable target is recorded with its reason and the trial goes on; only an objective on
it ends the trial (an objective value cannot be missing), and a budget on it rejects the trial.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from torch import nn

from workbench import record
from workbench.config.arch import ArchConfig
from workbench.data.calibration import calibration_images
from workbench.profiling.engine_latency import Graphs, measure_targets
from workbench.profiling.latency import LatencyResult
from workbench.profiling.targets import LatencyTarget
from workbench.search.predicted import predicted_result
from workbench.search.space import SearchSpace
from workbench.training import int8 as int8_scoring


def named_targets(space: SearchSpace) -> set[str]:
    """Targets an objective or budget of `space` names (the first target for plain `latency_ms`)."""
    first = space.target_names()[:1]
    names = [record.split_target(n) for n in (space.figures_needed | set(space.budgets.limits()))]
    return {target or first[0] for base, target in names
            if base in ("latency_ms", record.CONSTRAINT_LATENCY) and (target or first)}


def timed_early(space: SearchSpace, targets: Sequence[LatencyTarget]) -> list[LatencyTarget]:
    """The targets timed before training (see the module docstring)."""
    needed = named_targets(space)
    untrained = space.accuracy.source == "zero_cost" or space.fidelity is not None or space.prescreen is not None
    return [t for t in targets if not t.is_int8 or t.is_predicted or untrained or t.name in needed]


def target_entry(result: LatencyResult, seconds: float) -> dict[str, Any]:
    """One target's entry in the record's `latency_targets`."""
    entry = {key: value for key, value in result.to_dict().items() if key not in ("mean_ms", "std_ms", "samples")}
    entry["seconds"] = seconds
    if result.protocol.get("predicted"):
        entry.update(predicted=True, low_ms=result.protocol.get("low_ms"), high_ms=result.protocol.get("high_ms"))
    return entry


def record_targets(rec: dict[str, Any], results: dict[str, LatencyResult], seconds: dict[str, float],
                   first: str | None) -> None:
    """Add measured targets to the record; the first target's figures also fill the plain latency keys."""
    entries = dict(rec.get(record.LATENCY_TARGETS) or {})
    entries.update({name: target_entry(result, seconds.get(name, 0.0)) for name, result in results.items()})
    rec[record.LATENCY_TARGETS] = entries
    if first in results:
        result = results[first]
        rec[record.LATENCY_PROTOCOL] = dict(result.protocol)
        rec[record.DEVICE] = result.protocol.get("device_name", rec.get(record.DEVICE))
        if result.available:
            rec[record.LATENCY_P50] = float(result.p50_ms)
            rec[record.LATENCY_P90] = float(result.p90_ms)
            rec[record.LATENCY_CV] = float(result.cv)
            rec[record.LATENCY_NOISY] = bool(result.noisy)


def measure(model: nn.Module, arch: ArchConfig, targets: Sequence[LatencyTarget], graphs: Graphs,
            known: dict[str, LatencyResult] | None = None,
            predictors: dict[str, Any] | None = None) -> tuple[dict[str, LatencyResult], dict[str, float]]:
    """Time (or, for a predicted target, predict) each target in turn; returns the results and
    each one's seconds (graph export and quantization included in the first target that needed them)."""
    results: dict[str, LatencyResult] = {}
    seconds: dict[str, float] = {}
    for target in targets:
        started = time.perf_counter()
        if target.is_predicted:
            results[target.name] = predicted_result(arch, target, (predictors or {})[target.name])
        else:
            results.update(measure_targets(model, arch, [target], known=known, graphs=graphs))
        seconds[target.name] = time.perf_counter() - started
    return results, seconds


def unavailable_objective(space: SearchSpace, rec: dict[str, Any]) -> str | None:
    """Why an objective's latency cannot be had (its target unavailable), or None."""
    first = space.target_names()[:1]
    for name in space.figures_needed:
        base, target = record.split_target(name)
        target = target or (first[0] if base == "latency_ms" and first else None)
        if base != "latency_ms" or target is None:
            continue
        entry = (rec.get(record.LATENCY_TARGETS) or {}).get(target) or {}
        if not entry.get("available", False):
            reason = entry.get("reason") or "not measured"
            return f"objective {name}: latency target '{target}' is unavailable: {reason}"
    return None


def calibration_for(ctx: Any, target: LatencyTarget) -> Any:
    """The context's calibration images (drawn once per worker: the space's seed fixes them)."""
    if ctx.calibration is None:
        ctx.calibration = calibration_images(ctx.data, target.calibration, ctx.space.seed)
    return ctx.calibration


def after_scoring(ctx: Any, arch: ArchConfig, model: nn.Module | None, rec: dict[str, Any], seed: int) -> None:
    """Time the int8 targets left for after training on the trained model (trained at `seed`),
    and score its int8 accuracy on the validation split (`record.INT8`)."""
    int8_target = ctx.resolved.int8_target
    if int8_target is None:
        return
    late = [t for t in ctx.resolved.targets if t.name not in (rec.get(record.LATENCY_TARGETS) or {})]
    if model is None:
        rec[record.INT8] = int8_scoring.unavailable(_untrained_reason(ctx.space))
        return
    graphs = Graphs(model, arch, calibration_for(ctx, int8_target))
    results, seconds = measure(model, arch, late, graphs)
    record_targets(rec, results, seconds, None)
    rec[record.INT8] = _int8_record(graphs, int8_target, ctx, results.get(int8_target.name))
    if rec[record.INT8].get("available"):
        rec[record.INT8]["seed"] = seed


def _int8_record(graphs: Graphs, target: LatencyTarget, ctx: Any,
                 timed: LatencyResult | None) -> dict[str, Any]:
    if timed is not None and not timed.available:
        return int8_scoring.unavailable(timed.reason or "int8 target unavailable")
    try:
        fp32_graph, _ = graphs.fp32(target.opset)
        figures = int8_scoring.int8_accuracy(fp32_graph, graphs.int8(target), ctx.data.val_x, ctx.data.val_y,
                                             threads=target.protocol.threads or 1)
    except Exception as error:  # noqa: BLE001 - a quantizer failure is this figure's reason, not the trial's
        return int8_scoring.unavailable(f"{type(error).__name__}: {' '.join(str(error).split())}"[:300])
    figures.update(target=target.name, calibration_images=min(target.calibration, len(graphs.calibration)),
                   quantization=target.quantization.to_dict())
    return figures


def _untrained_reason(space: SearchSpace) -> str:
    if space.accuracy.source == "zero_cost":
        return "zero-cost scoring trains no model to quantize"
    return "not scored: the trial trained no full-fidelity model here"
