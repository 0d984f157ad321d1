"""Does the cheap score rank architectures like a long training does, at a space's own settings?

Samples distinct architectures from a search space the way the search does (the space's knobs
through `workbench.search.arch_sampling`, Optuna's random sampler, seeded; over-budget ones skipped)
and trains them on the space's own data, input size and recipe. Each architecture gets:

* a 1-epoch proxy run, scored without and with BatchNorm recalibration (the same weights);
* the space's own proxy (its recipe, its epochs), scored with recalibration, as the search does;
* every zero-cost proxy of `workbench.training.ZERO_COST_PROXIES` (params and MACs included);
* the reference: the mean of 3 seeds x 15 epochs of the space's recipe, seeds independent of
  the proxies' (`seed + i + 1000 * (k + 1)` for architecture i; the proxies use `seed + i`,
  the search's rule for trial i).

It reports Kendall's tau of every scorer against the reference with a bootstrap interval, the
spread of the reference across the architectures against the seed noise of the 15-epoch runs
(pooled sd), the median 1-epoch accuracy with and without recalibration, and times.

Every run is one task (`--jobs J` worker processes, one torch thread each, so the figures do
not depend on J). Finished tasks are appended to `<name>.partial.jsonl` in the output folder,
so a killed run resumes where it stopped (`--fresh` ignores them).

    .venv/bin/python benchmarks/bench_rank_fidelity.py --jobs 14            # digits space, 20 archs
    .venv/bin/python benchmarks/bench_rank_fidelity.py --quick              # 6 archs, 2 x 5 epochs
    .venv/bin/python benchmarks/bench_rank_fidelity.py --space ghostnet_cifar --dataset cifar10:PATH

Results go to reports/benchmarks/rank_fidelity.json and .md (other spaces, datasets and
--quick add a suffix to the name).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import save_report  # noqa: E402

from workbench.config.arch import ArchConfig  # noqa: E402
from workbench.data import Dataset  # noqa: E402
from workbench.data.digits_hard import NAME as DIGITS_HARD  # noqa: E402
from workbench.data.digits_hard import describe  # noqa: E402
from workbench.models import build_model  # noqa: E402
from workbench.profiling import count_model  # noqa: E402
from workbench.search.arch_sampling import arch_from_params, sample_params  # noqa: E402
from workbench.search.dedupe import arch_hash  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.space import SearchSpace  # noqa: E402
from workbench.search.space_resolve import base_arch, resolve_space  # noqa: E402
from workbench.search.workers import load_search_data  # noqa: E402
from workbench.stats import kendall_tau_bootstrap, pooled_sd  # noqa: E402
from workbench.training import (  # noqa: E402
    ZERO_COST_PROXIES,
    ProxyRecipe,
    TrainingDiverged,
    evaluate,
    seed_everything,
    train_proxy,
    zero_cost_score,
)
from workbench.training.loop import recalibrate  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
SHORT = "1ep"
SHORT_RECAL = "1ep_recal"
PROXY = "proxy"


@dataclass(frozen=True)
class Settings:
    """What the figures depend on (partial results are reused only under the same settings)."""

    space: str
    dataset: str
    archs: int
    short_epochs: float
    reference_epochs: float
    reference_seeds: int
    seed: int
    space_hash: str


# --- architectures ---------------------------------------------------------------------
def search_base(space: SearchSpace, data: Dataset) -> ArchConfig:
    """The space's base shaped like the data, as the search's `TrialContext` does."""
    update = {"num_classes": data.num_classes, "in_channels": data.in_channels, "input_size": data.input_size}
    return ArchConfig.model_validate({**base_arch(space).model_dump(), **update})


def sample_architectures(space: SearchSpace, base: ArchConfig, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` distinct architectures of the space within its params/MACs budgets.

    Raises:
        SystemExit: the space has fewer than `count` distinct feasible architectures (found
            within 50 draws per architecture asked).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    budgets = space.budgets
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(50 * count):
        if len(chosen) == count:
            break
        params = sample_params(study.ask(), space, base)
        arch = arch_from_params(space, params, base)
        text, digest = arch_hash(arch)
        if digest in seen:
            continue
        seen.add(digest)
        counts = count_model(build_model(arch), arch)
        if ((budgets.max_macs and counts.macs > budgets.max_macs)
                or (budgets.max_params and counts.params > budgets.max_params)):
            continue
        chosen.append({"index": len(chosen), "knobs": params, "params": counts.params, "macs": counts.macs,
                       "arch_json": text})
    if len(chosen) < count:
        raise SystemExit(f"space '{space.name}' gave only {len(chosen)} distinct architectures within budget")
    return chosen


# --- tasks -----------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(data: Dataset, recipe: ProxyRecipe, zero_cost_batch: int) -> None:
    torch.set_num_threads(1)
    _WORKER.update(data=data, recipe=recipe, zero_cost_batch=zero_cost_batch)


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """One task in this process: `cheap` (zero-cost, 1-epoch and proxy runs) or `reference`."""
    arch = ArchConfig.model_validate_json(task["arch_json"])
    data, recipe = _WORKER["data"], _WORKER["recipe"]
    started = time.perf_counter()
    if task["kind"] == "reference":
        result = {"reference": train_and_score(arch, data, recipe, task["epochs"], task["seed"])}
    else:
        result = {name: _zero_cost(name, arch, data, task["seed"], _WORKER["zero_cost_batch"])
                  for name in ZERO_COST_PROXIES}
        result["short"] = train_and_score(arch, data, recipe, task["short_epochs"], task["seed"])
        result["proxy"] = train_and_score(arch, data, recipe, recipe.epochs, task["seed"])
    result["task_seconds"] = time.perf_counter() - started
    return result


def train_and_score(arch: ArchConfig, data: Dataset, recipe: ProxyRecipe, epochs: float, seed: int) -> dict[str, Any]:
    """Train a fresh model with `recipe` for `epochs`; validation accuracy without and with
    BatchNorm recalibration (the search's own `recalibrate`, the recipe's batch count; at
    least one batch, so a recipe with recalibration off is still measured both ways). None
    for both when training diverged."""
    seed_everything(seed)
    model = build_model(arch)
    recipe = recipe.model_copy(update={"epochs": epochs, "seed": seed})
    calibrated = recipe.model_copy(update={"bn_recalibration_batches": recipe.bn_recalibration_batches or 20})
    try:
        # Only the end counts: the per-epoch evaluation inside train_proxy gets two images.
        result = train_proxy(model, replace(data, val_x=data.val_x[:2], val_y=data.val_y[:2]),
                             recipe.model_copy(update={"bn_recalibration_batches": 0}))
    except TrainingDiverged as error:
        return {"accuracy": None, "accuracy_no_recal": None, "train_seconds": None, "error": error.reason}
    plain, _ = evaluate(model, data.val_x, data.val_y, recipe.eval_batch_size)
    recalibrate(model, data.train_x, calibrated)
    recalibrated, _ = evaluate(model, data.val_x, data.val_y, recipe.eval_batch_size)
    return {"accuracy": recalibrated, "accuracy_no_recal": plain, "train_seconds": result.train_seconds}


def _zero_cost(name: str, arch: ArchConfig, data: Dataset, seed: int, batch_size: int) -> float:
    seed_everything(seed)
    return zero_cost_score(name, build_model(arch), data, batch_size=batch_size, seed=seed)


def make_tasks(archs: list[dict[str, Any]], settings: Settings, proxy_epochs: float) -> list[dict[str, Any]]:
    """Every run of the benchmark as an independent, seeded task, the costliest first (so the
    last tasks to start are short and the workers finish together)."""
    tasks = []
    for arch in archs:
        index, text, macs = arch["index"], arch["arch_json"], arch["macs"]
        for k in range(settings.reference_seeds):
            tasks.append({"key": f"ref:{index}:{k}", "kind": "reference", "arch_json": text,
                          "epochs": settings.reference_epochs, "seed": settings.seed + index + 1000 * (k + 1),
                          "cost": macs * settings.reference_epochs})
        tasks.append({"key": f"cheap:{index}", "kind": "cheap", "arch_json": text,
                      "short_epochs": settings.short_epochs, "seed": settings.seed + index,
                      "cost": macs * (settings.short_epochs + proxy_epochs)})
    return sorted(tasks, key=lambda t: -t["cost"])


def run_tasks(tasks: list[dict[str, Any]], jobs: int,
              init_args: tuple[Any, ...]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (task, result) as tasks finish, in `jobs` worker processes (inline for 1)."""
    if jobs <= 1:
        _init_worker(*init_args)
        for task in tasks:
            yield task, run_task(task)
        return
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=init_args) as pool:
        futures = {pool.submit(run_task, task): task for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()


# --- partial results -------------------------------------------------------------------
def settings_key(settings: Settings) -> str:
    """What a finished task's result depends on. The counts of architectures and reference
    seeds are left out: architecture i and seed k are the same in a larger run (the sampler
    draws the same sequence), so a run with more of either reuses a smaller one's tasks."""
    kept = {k: v for k, v in asdict(settings).items() if k not in ("archs", "reference_seeds")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def load_partial(path: Path, key: str) -> dict[str, dict[str, Any]]:
    """Finished tasks of an earlier run with the same settings."""
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if entry.get("settings") == key:
                done[entry["task"]] = entry["result"]
    return done


def append_partial(path: Path, key: str, task: str, result: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps({"settings": key, "task": task, "result": result}) + "\n")


# --- figures ---------------------------------------------------------------------------
def assemble_rows(archs: list[dict[str, Any]], done: dict[str, dict[str, Any]], seeds: int) -> list[dict[str, Any]]:
    """One row per architecture: its knobs, costs, every scorer and the reference runs."""
    rows = []
    for arch in archs:
        index = arch["index"]
        cheap = done[f"cheap:{index}"]
        reference = [done[f"ref:{index}:{k}"]["reference"] for k in range(seeds)]
        samples = [r["accuracy"] for r in reference]
        row = {"index": index, "knobs": arch["knobs"], "params_fvcore": arch["params"], "macs_fvcore": arch["macs"],
               SHORT: cheap["short"]["accuracy_no_recal"], SHORT_RECAL: cheap["short"]["accuracy"],
               PROXY: cheap["proxy"]["accuracy"], "proxy_no_recal": cheap["proxy"]["accuracy_no_recal"],
               **{name: cheap[name] for name in ZERO_COST_PROXIES},
               "reference_samples": samples,
               "reference_no_recal": [r["accuracy_no_recal"] for r in reference],
               "reference": statistics.fmean(samples) if None not in samples else None,
               "proxy_train_seconds": cheap["proxy"]["train_seconds"],
               "reference_train_seconds": [r["train_seconds"] for r in reference]}
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]], recipe_epochs: float) -> dict[str, Any]:
    """Kendall taus with intervals, reference spread against seed noise, medians and times."""
    usable = [r for r in rows if r["reference"] is not None and None not in (r[SHORT], r[SHORT_RECAL], r[PROXY])]
    target = [r["reference"] for r in usable]
    taus = {}
    for name in (SHORT, SHORT_RECAL, PROXY, *ZERO_COST_PROXIES):
        tau, low, high = kendall_tau_bootstrap([r[name] for r in usable], target)
        taus[name] = {"tau": round(tau, 3), "low": round(low, 3), "high": round(high, 3), "n": len(usable)}
    means = np.asarray(target)
    seed_sd = pooled_sd([r["reference_samples"] for r in usable])
    spread = float(means.max() - means.min())
    between_sd = float(means.std(ddof=1))
    proxy_seconds = [r["proxy_train_seconds"] for r in usable]
    return {
        "kendall_tau": taus,
        "reference_spread": spread,
        "reference_sd": between_sd,
        "seed_sd": seed_sd,
        "spread_over_seed_sd": spread / seed_sd if seed_sd > 0 else None,
        "sd_over_seed_sd": between_sd / seed_sd if seed_sd > 0 else None,
        "reference_range": [float(means.min()), float(means.max())],
        "median_1ep": statistics.median(r[SHORT] for r in usable),
        "median_1ep_recal": statistics.median(r[SHORT_RECAL] for r in usable),
        "median_proxy": statistics.median(r[PROXY] for r in usable),
        "median_reference": statistics.median(target),
        "proxy_epochs": recipe_epochs,
        "proxy_train_seconds_mean": statistics.fmean(proxy_seconds),
        "proxy_train_seconds_max": max(proxy_seconds),
        "excluded": len(rows) - len(usable),
    }


