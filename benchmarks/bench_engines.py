"""Latency on three engines: how repeatable each target is, whether they rank architectures
alike, whether the Pareto front changes with the engine, what int8 buys and costs, and what
the added targets cost a trial.

Samples distinct architectures of the `digits` space (12x12) and of the `ghostnet_cifar` space
(32x32) the way the search does (the space's knobs through `workbench.search.arch_sampling`,
Optuna's random sampler, seeded; over-budget ones skipped; distinct by `arch_hash`) and times
each on the digits space's three latency targets, built with `parse_targets` and used for both
spaces: torch-cpu (BN-folded PyTorch), ort-cpu (the ONNX graph in ONNX Runtime) and ort-int8
(QDQ static quantization), one thread each, batch 1.

Pass 1 follows a search trial of the digits space step by step (`workbench.search.trial`):
profile (counts + torch-cpu), ort-cpu on the untrained model, proxy training with the space's
recipe (`train_candidate`, trial i's seed), then ort-int8 on the trained model's graph
(exported again and quantized on the space's 64 seeded calibration images) and the int8
accuracy on the validation split (`int8_accuracy`). Each step's seconds give the extra time
per trial of the two added targets against the trial's own (profile + training).
ghostnet_cifar has no data here: nothing is trained, its int8 graphs are calibrated on seeded
random images (the latency is what is measured there, not the accuracy) and its fronts use MACs
as the second axis.

Pass 2 times every target again on the same graphs, architectures in reverse order (so a
drift of the machine's load does not line up with the architecture order).

Both passes run the way a two-worker search (`--workers auto`) runs: a second process trains the
digits space's base network throughout, inside the search's exclusive timing window (so it
pauses while a model is timed); `--no-window` lets it train during the timings (the protocol
before the window), `--no-trainer` leaves the machine to the benchmark. Every estimator
(`ESTIMATORS`) is computed on the same rounds, so the report compares them directly.

    .venv/bin/python benchmarks/bench_engines.py                        # 30 + 30 architectures
    .venv/bin/python benchmarks/bench_engines.py --archs 4 --epochs 0.2 --loaded   # smoke run

Writes reports/benchmarks/engines.json and engines.md and prints the markdown. Goals (issue 31):
two passes rank the architectures with Kendall tau >= 0.9 on ONNX Runtime and >= 0.85 on PyTorch,
median relative difference <= 5%; the timing (window waits included) costs at most 10% of a
digits trial's time.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import save_report  # noqa: E402
from bench_rank_fidelity import sample_architectures  # noqa: E402

from workbench.config.arch import ArchConfig  # noqa: E402
from workbench.data.calibration import calibration_images  # noqa: E402
from workbench.engines import require_onnxruntime  # noqa: E402
from workbench.models import build_model  # noqa: E402
from workbench.profiling import profile_arch  # noqa: E402
from workbench.profiling.engine_latency import Graphs, labelled, measure_targets  # noqa: E402
from workbench.profiling.latency import LatencyResult  # noqa: E402
from workbench.profiling.protocol import cpu_name  # noqa: E402
from workbench.profiling.targets import LatencyTarget, parse_targets  # noqa: E402
from workbench.profiling.window import ENV_VAR, host_window, search_window  # noqa: E402
from workbench.search import engine_figures  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.scoring import train_candidate  # noqa: E402
from workbench.search.space_resolve import ResolvedSpace, resolve_space  # noqa: E402
from workbench.search.workers import load_search_data  # noqa: E402
from workbench.stats import kendall_tau_bootstrap  # noqa: E402
from workbench.storage import pareto_mask  # noqa: E402
from workbench.training.int8 import int8_accuracy  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
NAME = "engines"
SPACES = ("digits", "ghostnet_cifar")
TARGET_NAMES = ("torch-cpu", "ort-cpu", "ort-int8")
PAIRS = (("torch-cpu", "ort-cpu"), ("ort-cpu", "ort-int8"), ("torch-cpu", "ort-int8"))
GOALS = {"repeat_tau": {"torch-cpu": 0.85, "ort-cpu": 0.9, "ort-int8": 0.9}, "median_rel_diff": 0.05,
         "extra_time_ratio": 0.25, "window_time_ratio": 0.10}
# The estimators compared on the same rounds (each a function of one timing's entry).
ESTIMATORS: dict[str, Any] = {
    "first round's median (the old protocol: one round, median)": lambda e: e["round_medians_ms"][0],
    "median of the round medians": lambda e: statistics.median(e["round_medians_ms"]),
    "minimum sample": lambda e: min(e["round_minima_ms"]),
    "min-round-median (chosen)": lambda e: e["p50_ms"],
}
FULL_ARCHS = 30
# Share of the time cap the digits space may use (its training makes it the longer one).
DIGITS_SHARE = 0.7


# --- targets and architectures ---------------------------------------------------------
def bench_targets() -> list[LatencyTarget]:
    """The digits space's latency targets on the CPU, one thread each (used for both spaces)."""
    targets = parse_targets(load_space("digits").latency, device="cpu")
    names = tuple(t.name for t in targets)
    if names != TARGET_NAMES:
        raise SystemExit(f"the digits space's targets are {names}, this benchmark reads {TARGET_NAMES}")
    for target in targets:
        if target.protocol.threads != 1:
            raise SystemExit(f"target {target.name} runs {target.protocol.threads} threads; this benchmark needs 1")
    return targets


