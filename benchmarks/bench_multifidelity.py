"""Does a fidelity ladder buy a better front per CPU-hour? Plain search vs ladder vs ladder + pre-screen.

For each benchmark seed, the three strategies search the same space for the same wall time,
side by side (one process and one torch thread each, started together, so they share whatever
else the machine is doing):

* `plain`: today's default, every candidate trained for the full proxy recipe;
* `ladder`: the space with `fidelity: {rungs: [1, <recipe epochs>], unit: epochs, eta: 3}`
  (the top rung is the plain search's training, so only the losers are cheaper);
* `ladder+prescreen`: the ladder after a zero-cost pre-screen (`naswot`, keep 0.25).

Each strategy's front (accuracy at the top rung against MACs, each architecture once) is then
confirmed the same way as `workbench confirm` (the space's recipe for `--confirm-epochs`
epochs, `--confirm-seeds` seeds; an architecture found by several strategies is trained once
and shared). Reported per strategy: the hypervolume of confirmed accuracy against MACs with one
fixed reference point (accuracy `--ref-accuracy`, MACs = the space's `max_macs`), as the median
over the seeds; distinct architectures trained per hour; candidates considered per hour.

    .venv/bin/python benchmarks/bench_multifidelity.py --quick          # ~12 min on 2 cores
    .venv/bin/python benchmarks/bench_multifidelity.py --minutes 10 --seeds 3

Searches and confirmation runs are resumable: studies live in
reports/benchmarks/multifidelity_work/ (a rerun continues each study up to its time) and every
confirmation run is cached there. Results: reports/benchmarks/multifidelity[_quick].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import save_report  # noqa: E402

from workbench import record, results  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.space import SearchSpace  # noqa: E402
from workbench.search.space_resolve import proxy_recipe  # noqa: E402

STRATEGIES = ("plain", "ladder", "ladder+prescreen")
WORK = Path("reports/benchmarks/multifidelity_work")


def strategy_space(space: SearchSpace, strategy: str, *, eta: float, keep: float, proxy: str) -> SearchSpace:
    """The space as one strategy searches it (the space's own noise measurement left out)."""
    top = float(proxy_recipe(space).epochs)
    recipe = {k: v for k, v in space.recipe.items() if k != "epochs"}
    update: dict[str, Any] = {"noise": None}
    if strategy != "plain":
        update.update(recipe=recipe, fidelity={"rungs": [1.0, top], "unit": "epochs", "eta": eta})
    if strategy == "ladder+prescreen":
        update["prescreen"] = {"proxy": proxy, "keep": keep}
    data = {**space.model_dump(), **update}
    from workbench.search.space import parse_space
    from workbench.search.space_check import check_space

    out = parse_space(data, source=space.source, base_dir=space.base_dir)
    check_space(out)
    return out


def run_strategy(args: tuple[dict[str, Any], str, str, str, int, float]) -> str:
    """One strategy's search (a worker process with one torch thread); returns its study name."""
    space_data, source, strategy, storage, seed, seconds = args
    import torch

    torch.set_num_threads(1)
    from workbench.search.runner import run_search
    from workbench.search.space import parse_space

    space = parse_space(space_data, source=source)
    name = f"{strategy}-seed{seed}"
    run_search(space, study_name=name, storage=storage, timeout=seconds, seed=seed, progress=False, device="cpu")
    return name


def confirm_run(args: tuple[dict[str, Any], str, str, int, float]) -> float:
    """One confirmation run of an architecture (its JSON) at one seed, one torch thread."""
    space_data, source, arch_json, seed, epochs = args
    import torch

    torch.set_num_threads(1)
    from workbench.config.arch import ArchConfig
    from workbench.confirm import long_recipe
    from workbench.search.scoring import train_candidate
    from workbench.search.space import parse_space
    from workbench.search.space_resolve import resolve_space
    from workbench.search.workers import load_search_data

    space = parse_space(space_data, source=source)
    arch = ArchConfig.model_validate_json(arch_json)
    data = load_search_data(resolve_space(space, device="cpu"))
    return float(train_candidate(long_recipe(space, epochs), arch, data, seed).val_accuracy)


def front_of(study_name: str, storage: str) -> tuple[Any, Any, dict[str, Any]]:
    """The study's frame, its front (top rung, each architecture once) and its counts."""
    from workbench.storage import load_study

    study = load_study(study_name, storage)
    frame = results.trials_frame(study)
    objectives = results.study_objectives(study)
    front = results.pareto_front(frame, objectives)
    trained = frame[frame["status"].isin(["complete", "stopped"])]
    seconds = float(np.nansum(frame["duration_s"]))
    counts = {"trials": int(len(frame)), "trained_archs": int(trained[record.ARCH_HASH].nunique()),
              "considered_archs": int(frame[record.ARCH_HASH].dropna().nunique()),
              "top_rung_archs": int(frame[frame["status"] == "complete"][record.ARCH_HASH].nunique()),
              "search_seconds": seconds, "statuses": results.status_counts(frame)}
    return frame, front, counts


def hypervolume(points: list[tuple[float, float]], ref_accuracy: float, ref_macs: float) -> float:
    """Area dominated by (accuracy, MACs) points above `ref_accuracy` and below `ref_macs`."""
    from workbench.storage import hypervolume as optuna_hypervolume

    losses = np.array([[-a, m] for a, m in points], dtype=float).reshape(-1, 2)
    return optuna_hypervolume(losses, np.array([-ref_accuracy, ref_macs]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits")
    parser.add_argument("--minutes", type=float, default=10.0, help="search wall time per strategy and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--confirm-seeds", type=int, default=3)
    parser.add_argument("--confirm-epochs", type=float, default=15.0)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--keep", type=float, default=0.25)
    parser.add_argument("--proxy", default="naswot")
    parser.add_argument("--ref-accuracy", type=float, default=0.90, help="hypervolume reference accuracy")
    parser.add_argument("--jobs", type=int, default=3, help="processes for the confirmation runs")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2.5 minutes, confirm 2 seeds x 6 epochs")
    parser.add_argument("--out", default="reports/benchmarks")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.seeds, args.confirm_seeds, args.confirm_epochs = 2.5, 1, 2, 6.0
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.time()
    space = load_space(args.space)
    ref_macs = float(space.budgets.max_macs or 0) or None
    tag = f"{'quick_' if args.quick else ''}{args.minutes:g}min"
    work = WORK / tag
    work.mkdir(parents=True, exist_ok=True)
    storage = f"journal:{work / 'studies.log'}"
    spaces = {s: strategy_space(space, s, eta=args.eta, keep=args.keep, proxy=args.proxy) for s in STRATEGIES}
    cache_path = work / "confirm_cache.json"
    cache: dict[str, float] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    runs: dict[str, dict[int, dict[str, Any]]] = {s: {} for s in STRATEGIES}
    for seed in range(args.seeds):
        jobs = [(spaces[s].model_dump(), space.source, s, storage, seed, args.minutes * 60) for s in STRATEGIES]
        with ProcessPoolExecutor(len(STRATEGIES)) as pool:
            list(pool.map(run_strategy, jobs))
        fronts = {}
        for strategy in STRATEGIES:
            frame, front, counts = front_of(f"{strategy}-seed{seed}", storage)
            fronts[strategy] = front
            runs[strategy][seed] = counts
        todo = sorted({(row[record.ARCH_HASH], row[record.ARCH_JSON]) for front in fronts.values()
                       for _, row in front.iterrows()})
        tasks = [(h, j, s) for h, j in todo for s in range(args.confirm_seeds)
                 if f"{h}:{s}:{args.confirm_epochs:g}" not in cache]
        with ProcessPoolExecutor(max(1, args.jobs)) as pool:
            plain = space.model_dump()
            for (digest, _, s), accuracy in zip(
                    tasks, pool.map(confirm_run, [(plain, space.source, j, 10_000 + s, args.confirm_epochs)
                                                  for _, j, s in tasks])):
                cache[f"{digest}:{s}:{args.confirm_epochs:g}"] = accuracy
                cache_path.write_text(json.dumps(cache))
        for strategy, front in fronts.items():
            points = []
            for _, row in front.iterrows():
                accs = [cache[f"{row[record.ARCH_HASH]}:{s}:{args.confirm_epochs:g}"]
                        for s in range(args.confirm_seeds)]
                points.append({"number": int(row["number"]), "macs": float(row[record.MACS]),
                               "proxy": float(row[record.ACCURACY]), "confirmed": float(np.mean(accs))})
            counts = runs[strategy][seed]
            counts["front"] = points
            counts["hypervolume"] = hypervolume([(p["confirmed"], p["macs"]) for p in points],
                                                args.ref_accuracy, ref_macs)
            hours = counts["search_seconds"] / 3600
            counts["trained_archs_per_hour"] = counts["trained_archs"] / hours if hours else None
            counts["considered_archs_per_hour"] = counts["considered_archs"] / hours if hours else None
    report = summarise(args, runs, ref_macs, time.time() - started)
    save_report(args.out, "multifidelity_quick" if args.quick else "multifidelity", report, markdown(report))
    return report


def summarise(args: argparse.Namespace, runs: dict[str, dict[int, dict[str, Any]]], ref_macs: float | None,
              seconds: float) -> dict[str, Any]:
    """Medians over the seeds per strategy, and each ladder's hypervolume ratio to plain."""
    table = {}
    for strategy, by_seed in runs.items():
        hv = [r["hypervolume"] for r in by_seed.values()]
        table[strategy] = {
            "hypervolume_median": statistics.median(hv) if hv else None, "hypervolumes": hv,
            "trained_archs_per_hour_median": statistics.median(r["trained_archs_per_hour"] for r in by_seed.values()),
            "considered_archs_per_hour_median": statistics.median(r["considered_archs_per_hour"]
                                                                  for r in by_seed.values()),
            "runs": {str(k): v for k, v in by_seed.items()},
        }
    base = table["plain"]["hypervolume_median"]
    for strategy in STRATEGIES:
        value = table[strategy]["hypervolume_median"]
        table[strategy]["ratio_to_plain"] = value / base if base else None
    return {"settings": {k: v for k, v in vars(args).items()},
            "reference_point": {"accuracy": args.ref_accuracy, "macs": ref_macs},
            "strategies": table, "goal": "ladder hypervolume >= 1.3x plain at equal time", "wall_seconds": seconds}


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    ref = report["reference_point"]
    lines = [f"# Multi-fidelity search: space `{s['space']}`, {s['minutes']:g} min per strategy, "
             f"{s['seeds']} seed(s)", "",
             f"Fronts confirmed with {s['confirm_seeds']} seeds x {s['confirm_epochs']:g} epochs. "
             f"Hypervolume of confirmed accuracy against MACs, reference point accuracy {ref['accuracy']:g}, "
             f"MACs {ref['macs']:,.0f}; median over seeds.",
             "", "| strategy | hypervolume (median) | ratio to plain | archs trained / hour | archs considered / hour "
             "| per seed |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, row in report["strategies"].items():
        ratio = row["ratio_to_plain"]
        lines.append(f"| {name} | {row['hypervolume_median']:,.0f} | {'-' if ratio is None else f'{ratio:.2f}x'} | "
                     f"{row['trained_archs_per_hour_median']:.0f} | {row['considered_archs_per_hour_median']:.0f} | "
                     f"{', '.join(f'{v:,.0f}' for v in row['hypervolumes'])} |")
    lines += ["", f"Goal: {report['goal']}. Wall time {report['wall_seconds'] / 60:.1f} min.", ""]
    for name, row in report["strategies"].items():
        for seed, run in row["runs"].items():
            front = ", ".join(f"#{p['number']} {p['macs'] / 1e6:.2f}M {p['proxy']:.3f}->{p['confirmed']:.3f}"
                              for p in run["front"])
            lines.append(f"- {name}, seed {seed}: {run['statuses']}; front (MACs proxy->confirmed): {front}")
    lines += ["", f"Command: `.venv/bin/python benchmarks/bench_multifidelity.py{' --quick' if s['quick'] else ''}"
                  f" --minutes {s['minutes']:g} --seeds {s['seeds']}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