_LABELS = {SHORT: "1-epoch proxy, no recalibration", SHORT_RECAL: "1-epoch proxy, BN recalibrated",
           "params": "params (bigger = better)", "macs": "MACs (bigger = better)"}


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown: the tau table, spread vs noise, medians, times, every row."""
    s, f = report["settings"], report["figures"]
    epochs = f["proxy_epochs"]
    label = {**_LABELS, PROXY: f"the space's proxy ({epochs:g} epochs, recalibrated)"}
    lines = [f"# Rank fidelity: space `{s['space']}` on `{s['dataset']}` ({s['archs']} architectures, "
             f"{report['input_size']}px)", "",
             f"Reference: mean of {s['reference_seeds']} seeds x {s['reference_epochs']:g} epochs of the space's "
             f"recipe (BN recalibrated), validation split of {report['val_size']} images.", "",
             "| scorer | Kendall tau vs reference | 95% bootstrap interval |", "| --- | --- | --- |"]
    for name, t in f["kendall_tau"].items():
        lines.append(f"| {label.get(name, name)} | {t['tau']:.2f} | {t['low']:.2f} to {t['high']:.2f} |")
    ratio = f["spread_over_seed_sd"]
    lines += ["", "| figure | value |", "| --- | --- |",
              f"| reference accuracy, range over architectures | {_pct(f['reference_range'][0])} "
              f"to {_pct(f['reference_range'][1])} |",
              f"| reference spread (max - min) | {_pts(f['reference_spread'])} |",
              f"| sd of the architecture means | {_pts(f['reference_sd'])} |",
              f"| seed sd of a {s['reference_epochs']:g}-epoch run (pooled) | {_pts(f['seed_sd'])} |",
              f"| spread / seed sd | {ratio:.1f} |" if ratio is not None else "| spread / seed sd | n/a |",
              f"| median 1-epoch accuracy, no recalibration | {_pct(f['median_1ep'])} |",
              f"| median 1-epoch accuracy, BN recalibrated | {_pct(f['median_1ep_recal'])} |",
              f"| median proxy accuracy ({epochs:g} epochs) | {_pct(f['median_proxy'])} |",
              f"| proxy training time, mean / max per architecture | {f['proxy_train_seconds_mean']:.1f} / "
              f"{f['proxy_train_seconds_max']:.1f} s (one thread) |",
              f"| wall time | {report['wall_seconds']:.0f} s with {report['jobs']} jobs "
              f"({report['task_seconds']:.0f} s of tasks, {report['resumed_tasks']} resumed) |"]
    lines += ["", "| # | knobs | MACs | params | 1 ep | 1 ep recal | proxy | reference (mean ± sd) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        samples = [v for v in r["reference_samples"] if v is not None]
        sd = statistics.stdev(samples) if len(samples) > 1 else float("nan")
        knobs = ", ".join(f"{k}={round(v, 4):g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["knobs"].items())
        lines.append(f"| {r['index']} | {knobs} | {r['macs_fvcore'] / 1e6:.2f}M | {r['params_fvcore'] / 1e3:.0f}k | "
                     f"{_pct(r[SHORT])} | {_pct(r[SHORT_RECAL])} | {_pct(r[PROXY])} | "
                     f"{_pct(r['reference'])} ± {_pts(sd)} |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _pts(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f} pts"


def report_name(space: SearchSpace, dataset_override: str | None, quick: bool) -> str:
    parts = ["rank_fidelity"]
    if space.name != "digits":
        parts.append(str(space.name))
    if dataset_override:
        parts.append(re.sub(r"[^A-Za-z0-9]+", "-", dataset_override).strip("-"))
    if quick:
        parts.append("quick")
    return "_".join(parts)


# --- main ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits", help="space name or YAML path (default: digits)")
    parser.add_argument("--dataset", help="dataset spec replacing the space's (e.g. digits, cifar10:PATH)")
    parser.add_argument("--archs", type=int, help="architectures sampled (default 20; 6 with --quick)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, one torch thread each")
    parser.add_argument("--quick", action="store_true", help="sanity check: 6 archs, 2 seeds x 5 epochs")
    parser.add_argument("--reference-epochs", type=float, help="epochs of a reference run (default 15; 5 with --quick)")
    parser.add_argument("--reference-seeds", type=int, help="seeds per reference (default 3; 2 with --quick)")
    parser.add_argument("--seed", type=int, help="sampling and training seed (default: the space's)")
    parser.add_argument("--fresh", action="store_true", help="ignore partial results of an earlier run")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default reports/benchmarks)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    space = load_space(args.space, data=args.dataset)
    seed = space.seed if args.seed is None else args.seed
    settings = Settings(space=str(space.name), dataset=space.dataset, archs=args.archs or (6 if args.quick else 20),
                        short_epochs=1.0, reference_epochs=args.reference_epochs or (5.0 if args.quick else 15.0),
                        reference_seeds=args.reference_seeds or (2 if args.quick else 3), seed=seed,
                        space_hash=space.space_hash())
    started = time.perf_counter()
    resolved = resolve_space(space, device="cpu")
    data = load_search_data(resolved, "cpu")
    recipe = resolved.recipe
    archs = sample_architectures(space, search_base(space, data), settings.archs, seed)
    name = report_name(space, args.dataset, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / f"{name}.partial.jsonl"
    key = settings_key(settings)
    done = {} if args.fresh else load_partial(partial, key)
    resumed = len(done)
    todo = [t for t in make_tasks(archs, settings, recipe.epochs) if t["key"] not in done]
    print(f"{name}: {len(archs)} architectures, {len(todo)} tasks to run ({resumed} resumed), {args.jobs} jobs",
          flush=True)
    task_seconds = sum(r.get("task_seconds", 0.0) for r in done.values())
    for count, (task, result) in enumerate(run_tasks(todo, args.jobs, (data, recipe, space.accuracy.batch_size)), 1):
        done[task["key"]] = result
        append_partial(partial, key, task["key"], result)
        task_seconds += result["task_seconds"]
        print(f"[{count}/{len(todo)}] {task['key']} {result['task_seconds']:.1f}s "
              f"{time.perf_counter() - started:.0f}s elapsed", flush=True)
    rows = assemble_rows(archs, done, settings.reference_seeds)
    report = {"settings": asdict(settings), "recipe": recipe.model_dump(), "input_size": data.input_size,
              "dataset_spec": describe() if space.dataset == DIGITS_HARD else None,
              "train_size": len(data.train_y), "val_size": len(data.val_y), "jobs": args.jobs,
              "wall_seconds": time.perf_counter() - started, "task_seconds": task_seconds, "resumed_tasks": resumed,
              "figures": summarise(rows, recipe.epochs), "rows": rows}
    save_report(args.out, name, report, markdown(report))
    return report


if __name__ == "__main__":
    main()