def random_calibration(arch: ArchConfig, count: int, seed: int) -> np.ndarray:
    """Seeded standard-normal images: int8 calibration for a space without data here."""
    shape = (count, arch.in_channels, arch.input_size, arch.input_size)
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def result_entry(result: LatencyResult, seconds: float) -> dict[str, Any]:
    """The figures of one timing (the protocol is kept once per target, in the report), with each
    round's median and minimum, from which the estimators are compared."""
    entry = {k: v for k, v in result.to_dict().items() if k in ("p50_ms", "p90_ms", "cv", "noisy", "available",
                                                                  "reason")}
    facts = {k: result.protocol.get(k) for k in ("round_medians_ms", "round_minima_ms", "reference_ms",
                                                 "window_wait_s", "retimed", "load_avg_1m")}
    return {**entry, **facts, "seconds": seconds}


# --- the other worker of `--workers auto` ------------------------------------------------
def trainer_main(window: str | None, stop: Any, out: Any) -> None:
    """Train the digits space's base network on digits-hard, epoch after epoch, until `stop` is
    set, as the other worker of a two-worker search does (one thread; inside the search's timing
    window when `window` names one). Puts (training seconds, seconds waited for the window)."""
    if window:
        os.environ[ENV_VAR] = window
    torch.set_num_threads(1)
    resolved = resolve_space(load_space("digits"), device="cpu")
    data = load_search_data(resolved)
    resolved = resolved.fitted_to(data)
    recipe = resolved.recipe.model_copy(update={"epochs": 1})
    trained = 0.0
    index = 0
    while not stop.is_set():
        started = time.perf_counter()
        train_candidate(recipe, resolved.base, data, index)
        trained += time.perf_counter() - started
        index += 1
    out.put((trained, host_window().waited_seconds))


class BackgroundTrainer:
    """The trainer process, started and stopped around the passes."""

    def __init__(self, window: str | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop, self.out = context.Event(), context.Queue()
        self.process = context.Process(target=trainer_main, args=(window, self.stop, self.out), daemon=True)

    def __enter__(self) -> "BackgroundTrainer":
        self.process.start()
        time.sleep(5.0)  # let it load its data and start training before anything is timed
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        try:
            self.trained, self.waited = self.out.get(timeout=120)
        except Exception:  # noqa: BLE001 - a trainer that died reports nothing; the figures stand
            self.trained, self.waited = float("nan"), float("nan")
        self.process.join(timeout=30)


# --- pass 1: a search trial, step by step ----------------------------------------------
def first_pass(arch_row: dict[str, Any], resolved: ResolvedSpace, targets: Sequence[LatencyTarget], data: Any,
               calibration: np.ndarray, epochs: float | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Profile, time and (with data) train one architecture as a trial does; returns its row
    and what pass 2 needs (the model and each target's graphs)."""
    arch = ArchConfig.model_validate_json(arch_row["arch_json"])
    by_name = {t.name: t for t in targets}
    torch_target, int8_target = by_name["torch-cpu"], by_name["ort-int8"]
    secs: dict[str, float] = {}
    started = time.perf_counter()
    model = build_model(arch)
    profile = profile_arch(arch, torch_target.protocol, model=model)
    secs["profile"] = time.perf_counter() - started
    secs["torch_timing"] = profile.latency_seconds or 0.0
    results = {"torch-cpu": labelled(profile.latency, torch_target)}
    early = Graphs(model, arch, None if data is not None else calibration)
    early_targets = [by_name["ort-cpu"]] if data is not None else [by_name["ort-cpu"], int8_target]
    timed, seconds = engine_figures.measure(model, arch, early_targets, early)
    results.update(timed)
    target_seconds = {"torch-cpu": secs["torch_timing"], **seconds}
    secs["export"] = early.seconds.get("export", 0.0)
    secs["ort_cpu"] = seconds["ort-cpu"] - secs["export"]
    row: dict[str, Any] = {"index": arch_row["index"], "knobs": arch_row["knobs"], "macs": arch_row["macs"],
                           "params": arch_row["params"]}
    graphs = {"torch-cpu": None, "ort-cpu": early, "ort-int8": early}
    if data is None:
        secs["quantize"] = early.seconds.get("quantize", 0.0)
        secs["ort_int8"] = seconds["ort-int8"] - secs["quantize"]
    else:
        trained_model, row_train = train(arch, resolved, data, arch_row["index"], epochs)
        row.update(row_train)
        secs["train"] = row_train.pop("train_wall_seconds")
        late = Graphs(trained_model, arch, calibration)
        timed, seconds = engine_figures.measure(trained_model, arch, [int8_target], late)
        results.update(timed)
        target_seconds.update(seconds)
        secs["export"] += late.seconds.get("export", 0.0)
        secs["quantize"] = late.seconds.get("quantize", 0.0)
        secs["ort_int8"] = seconds["ort-int8"] - late.seconds.get("export", 0.0) - secs["quantize"]
        row["int8"] = int8_figures(late, int8_target, data)
        secs["int8_accuracy"] = row["int8"].get("seconds", 0.0)
        graphs["ort-int8"] = late
    row["pass1"] = {name: result_entry(result, target_seconds[name]) for name, result in results.items()}
    row["seconds"] = secs
    row["wall_seconds"] = time.perf_counter() - started
    protocols = {name: result.protocol for name, result in results.items()}
    return row, {"model": model, "arch": arch, "graphs": graphs, "protocols": protocols}


def train(arch: ArchConfig, resolved: ResolvedSpace, data: Any, index: int,
          epochs: float | None) -> tuple[Any, dict[str, Any]]:
    """Proxy-train trial `index`'s first seed with the space's recipe (`epochs` shortens it)."""
    recipe = resolved.recipe if epochs is None else resolved.recipe.model_copy(update={"epochs": epochs})
    trained: list[Any] = []
    started = time.perf_counter()
    result = train_candidate(recipe, arch, data, resolved.trial_seeds(index)[0], keep=trained.append)
    wall = time.perf_counter() - started
    return trained[0], {"accuracy": float(result.val_accuracy), "train_seconds": float(result.train_seconds),
                        "eval_seconds": float(result.eval_seconds), "train_wall_seconds": wall}


def int8_figures(graphs: Graphs, target: LatencyTarget, data: Any) -> dict[str, Any]:
    """The trained model's int8 and fp32 (both in ORT) accuracy on the validation split."""
    try:
        fp32_graph, _ = graphs.fp32(target.opset)
        return int8_accuracy(fp32_graph, graphs.int8(target), data.val_x, data.val_y, threads=1)
    except Exception as error:  # noqa: BLE001 - one architecture's quantizer failure is its figure
        return {"available": False, "reason": f"{type(error).__name__}: {error}"[:300], "seconds": 0.0}


def second_pass(row: dict[str, Any], keep: dict[str, Any], targets: Sequence[LatencyTarget]) -> None:
    """Time every target again on the graphs of pass 1 (a fresh ORT session each)."""
    row["pass2"] = {}
    for target in targets:
        started = time.perf_counter()
        result = measure_targets(keep["model"], keep["arch"], [target], graphs=keep["graphs"][target.name])
        result = result[target.name]
        row["pass2"][target.name] = result_entry(result, time.perf_counter() - started)


# --- one space ---------------------------------------------------------------------------
def run_space(name: str, args: argparse.Namespace, targets: Sequence[LatencyTarget],
              deadline: float) -> dict[str, Any]:
    """Both passes over one space's architectures, pass 1 cut short when the deadline would
    not leave time for pass 2."""
    started = time.perf_counter()
    space = load_space(name)
    resolved = resolve_space(space, device="cpu")
    int8_target = next(t for t in targets if t.is_int8)
    data = load_search_data(resolved) if name == "digits" else None
    if data is not None:
        resolved = resolved.fitted_to(data)
        calibration = calibration_images(data, int8_target.calibration, space.seed)
    else:
        calibration = random_calibration(resolved.base, int8_target.calibration, space.seed)
    seed = space.seed if args.seed is None else args.seed
    archs = sample_architectures(space, resolved.base, args.archs, seed)
    sampled = time.perf_counter()
    print(f"{name}: {len(archs)} architectures sampled in {sampled - started:.0f}s", flush=True)
    rows, kept = [], []
    for arch_row in archs:
        if len(rows) >= 3 and not time_left(rows, deadline):
            print(f"{name}: time cap reached after {len(rows)} architectures", flush=True)
            break
        row, keep = first_pass(arch_row, resolved, targets, data, calibration, args.epochs)
        rows.append(row)
        kept.append(keep)
        print(f"{name} pass 1 [{len(rows)}/{len(archs)}] " + pass_line(row["pass1"])
              + (f" acc {row['accuracy']:.3f}" if "accuracy" in row else ""), flush=True)
    first_done = time.perf_counter()
    for row, keep in reversed(list(zip(rows, kept))):
        second_pass(row, keep, targets)
        print(f"{name} pass 2 [{row['index']}] " + pass_line(row["pass2"]), flush=True)
    ended = time.perf_counter()
    return {
        "space": name, "input_size": resolved.base.input_size, "archs_asked": args.archs, "archs": len(rows),
        "cut_short": len(rows) < len(archs), "trained": data is not None,
        "recipe_epochs": float(resolved.recipe.epochs),
        "epochs": float(args.epochs if args.epochs is not None else resolved.recipe.epochs) if data is not None
        else None,
        "val_size": len(data.val_y) if data is not None else None,
        "calibration": f"{int8_target.calibration} seeded training images" if data is not None else
        f"{int8_target.calibration} seeded standard-normal images (no data here)",
        "protocols": kept[0]["protocols"] if kept else {},
        "seconds": {"sampling": sampled - started, "pass1": first_done - sampled, "pass2": ended - first_done,
                    "total": ended - started},
        "rows": rows,
    }


def time_left(rows: list[dict[str, Any]], deadline: float) -> bool:
    """Whether one more architecture and then pass 2 over all of them fit before `deadline`."""
    per_arch = statistics.fmean(r["wall_seconds"] for r in rows)
    timing = sum(r["seconds"]["torch_timing"] + r["seconds"]["ort_cpu"] + r["seconds"]["ort_int8"] for r in rows)
    per_timing = timing / len(rows)
    return time.perf_counter() + per_arch + timing + per_timing < deadline


def pass_line(figures: dict[str, dict[str, Any]]) -> str:
    return " ".join(f"{n} {_ms(figures[n]['p50_ms'])}" for n in TARGET_NAMES if n in figures)


# --- figures ---------------------------------------------------------------------------
def latency(row: dict[str, Any], target: str) -> float | None:
    """The target's p50 as the mean of both passes (pass 1 alone when pass 2 is missing)."""
    values = [row[p][target]["p50_ms"] for p in ("pass1", "pass2")
              if p in row and row[p][target]["available"] and row[p][target]["p50_ms"] is not None]
    return statistics.fmean(values) if values else None


def tau_with_interval(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """scipy's Kendall tau-b with its p-value and a bootstrap 95% interval."""
    if len(x) < 3:
        return {"tau": None, "low": None, "high": None, "p_value": None, "n": len(x)}
    result = kendalltau(x, y)
    _, low, high = kendall_tau_bootstrap(x, y)
    return {"tau": float(result.statistic), "low": low, "high": high, "p_value": float(result.pvalue), "n": len(x)}


def repeatability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target: tau between the two passes, the median |p2 - p1| / mean, noisy share."""
    out = {}
    for target in TARGET_NAMES:
        both = [(r["pass1"][target], r["pass2"][target]) for r in rows if "pass2" in r]
        usable = [(a["p50_ms"], b["p50_ms"]) for a, b in both if a["available"] and b["available"]]
        first, second = [a for a, _ in usable], [b for _, b in usable]
        diffs = [abs(b - a) / ((a + b) / 2) for a, b in usable]
        tau = tau_with_interval(first, second)
        out[target] = {**tau, "median_rel_diff": statistics.median(diffs) if diffs else None,
                       "max_rel_diff": max(diffs) if diffs else None,
                       "noisy_share": _share([a["noisy"] or b["noisy"] for a, b in both]),
                       "unavailable": sum(not (a["available"] and b["available"]) for a, b in both),
                       "reasons": sorted({x["reason"] for pair in both for x in pair if x["reason"]}),
                       "pass": tau["tau"] is not None and tau["tau"] >= GOALS["repeat_tau"][target]
                       and bool(diffs) and statistics.median(diffs) <= GOALS["median_rel_diff"]}
    return out


def estimator_comparison(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target and estimator: tau and median relative difference between the two passes,
    every estimator computed on the same rounds."""
    out: dict[str, Any] = {}
    for target in TARGET_NAMES:
        both = [(r["pass1"][target], r["pass2"][target]) for r in rows if "pass2" in r]
        usable = [(a, b) for a, b in both if a["available"] and b["available"] and a.get("round_medians_ms")
                  and b.get("round_medians_ms")]
        out[target] = {}
        for name, estimate in ESTIMATORS.items():
            first, second = [estimate(a) for a, _ in usable], [estimate(b) for _, b in usable]
            diffs = [abs(y - x) / ((x + y) / 2) for x, y in zip(first, second)]
            out[target][name] = {**tau_with_interval(first, second),
                                 "median_rel_diff": statistics.median(diffs) if diffs else None}
    return out


def window_cost(section: dict[str, Any]) -> dict[str, Any]:
    """What the timing (window, rounds, reference) costs a trial: the seconds inside the three
    targets' timing loops (waits for the window included) against the trial's own time."""
    rows = section["rows"]
    timing = [r["seconds"]["torch_timing"] + r["seconds"]["ort_cpu"] + r["seconds"]["ort_int8"] for r in rows]
    waits = [sum((r["pass1"][t].get("window_wait_s") or 0.0) for t in TARGET_NAMES) for r in rows]
    out: dict[str, Any] = {"median_timing_seconds": statistics.median(timing),
                           "median_wait_seconds": statistics.median(waits)}
    if section["trained"]:
        base = [r["seconds"]["profile"] - r["seconds"]["torch_timing"] + r["seconds"]["train"] for r in rows]
        out["ratio"] = sum(timing) / sum(base)
        out["pass"] = out["ratio"] <= GOALS["window_time_ratio"]
    return out


def cross_target(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Tau between targets (each on the mean of its two passes)."""
    out = {}
    for a, b in PAIRS:
        pairs = [(latency(r, a), latency(r, b)) for r in rows]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        out[f"{a} vs {b}"] = tau_with_interval([x for x, _ in pairs], [y for _, y in pairs])
    return out


def front(values: Sequence[tuple[float, float]]) -> list[bool]:
    """Optuna's non-dominated mask of (figure to maximise, latency to minimise)."""
    losses = np.asarray([(-good, cost) for good, cost in values], dtype=float)
    return [bool(x) for x in pareto_mask(losses)]


def membership(rows: list[dict[str, Any]], axis: str) -> dict[str, Any]:
    """Pareto fronts of `axis` (accuracy or macs, maximised) against each target's latency;
    the share of architectures whose membership changes between two targets, and the same
    between the two passes of one target (the timing noise's own share)."""
    good = {r["index"]: r.get(axis) for r in rows}
    pool = [r for r in rows if good[r["index"]] is not None and all(latency(r, t) for t in TARGET_NAMES)]
    if len(pool) < 3:
        return {"n": len(pool), "note": "fewer than 3 architectures with every figure"}
    fronts = {t: front([(good[r["index"]], latency(r, t)) for r in pool]) for t in TARGET_NAMES}
    members = {t: [r["index"] for r, on in zip(pool, mask) if on] for t, mask in fronts.items()}
    changes = {}
    for a, b in PAIRS:
        moved = [r["index"] for r, x, y in zip(pool, fronts[a], fronts[b]) if x != y]
        changes[f"{a} vs {b}"] = {"changed": moved, "share": len(moved) / len(pool)}
    noise = {}
    for t in TARGET_NAMES:
        passes = [r for r in pool if "pass2" in r and r["pass1"][t]["available"] and r["pass2"][t]["available"]]
        if len(passes) >= 3:
            one = front([(good[r["index"]], r["pass1"][t]["p50_ms"]) for r in passes])
            two = front([(good[r["index"]], r["pass2"][t]["p50_ms"]) for r in passes])
            noise[t] = sum(x != y for x, y in zip(one, two)) / len(passes)
    return {"n": len(pool), "members": members, "changes": changes, "pass1_vs_pass2_share": noise}


def int8_speedup(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ort-cpu p50 / ort-int8 p50 per architecture, as a distribution."""
    ratios = [(r["index"], latency(r, "ort-cpu") / latency(r, "ort-int8")) for r in rows
              if latency(r, "ort-cpu") and latency(r, "ort-int8")]
    values = [v for _, v in ratios]
    return {**distribution(values), "slower": [i for i, v in ratios if v < 1.0],
            "per_arch": {i: v for i, v in ratios}}


def int8_drop(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fp32 - int8 accuracy drop (both in ORT) per architecture, with its paired interval."""
    figures = [r["int8"] for r in rows if r.get("int8", {}).get("available")]
    drops = [f["drop"] for f in figures]
    return {**distribution(drops),
            "interval_above_zero": sum(f["drop_ci_low"] > 0 for f in figures),
            "interval_below_zero": sum(f["drop_ci_high"] < 0 for f in figures),
            "median_interval_width": statistics.median(f["drop_ci_high"] - f["drop_ci_low"] for f in figures)
            if figures else None,
            "host_agrees": sum(bool(f.get("host_agrees")) for f in figures),
            "max_host_gap": max((abs(f.get("host_gap") or 0.0) for f in figures), default=None),
            "unavailable": [r["index"] for r in rows if "int8" in r and not r["int8"].get("available")]}


def distribution(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {"n": len(values), "min": float(q[0]), "q1": float(q[1]), "median": float(q[2]), "q3": float(q[3]),
            "max": float(q[4])}


def extra_time(section: dict[str, Any]) -> dict[str, Any]:
    """Seconds per trial of the added targets (export, ORT sessions and timing, quantization,
    int8 accuracy) against the trial's own (profile with counts and torch-cpu, training)."""
    rows = section["rows"]
    parts = ("export", "ort_cpu", "quantize", "ort_int8", "int8_accuracy")
    medians = {p: statistics.median(r["seconds"].get(p, 0.0) for r in rows) for p in parts}
    extra = [sum(r["seconds"].get(p, 0.0) for p in parts) for r in rows]
    out: dict[str, Any] = {"median_seconds": medians, "median_extra_seconds": statistics.median(extra),
                           "median_profile_seconds": statistics.median(r["seconds"]["profile"] for r in rows)}
    if not section["trained"]:
        return out
    base = [r["seconds"]["profile"] + r["seconds"]["train"] for r in rows]
    scaled = [r["seconds"]["profile"] + at_recipe_epochs(r, section["epochs"], section["recipe_epochs"]) for r in rows]
    out.update(median_train_seconds=statistics.median(r["seconds"]["train"] for r in rows),
               ratio=sum(extra) / sum(base), median_arch_ratio=statistics.median(e / b for e, b in zip(extra, base)),
               ratio_at_recipe_epochs=sum(extra) / sum(scaled), recipe_epochs=section["recipe_epochs"],
               epochs=section["epochs"])
    out["pass"] = out["ratio_at_recipe_epochs"] <= GOALS["extra_time_ratio"]
    return out


def at_recipe_epochs(row: dict[str, Any], epochs: float, recipe_epochs: float) -> float:
    """A training's wall time estimated at the recipe's epochs: the training steps scaled by
    the epochs, the per-epoch evaluation (with BN recalibration) by the number of epochs begun,
    the rest (building, seeding) as measured."""
    steps, evals = row["train_seconds"], row["eval_seconds"]
    rest = row["seconds"]["train"] - steps - evals
    return steps * recipe_epochs / epochs + evals * math.ceil(recipe_epochs) / math.ceil(epochs) + rest


def deployed_front(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The front a user ships (int8 accuracy against ort-int8) against the fp32 one
    (proxy accuracy against ort-cpu): the architectures whose membership differs."""
    pool = [r for r in rows if r.get("int8", {}).get("available") and latency(r, "ort-cpu")
            and latency(r, "ort-int8")]
    if len(pool) < 3:
        return {"n": len(pool), "note": "fewer than 3 architectures with int8 figures"}
    fp32 = front([(r["accuracy"], latency(r, "ort-cpu")) for r in pool])
    int8 = front([(r["int8"]["accuracy"], latency(r, "ort-int8")) for r in pool])
    moved = [r["index"] for r, x, y in zip(pool, fp32, int8) if x != y]
    return {"n": len(pool), "changed": moved, "share": len(moved) / len(pool),
            "fp32_members": [r["index"] for r, on in zip(pool, fp32) if on],
            "int8_members": [r["index"] for r, on in zip(pool, int8) if on]}


def summarise(section: dict[str, Any]) -> dict[str, Any]:
    rows = section["rows"]
    figures = {"repeatability": repeatability(rows), "estimators": estimator_comparison(rows),
               "window_cost": window_cost(section), "cross_target_tau": cross_target(rows),
               "front_macs": membership(rows, "macs"), "int8_speedup": int8_speedup(rows),
               "extra_time": extra_time(section)}
    if section["trained"]:
        figures["front_accuracy"] = membership(rows, "accuracy")
        figures["int8_drop"] = int8_drop(rows)
        figures["front_deployed"] = deployed_front(rows)
    return figures


# --- markdown --------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [f"# Engines: torch-cpu, ort-cpu, ort-int8 on {', '.join(report['spaces'])}", "",
             f"**{report['condition']}.** Load average (1 min) {env['load_start']:.2f} at the start, "
             f"{env['load_end']:.2f} at the end, on {env['cores']} cores ({env['cpu']}); torch "
             f"{env['torch']}, onnxruntime {env['onnxruntime']}, torch threads 1.", "",
             f"Command: `{report['command']}`; wall time {report['wall_seconds']:.0f} s.", "",
             f"Beside the timings: {report['beside']}"
             + (f" (it trained {report['trainer']['trained_seconds']:.0f} s and waited "
                f"{report['trainer']['waited_seconds']:.0f} s for the window)" if report["trainer"] else "") + ".", "",
             "Targets (the digits space's latency section, used for both spaces): batch 1, one thread, "
             f"{report['protocol']['warmup']} warm-up runs, rounds of {report['protocol']['repeats']} samples "
             f"(at most {report['protocol']['rounds']}), a reference model timed in every round, time cap "
             f"{report['protocol']['max_seconds']} s per target. Latency below is the estimator's figure, the "
             "median of the quietest round (mean of both passes where two are compared across targets).", ""]
    for name, section in report["sections"].items():
        lines += section_markdown(name, section)
    return "\n".join(lines) + "\n"


def section_markdown(name: str, s: dict[str, Any]) -> list[str]:
    f = s["figures"]
    head = (f"## `{name}` at {s['input_size']}x{s['input_size']}: {s['archs']} architectures"
            + (f" (asked {s['archs_asked']}, cut short by the time cap)" if s["cut_short"] else ""))
    lines = [head, ""]
    if s["trained"]:
        lines += [f"Proxy-trained {s['epochs']:g} epochs each (the recipe's: {s['recipe_epochs']:g}); int8 "
                  f"calibrated on {s['calibration']}; validation split {s['val_size']} images.", ""]
    else:
        lines += ["No CIFAR data here: nothing is trained, there is no accuracy and no int8 accuracy. The int8 "
                  f"graphs are calibrated on {s['calibration']}: the latency is measured, not what int8 does to "
                  "accuracy. The fronts use MACs as the accuracy-free second axis.", ""]
    lines += ["| target | tau pass 1 vs pass 2 (95% interval) | median rel. diff | max rel. diff | noisy | "
              "unavailable | goal (tau, median diff <= 5%) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for target, r in f["repeatability"].items():
        lines.append(f"| {target} | {_tau(r)} | {_pct(r['median_rel_diff'])} | {_pct(r['max_rel_diff'])} | "
                     f"{_pct(r['noisy_share'])} | {r['unavailable']} | >= {GOALS['repeat_tau'][target]}: "
                     f"{'pass' if r['pass'] else 'FAIL'} |")
    lines += ["", "Estimators compared on the same rounds (tau and median relative difference between the passes):",
              "", "| target | estimator | tau (95% interval) | median rel. diff |", "| --- | --- | --- | --- |"]
    for target, by_name in f["estimators"].items():
        for estimator, r in by_name.items():
            lines.append(f"| {target} | {estimator} | {_tau(r)} | {_pct(r['median_rel_diff'])} |")
    w = f["window_cost"]
    lines += ["", "Timing per architecture, three targets, window waits included: median "
              f"{w['median_timing_seconds']:.2f} s (of which waiting for the window {w['median_wait_seconds']:.2f} s)"
              + (f"; {_pct(w['ratio'])} of a trial's own time (profile counts + training). Goal <= 10%: "
                 f"{'pass' if w['pass'] else 'FAIL'}." if "ratio" in w else ".")]
    reasons = sorted({x for r in f["repeatability"].values() for x in r["reasons"]})
    if reasons:
        lines += ["", "Unavailable: " + "; ".join(reasons)]
    lines += ["", "| targets | Kendall tau (95% bootstrap interval) | p-value |", "| --- | --- | --- |"]
    for pair, r in f["cross_target_tau"].items():
        lines.append(f"| {pair} | {_tau(r)} | {_num(r['p_value'], '.2g')} |")
    lines += ["", "Pareto membership when the cost axis changes target (share of the architectures that enter or "
              "leave the front; the last column is the same share between the two passes of one target, the "
              "timing noise's own):", "",
              "| second axis | targets | changed | share | noise share (pass 1 vs 2) |",
              "| --- | --- | --- | --- | --- |"]
    for axis in ("front_accuracy", "front_macs"):
        if axis not in f:
            continue
        m = f[axis]
        label = "accuracy (proxy, fp32)" if axis == "front_accuracy" else "MACs (more = better, no accuracy)"
        if "changes" not in m:
            lines.append(f"| {label} | - | - | - | {m.get('note', '')} |")
            continue
        for pair, c in m["changes"].items():
            noise = " / ".join(f"{_pct(m['pass1_vs_pass2_share'].get(t))}" for t in pair.split(" vs "))
            lines.append(f"| {label} | {pair} | {', '.join(map(str, c['changed'])) or 'none'} | "
                         f"{_pct(c['share'])} of {m['n']} | {noise} |")
        lines.append(f"| {label} | front members | " + "; ".join(f"{t}: {', '.join(map(str, v))}"
                                                             for t, v in m["members"].items()) + " | | |")
    if "changed" in f.get("front_deployed", {}):
        d = f["front_deployed"]
        lines.append(f"| int8 accuracy vs ort-int8, against accuracy vs ort-cpu | fp32 front "
                     f"{', '.join(map(str, d['fp32_members']))}; int8 front {', '.join(map(str, d['int8_members']))} "
                     f"| {', '.join(map(str, d['changed'])) or 'none'} | {_pct(d['share'])} of {d['n']} | |")
    sp = f["int8_speedup"]
    lines += ["", "| int8 speed-up (ort-cpu / ort-int8 p50) | n | min | q1 | median | q3 | max | int8 slower |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |",
              f"| {name} | {sp['n']} | {_x(sp.get('min'))} | {_x(sp.get('q1'))} | {_x(sp.get('median'))} | "
              f"{_x(sp.get('q3'))} | {_x(sp.get('max'))} | {len(sp['slower'])} of {sp['n']}"
              + (f" (archs {', '.join(map(str, sp['slower']))})" if sp["slower"] else "") + " |"]
    if "int8_drop" in f:
        d = f["int8_drop"]
        lines += ["", "| int8 accuracy drop (fp32 - int8, both ORT) | n | min | q1 | median | q3 | max | interval "
                  "above 0 | interval below 0 | median interval width |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
                  f"| {name} | {d['n']} | {_pts(d.get('min'))} | {_pts(d.get('q1'))} | {_pts(d.get('median'))} | "
                  f"{_pts(d.get('q3'))} | {_pts(d.get('max'))} | {d['interval_above_zero']} | "
                  f"{d['interval_below_zero']} | {_pts(d['median_interval_width'], signed=False)} |", "",
                  f"int8 accuracy is the QDQ graph's own arithmetic; this host's int8 kernels agree with it within the "
                  f"paired interval on {d.get('host_agrees', 'n/a')} of {d['n']} architectures (largest gap "
                  f"{_pts(d.get('max_host_gap'), signed=False)})."]
    lines += extra_time_markdown(f["extra_time"], s["trained"])
    lines += rows_markdown(s)
    return lines + [""]


def extra_time_markdown(e: dict[str, Any], trained: bool) -> list[str]:
    m = e["median_seconds"]
    export = "twice per trial: the untrained and the trained graph" if trained else "once"
    lines = ["", f"Time per architecture (medians, seconds): ORT export + check {m['export']:.2f} ({export}), "
             f"ort-cpu session + timing {m['ort_cpu']:.2f}, quantization {m['quantize']:.2f}, ort-int8 session + "
             f"timing {m['ort_int8']:.2f}"
             + (f", int8 accuracy {m['int8_accuracy']:.2f}" if trained else "")
             + f"; all added {e['median_extra_seconds']:.2f}; the trial's own profile (counts + torch-cpu) "
             f"{e['median_profile_seconds']:.2f}"
             + (f", training {e['median_train_seconds']:.2f}." if trained else " (no training here).")]
    if trained:
        at_recipe = "" if e["epochs"] == e["recipe_epochs"] else (
            f"; estimated at the recipe's {e['recipe_epochs']:g} epochs (training steps scaled by the epochs, "
            f"evaluation by the epochs begun): {_pct(e['ratio_at_recipe_epochs'])}")
        lines += ["", f"Added targets / a digits trial's time (profile + training, summed over architectures): "
                  f"{_pct(e['ratio'])} at {e['epochs']:g} epochs (median per architecture "
                  f"{_pct(e['median_arch_ratio'])}){at_recipe}. Goal <= 25% at the recipe's epochs: "
                  f"{'pass' if e['pass'] else 'FAIL'}" + ("" if not at_recipe else " (estimate)") + "."]
    return lines


def rows_markdown(s: dict[str, Any]) -> list[str]:
    trained = s["trained"]
    head = "| # | knobs | MACs | " + " | ".join(f"{t} p50 (1 / 2)" for t in TARGET_NAMES) + " | int8 speed-up |"
    if trained:
        head += " accuracy | int8 accuracy | drop (95% interval) |"
    lines = ["", head, "|" + " --- |" * (head.count("|") - 1)]
    speedup = s["figures"]["int8_speedup"]["per_arch"]
    for r in s["rows"]:
        knobs = ", ".join(f"{k}={round(v, 3):g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["knobs"].items())
        cells = [str(r["index"]), knobs, f"{r['macs'] / 1e6:.2f}M"]
        for t in TARGET_NAMES:
            second = r.get("pass2", {}).get(t, {}).get("p50_ms")
            cells.append(f"{_ms(r['pass1'][t]['p50_ms'])} / {_ms(second)}")
        cells.append(_x(speedup.get(r["index"])))
        if trained:
            i8 = r.get("int8", {})
            cells += [_pct(r.get("accuracy")), _pct(i8.get("accuracy")) if i8.get("available") else "n/a",
                      f"{_pts(i8.get('drop'))} ({_pts(i8.get('drop_ci_low'))} to {_pts(i8.get('drop_ci_high'))})"
                      if i8.get("available") else i8.get("reason", "n/a")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _num(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def _tau(r: dict[str, Any]) -> str:
    if r["tau"] is None:
        return f"n/a (n={r['n']})"
    return f"{r['tau']:.2f} ({_num(r['low'])} to {_num(r['high'])}), n={r['n']}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _pts(value: float | None, signed: bool = True) -> str:
    return "n/a" if value is None else f"{100 * value:{'+' if signed else ''}.2f} pts"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}ms"


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


# --- main ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=FULL_ARCHS, help=f"architectures per space (default {FULL_ARCHS})")
    parser.add_argument("--epochs", type=float, help="proxy-training epochs of a digits architecture (default: the "
                        "space's recipe, 3); the time ratio is also given scaled to the recipe's epochs")
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=SPACES,
                        help="spaces to run (default both)")
    parser.add_argument("--minutes", type=float, default=45.0, help="time cap for the whole run (default 45): pass 1 "
                        "stops taking architectures when pass 2 would no longer fit")
    parser.add_argument("--seed", type=int, help="sampling seed (default: each space's)")
    parser.add_argument("--loaded", action="store_true", help="label the figures as taken on a loaded machine")
    parser.add_argument("--no-trainer", action="store_true", help="time with no second process training beside "
                        "(by default one trains throughout, as the other worker of `--workers auto` does)")
    parser.add_argument("--no-window", action="store_true", help="let the trainer train during the timings (the "
                        "protocol before the exclusive timing window)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default reports/benchmarks)")
    args = parser.parse_args(argv)
    if args.archs < 3:
        parser.error("--archs must be at least 3 (Kendall tau needs 3 pairs)")
    if args.epochs is not None and args.epochs <= 0:
        parser.error("--epochs must be positive")
    return args


def condition(args: argparse.Namespace, load: float, cores: int, small: bool) -> str:
    """The run's label: loaded (flag or a load average over half the cores) or quiet, and tiny."""
    loaded = args.loaded or load > 0.5 * cores
    label = "Loaded machine: figures are indicative only" if loaded else "Quiet machine"
    return label + ("; tiny run, not the benchmark's size" if small else "")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    ort = require_onnxruntime()
    targets = bench_targets()
    load_start, started = os.getloadavg()[0], time.perf_counter()
    deadline = started + 60 * args.minutes
    sections = {}
    window = contextlib.nullcontext(None) if args.no_window else search_window("bench", NAME)
    with window as path:
        trainer = BackgroundTrainer(path) if not args.no_trainer else None
        with trainer or contextlib.nullcontext():
            for name in args.spaces:
                share = DIGITS_SHARE if name == "digits" and len(args.spaces) > 1 else 1.0
                space_deadline = min(deadline, time.perf_counter() + share * (deadline - time.perf_counter()))
                sections[name] = run_space(name, args, targets, space_deadline)
                sections[name]["figures"] = summarise(sections[name])
    load_end, cores = os.getloadavg()[0], os.cpu_count() or 1
    small = args.archs < FULL_ARCHS or (args.epochs is not None and args.epochs < 3) or \
        any(s["cut_short"] for s in sections.values())
    report = {
        "command": " ".join(["python", "benchmarks/bench_engines.py", *(argv if argv is not None else sys.argv[1:])]),
        "condition": condition(args, max(load_start, load_end), cores, small),
        "beside": "nothing" if trainer is None else "a process training digits-hard throughout, " + (
            "kept out of the timings by the window" if path else "training during the timings (no window)"),
        "trainer": None if trainer is None else {"trained_seconds": trainer.trained,
                                                  "waited_seconds": trainer.waited},
        "environment": {"cpu": cpu_name(), "cores": cores, "load_start": load_start, "load_end": load_end,
                        "torch": torch.__version__, "onnxruntime": ort.__version__, "loaded_flag": args.loaded},
        "spaces": list(sections), "goals": GOALS, "protocol": targets[0].protocol.to_dict(),
        "targets": {t.name: t.settings() for t in targets}, "wall_seconds": time.perf_counter() - started,
        "sections": sections,
    }
    save_report(args.out, NAME, report, markdown(report))
    return report


if __name__ == "__main__":
    main()
