"""Which Ghost family pays on digits-hard: GhostNet (V1), GhostNetV2 (DFC), RepGhost, or a mix?

Four searches of equal wall time, each derived from `search_spaces/ghost_family_digits.yaml`
by narrowing its two family knobs (temporary YAML files; ratio, width, data, recipe and budget
as shipped), and each given an ONNX Runtime fp32 target (`ort-cpu: {engine: onnxruntime}`,
one thread like the space's torch-cpu target) beside the shipped torch-cpu one:

* `v1`: `ghost: concat`, `attention: none | se` per stage (GhostNet);
* `v2`: `ghost: concat`, `attention: dfc` in every searched stage (GhostNetV2's layout: DFC on
  every block, the base block's SE kept); a one-choice per-stage knob, so DFC-only is expressed
  as such, not as `none | dfc`;
* `rep`: `ghost: rep`, `attention: none | se` (RepGhost);
* `mixed`: the space as shipped (`concat | rep`, `none | se | dfc` per stage).

Each family is searched once per sampler seed (`--seeds`, CLI `--seed 0..N-1`) through the CLI,
`workbench search --timeout T --workers 1 --threads 1`, one SQLite file per search in a
temporary folder. `--jobs 2` runs two searches side by side; the pairs change with the seed
(every pair of families meets once over 3 seeds), so no family always shares the CPU with the
same neighbour.

Each search's fronts (proxy accuracy against MACs, torch-cpu and ort-cpu; each architecture
once) are then confirmed as `workbench confirm` does: the space's recipe trained longer
(`confirm.long_recipe`), seeds by `confirm`'s rule, stored as the study's `confirm:<n>`
attributes (`confirm.store_confirmation`), read back through `workbench.results`. Figures:
hypervolume of confirmed accuracy against each cost per family (median and range over seeds),
the confirmed fronts, who owns which part of the mixed and of the pooled front, and where
differences are inside the noise (seed ranges that overlap; accuracies within
`stats.tie_band` of their confirmation standard errors). `--demo-trials 20` also times the
demo-sized run `workbench search --space ghost_family_digits --trials 20` (default workers).

    .venv/bin/python benchmarks/bench_ghost_family.py --loaded        # full run, ~35 min on 2 cores
    .venv/bin/python benchmarks/bench_ghost_family.py --quick         # smoke check, ~2 min

Writes reports/benchmarks/ghost_family.json and .md (`--quick`: ghost_family_quick.*) and
prints the markdown.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import save_report  # noqa: E402

from workbench import record, results  # noqa: E402
from workbench.confirm import DEFAULT_SEEDS, default_epochs, long_recipe, store_confirmation, study_space  # noqa: E402
from workbench.profiling.protocol import cpu_name  # noqa: E402
from workbench.record import OBJECTIVES, Objective, objective  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.space import seed_rule  # noqa: E402
from workbench.stats import kendall_tau_bootstrap, pooled_sd, tie_band, wilson_interval  # noqa: E402
from workbench.storage import load_study  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
NAME = "ghost_family"
SHIPPED = ROOT / "search_spaces" / "ghost_family_digits.yaml"
ORT_TARGET = {"ort-cpu": {"engine": "onnxruntime"}}   # threads, batch, repeats: the space's shared protocol
COSTS = ("macs", "torch-cpu", "ort-cpu")
COST_LABELS = {"macs": "MACs", "torch-cpu": "torch-cpu p50 (ms)", "ort-cpu": "ort-cpu p50 (ms)"}
ACCURACY = results.CONFIRMED_OBJECTIVE
# Hypervolume reference accuracy: below the 0.83 a logistic regression on pixels reaches on
# digits-hard (search_spaces/digits.yaml), so a point counts only where it beats that baseline.
REF_ACCURACY = 0.80
# Defaults of the full run: sized to ~35 minutes on the loaded 2-core machine (see the report).
FULL = {"timeout": 90.0, "seeds": 3, "confirm_seeds": 2, "confirm_epochs": 5.0, "demo_trials": 20}
QUICK = {"timeout": 15.0, "seeds": 1, "confirm_seeds": 2, "confirm_epochs": 1.0, "demo_trials": 0}


@dataclass(frozen=True)
class Family:
    """One search of the benchmark: the family knobs' choices (None: as shipped)."""

    name: str
    label: str
    ghost: tuple[str, ...] | None
    attention: tuple[str, ...] | None


FAMILIES = (
    Family("v1", "GhostNet V1 (concat; none/se)", ("concat",), ("none", "se")),
    Family("v2", "GhostNetV2 (concat; dfc)", ("concat",), ("dfc",)),
    Family("rep", "RepGhost (rep; none/se)", ("rep",), ("none", "se")),
    Family("mixed", "mixed (the space as shipped)", None, None),
)


# --- spaces -----------------------------------------------------------------------------
def family_space(shipped: dict[str, Any], family: Family) -> dict[str, Any]:
    """The shipped space with the family's knob choices and the ORT target added."""
    data = yaml.safe_load(yaml.safe_dump(shipped))  # a deep copy
    data["name"] = f"ghost_family_{family.name}"
    data["description"] = f"{family.label}; from ghost_family_digits.yaml (bench_ghost_family.py)"
    if family.ghost is not None:
        data["knobs"]["ghost"] = {**data["knobs"]["ghost"], "choices": list(family.ghost)}
    if family.attention is not None:
        data["knobs"]["attention"] = {**data["knobs"]["attention"], "choices": list(family.attention)}
    data["latency"]["targets"] = {**data["latency"]["targets"], **ORT_TARGET}
    return data


def write_spaces(work: Path) -> dict[str, Path]:
    """Write each family's space YAML under `work`; returns {family: path}."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    paths = {}
    for family in FAMILIES:
        path = work / f"{family.name}.yaml"
        path.write_text(yaml.safe_dump(family_space(shipped, family), sort_keys=False))
        paths[family.name] = path
    return paths


# --- searches ---------------------------------------------------------------------------
def schedule(names: Sequence[str], seeds: int, jobs: int) -> list[list[tuple[str, int]]]:
    """Rounds of searches run side by side: with two jobs, the circle method pairs every
    family with every other once over len(names) - 1 seeds; otherwise chunks of `jobs`."""
    rounds = []
    for seed in range(seeds):
        order = list(names)
        if jobs == 2 and len(order) % 2 == 0:
            shift = seed % (len(order) - 1)
            rest = order[1:][shift:] + order[1:][:shift]
            order = [order[0], *rest]
        for i in range(0, len(order), jobs):
            rounds.append([(name, seed) for name in order[i:i + jobs]])
    return rounds


def study_name(family: str, seed: int) -> str:
    return f"{family}-seed{seed}"


def storage_url(work: Path, family: str, seed: int) -> str:
    return f"sqlite:///{work / (study_name(family, seed) + '.db')}"


def cli(*args: str) -> list[str]:
    """The workbench CLI as this interpreter runs it."""
    return [sys.executable, "-m", "workbench", *args]


def cli_env() -> dict[str, str]:
    """The environment of a CLI child: this checkout first on the path, nothing else changed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def search_command(space: Path, work: Path, family: str, seed: int, timeout: float) -> list[str]:
    return cli("search", "--space", str(space), "--study", study_name(family, seed),
               "--storage", storage_url(work, family, seed), "--timeout", f"{timeout:g}", "--workers", "1",
               "--threads", "1", "--seed", str(seed), "--no-progress")


def run_round(jobs: list[tuple[str, int]], spaces: dict[str, Path], work: Path, timeout: float) -> dict[str, Any]:
    """Start the round's searches together, wait for all; returns each one's wall seconds."""
    started, procs = {}, {}
    for family, seed in jobs:
        log = open(work / f"{study_name(family, seed)}.log", "w")
        started[(family, seed)] = time.perf_counter()
        procs[(family, seed)] = (subprocess.Popen(search_command(spaces[family], work, family, seed, timeout),
                                                  stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=cli_env()), log)
    walls = {}
    for key, (proc, log) in procs.items():
        rc = proc.wait()
        log.close()
        walls[key] = time.perf_counter() - started[key]
        if rc != 0:
            tail = (work / f"{study_name(*key)}.log").read_text()[-2000:]
            raise SystemExit(f"search {study_name(*key)} exited {rc}:\n{tail}")
    return walls


def run_searches(spaces: dict[str, Path], work: Path, args: argparse.Namespace) -> dict[tuple[str, int], float]:
    """Every family under every seed; returns {(family, seed): wall seconds of its CLI run}."""
    walls: dict[tuple[str, int], float] = {}
    for index, jobs in enumerate(schedule([f.name for f in FAMILIES], args.seeds, args.jobs)):
        print(f"searches round {index + 1}: {', '.join(study_name(*j) for j in jobs)} "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
        walls.update(run_round(jobs, spaces, work, args.timeout))
    return walls


# --- confirmation (as `workbench confirm` does it) ----------------------------------------
def cost_objective(cost: str) -> Objective:
    """The objective of a cost axis: MACs, or a latency target's p50."""
    return OBJECTIVES["macs"] if cost == "macs" else objective(f"latency_ms:{cost}")


def proxy_front_members(frame: pd.DataFrame) -> dict[int, list[str]]:
    """{trial number: the cost axes on whose proxy-accuracy front it lies}, over every cost."""
    members: dict[int, list[str]] = {}
    for cost in COSTS:
        front = results.pareto_front(frame, [OBJECTIVES["accuracy"], cost_objective(cost)])
        for number in front["number"]:
            members.setdefault(int(number), []).append(cost)
    return dict(sorted(members.items()))


_DATA: dict[str, Any] = {}


def confirm_run(task: tuple[str, str, int, float]) -> float | None:
    """One confirmation run (a worker process, one torch thread): the space's recipe trained
    `epochs` epochs at `seed`, scored as the search scores a trial; None if it diverged."""
    import torch

    from workbench.config.arch import ArchConfig
    from workbench.search.scoring import train_candidate
    from workbench.search.space_resolve import resolve_space
    from workbench.search.workers import load_search_data
    from workbench.training import TrainingDiverged

    space_path, arch_json, seed, epochs = task
    torch.set_num_threads(1)
    space = load_space(space_path)
    if space_path not in _DATA:
        _DATA[space_path] = load_search_data(resolve_space(space, device="cpu"))
    try:
        result = train_candidate(long_recipe(space, epochs), ArchConfig.model_validate_json(arch_json),
                                 _DATA[space_path], seed)
    except TrainingDiverged:
        return None
    return float(result.val_accuracy)


def confirm_plan(keys: Sequence[tuple[str, int]], spaces: dict[str, Path], work: Path,
                 seeds: int) -> list[dict[str, Any]]:
    """Per search, its proxy front members (every cost) with the seeds `workbench confirm` uses."""
    plan = []
    for family, seed in keys:
        study, frame = results.open_results(study_name(family, seed), storage_url(work, family, seed))
        base_seed = study_space(study).seed
        arch = dict(zip(frame["number"], frame[record.ARCH_JSON]))
        for number, axes in proxy_front_members(frame).items():
            plan.append({"family": family, "seed": seed, "number": number, "axes": axes, "arch_json": arch[number],
                         "space": str(spaces[family]), "seeds": seed_rule(base_seed, number, seeds)})
    return plan


def run_confirmations(plan: list[dict[str, Any]], work: Path, args: argparse.Namespace) -> list[str]:
    """Train every (member, seed) on `--jobs` processes and store each member's confirmation
    in its study; returns notes on diverged runs."""
    tasks = [(p["space"], p["arch_json"], s, args.confirm_epochs) for p in plan for s in p["seeds"]]
    print(f"confirming {len(plan)} front members x {args.confirm_seeds} seeds x {args.confirm_epochs:g} epochs "
          f"= {len(tasks)} runs on {args.jobs} processes", flush=True)
    with ProcessPoolExecutor(max(1, args.jobs), mp_context=get_context("spawn")) as pool:
        accuracies = iter(list(pool.map(confirm_run, tasks)))
    notes = []
    for p in plan:
        runs = {s: next(accuracies) for s in p["seeds"]}
        notes += [f"{study_name(p['family'], p['seed'])} trial {p['number']} seed {s}: diverged"
                  for s, a in runs.items() if a is None]
        kept = {s: a for s, a in runs.items() if a is not None}
        if kept:
            study = load_study(study_name(p["family"], p["seed"]), storage_url(work, p["family"], p["seed"]))
            store_confirmation(study, p["number"], args.confirm_epochs, kept)
    return notes


# --- figures ----------------------------------------------------------------------------
def arch_family(row: pd.Series) -> str:
    """The family of one architecture from its knobs: V1, V2, V1+V2 (DFC in some stages),
    RepGhost, or RepGhost+DFC."""
    stages = [v for k, v in row.items() if str(k).startswith(f"{results.KNOB_PREFIX}attention")]
    dfc = sum(v == "dfc" for v in stages)
    if row.get(f"{results.KNOB_PREFIX}ghost") == "rep":
        return "RepGhost+DFC" if dfc else "RepGhost"
    return "V2" if stages and dfc == len(stages) else ("V1+V2" if dfc else "V1")


def load_frames(keys: Sequence[tuple[str, int]], work: Path) -> dict[tuple[str, int], pd.DataFrame]:
    """Each search's trials frame (confirmations included), with its family and seed."""
    frames = {}
    for family, seed in keys:
        _, frame = results.open_results(study_name(family, seed), storage_url(work, family, seed))
        frame["search"], frame["search_seed"] = family, seed
        frame["arch_family"] = [arch_family(row) for _, row in frame.iterrows()]
        frames[(family, seed)] = frame
    return frames


def confirmed_pool(frames: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """Every confirmed candidate of every search, each architecture once."""
    pool = pd.concat([results.candidates(f, [ACCURACY]) for f in frames.values()], ignore_index=True)
    return results.dedupe_architectures(pool)


def references(pool: pd.DataFrame, args: argparse.Namespace, max_macs: float) -> dict[str, float]:
    """The one reference point of every hypervolume: accuracy `--ref-accuracy` (default
    `REF_ACCURACY`, or a whole point below the lowest confirmed accuracy where that is lower,
    so every confirmed point counts), MACs the space's budget, each latency 1.1 x the slowest
    confirmed candidate of all searches."""
    lowest = float(pool[record.CONFIRMED_ACCURACY].min())
    ref_acc = args.ref_accuracy
    if ref_acc is None:
        ref_acc = min(REF_ACCURACY, math.floor(lowest * 100 - 1e-9) / 100)
    refs = {"accuracy": ref_acc, "macs": float(max_macs)}
    for cost in COSTS[1:]:
        refs[cost] = 1.1 * float(pool[cost_objective(cost).column].max())
    return refs


def normalised_hv(frame: pd.DataFrame, cost: str, refs: dict[str, float]) -> float:
    """Hypervolume of confirmed accuracy vs `cost` (Optuna's, via `results.hypervolume`) over
    the box from the reference point to (accuracy 1, cost 0): 0 = nothing, 1 = perfect and free."""
    reference = np.array([-refs["accuracy"], refs[cost]])
    area = results.hypervolume(frame, [ACCURACY, cost_objective(cost)], reference)
    return area / ((1.0 - refs["accuracy"]) * refs[cost])


def front_points(frame: pd.DataFrame, cost: str) -> list[dict[str, Any]]:
    """The confirmed front of `frame` on `cost`, cheapest first, with each point's noise."""
    front = results.pareto_front(frame, [ACCURACY, cost_objective(cost)])
    return [point(row, cost) for _, row in front.iterrows()]


def point(row: pd.Series, cost: str) -> dict[str, Any]:
    """One front member: cost, proxy and confirmed accuracy, their noise and its family."""
    acc, val = float(row[record.CONFIRMED_ACCURACY]), int(row[record.VAL_SIZE])
    low, high = wilson_interval(acc, val)
    return {"search": row["search"], "search_seed": int(row["search_seed"]), "number": int(row["number"]),
            "arch_family": row["arch_family"], "cost": float(row[cost_objective(cost).column]),
            "macs": float(row[record.MACS]), "proxy": float(row[record.ACCURACY]), "confirmed": acc,
            "confirmed_sd": _finite(row[record.CONFIRMED_SD]), "confirmed_se": _finite(row[results.CONFIRMED_SE]),
            "samples": list(row[record.CONFIRMED_SAMPLES] or []), "wilson_low": low, "wilson_high": high,
            "knobs": {k[len(results.KNOB_PREFIX):]: _plain(v) for k, v in row.items()
                      if str(k).startswith(results.KNOB_PREFIX)}}


def search_figures(frame: pd.DataFrame, wall: float, refs: dict[str, float]) -> dict[str, Any]:
    """One search: its trial counts and time, hypervolume and confirmed front on every cost."""
    scored = frame[results.scored_mask(frame)]
    return {"wall_seconds": wall, "trials": int(len(frame)), "scored": int(len(scored)),
            "statuses": results.status_counts(frame), "trial_seconds": float(np.nansum(frame["duration_s"])),
            "confirmed": int(frame[record.CONFIRMED_ACCURACY].notna().sum()),
            "hypervolume": {c: normalised_hv(frame, c, refs) for c in COSTS},
            "fronts": {c: front_points(frame, c) for c in COSTS}}


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, range and values over the seeds."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


def family_table(searches: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per family and cost: the hypervolume's median and range over seeds, trials per search."""
    table = {}
    for family, by_seed in searches.items():
        runs = list(by_seed.values())
        table[family] = {"hypervolume": {c: spread([r["hypervolume"][c] for r in runs]) for c in COSTS},
                         "scored": spread([r["scored"] for r in runs]),
                         "trial_seconds": spread([r["trial_seconds"] for r in runs]),
                         "wall_seconds": spread([r["wall_seconds"] for r in runs])}
    return table


def overlaps(table: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per cost, every pair of families: whether their hypervolume ranges over seeds overlap
    (then the difference of their medians is inside the seed spread); None with one seed."""
    out: dict[str, list[dict[str, Any]]] = {}
    names = list(table)
    for cost in COSTS:
        out[cost] = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                ha, hb = table[a]["hypervolume"][cost], table[b]["hypervolume"][cost]
                measured = len(ha["values"]) > 1 and len(hb["values"]) > 1  # one seed has no spread
                out[cost].append({"a": a, "b": b, "median_diff": ha["median"] - hb["median"],
                                  "overlap": (ha["min"] <= hb["max"] and hb["min"] <= ha["max"]) if measured else None})
    return out


def ownership(pool: pd.DataFrame, cost: str) -> dict[str, Any]:
    """The pooled confirmed front on `cost`: its points, the runs of one architecture family
    along the cost axis, and for each point the other families that tie it (their best
    confirmed accuracy at no higher cost is within `tie_band` of its standard errors)."""
    points = front_points(pool, cost)
    for p in points:
        p["tied_with"] = tied_families(pool, p, cost)
    segments: list[dict[str, Any]] = []
    for p in points:
        if segments and segments[-1]["arch_family"] == p["arch_family"]:
            segments[-1].update(high=p["cost"], points=segments[-1]["points"] + 1,
                                tied_with=sorted(set(segments[-1]["tied_with"]) | set(p["tied_with"])))
        else:
            segments.append({"arch_family": p["arch_family"], "low": p["cost"], "high": p["cost"], "points": 1,
                             "tied_with": list(p["tied_with"])})
    return {"points": points, "segments": segments}


def tied_families(pool: pd.DataFrame, p: dict[str, Any], cost: str) -> list[str]:
    """The other architecture families whose best confirmed point at no higher cost is
    indistinguishable from `p` (accuracy gap within the tie band)."""
    column = cost_objective(cost).column
    tied = []
    for family, group in pool[pool[column] <= p["cost"]].groupby("arch_family"):
        if family == p["arch_family"]:
            continue
        best = group.sort_values(record.CONFIRMED_ACCURACY).iloc[-1]
        band = tie_band(p["confirmed_se"] or 0.0, _finite(best[results.CONFIRMED_SE]) or 0.0)
        if p["confirmed"] - float(best[record.CONFIRMED_ACCURACY]) <= band:
            tied.append(str(family))
    return sorted(tied)


def mixed_owners(searches: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per cost: the architecture families of the mixed searches' confirmed front members
    (how many, over which cost range)."""
    out: dict[str, dict[str, Any]] = {}
    for cost in COSTS:
        members = [p for run in searches.get("mixed", {}).values() for p in run["fronts"][cost]]
        by_family: dict[str, dict[str, Any]] = {}
        for p in members:
            entry = by_family.setdefault(p["arch_family"], {"points": 0, "low": p["cost"], "high": p["cost"]})
            entry.update(points=entry["points"] + 1, low=min(entry["low"], p["cost"]),
                         high=max(entry["high"], p["cost"]))
        out[cost] = by_family
    return out


def noise_figures(pool: pd.DataFrame) -> dict[str, Any]:
    """The confirmations' pooled seed sd, a typical Wilson half-width and proxy-vs-confirmed tau."""
    samples = [s for s in pool[record.CONFIRMED_SAMPLES] if isinstance(s, list)]
    acc, val = float(pool[record.CONFIRMED_ACCURACY].median()), int(pool[record.VAL_SIZE].median())
    low, high = wilson_interval(acc, val)
    figures: dict[str, Any] = {"pooled_seed_sd": _finite(pooled_sd(samples)), "confirmed": int(len(pool)),
                               "val_size": val, "wilson_half_width_at_median": (high - low) / 2,
                               "median_confirmed": acc}
    if len(pool) >= 3:
        tau, t_low, t_high = kendall_tau_bootstrap(pool[record.ACCURACY], pool[record.CONFIRMED_ACCURACY])
        figures["proxy_vs_confirmed_tau"] = {"tau": _finite(tau), "low": _finite(t_low), "high": _finite(t_high)}
    return figures


# --- the demo-sized run -----------------------------------------------------------------
def run_demo(work: Path, trials: int) -> dict[str, Any]:
    """`workbench search --space ghost_family_digits --trials N` with the default workers, timed."""
    url = f"sqlite:///{work / 'demo.db'}"
    command = cli("search", "--space", "ghost_family_digits", "--trials", str(trials), "--storage", url,
                  "--no-progress")
    load = os.getloadavg()[0]
    print(f"demo-sized run: {trials} trials (load {load:.2f})", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"demo-sized search exited {done.returncode}:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    _, frame = results.open_results("ghost_family_digits", url)
    return {"command": "workbench search --space ghost_family_digits --trials " + str(trials), "wall_seconds": wall,
            "goal_seconds": 360.0, "pass": wall < 360.0, "load_start": load, "load_end": os.getloadavg()[0],
            "statuses": results.status_counts(frame), "workers": os.environ.get("WORKBENCH_WORKERS", "auto")}


# --- markdown ---------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    s, env, refs = report["settings"], report["environment"], report["references"]
    lines = ["# Ghost family on digits-hard: V1 vs V2 (DFC) vs RepGhost vs mixed", "",
             f"**{report['condition']}.** Load average (1 min) {env['load_start']:.2f} at the start, "
             f"{env['load_end']:.2f} at the end, on {env['cores']} cores ({env['cpu']}). Every time below is a "
             "loaded figure when so labelled.", "",
             f"Command: `{report['command']}`; wall time {report['wall_seconds'] / 60:.1f} min "
             f"(searches {report['phase_seconds']['searches'] / 60:.1f}, confirmation "
             f"{report['phase_seconds']['confirmation'] / 60:.1f}, demo {report['phase_seconds']['demo'] / 60:.1f}).",
             "",
             f"Each search: `workbench search --timeout {s['timeout']:g} --workers 1 --threads 1 --seed K` "
             f"(K = 0..{s['seeds'] - 1}), {s['jobs']} side by side, one SQLite storage each. Fronts (proxy accuracy "
             f"against MACs, torch-cpu and ort-cpu) confirmed with {s['confirm_seeds']} seeds x "
             f"{s['confirm_epochs']:g} epochs of the space's recipe (`workbench confirm`'s recipe, seed rule and "
             f"record; its defaults, {report['confirm_defaults']['seeds']} seeds x "
             f"{report['confirm_defaults']['epochs']:g} epochs, do not fit this run's time budget).", "",
             "Latency is timed inside each trial (batch 1, one thread, the shipped protocol) while another search "
             "runs beside it: loaded figures, and the latency fronts carry timing noise that no confirmation "
             "removes (how repeatable these targets are on this machine: reports/benchmarks/engines.md).", "",
             f"Hypervolume: confirmed accuracy against each cost, reference point accuracy {refs['accuracy']:.2f}, "
             f"MACs {refs['macs'] / 1e6:.1f}M (the space's budget), torch-cpu {refs['torch-cpu']:.2f} ms and ort-cpu "
             f"{refs['ort-cpu']:.3f} ms (1.1x the slowest confirmed candidate of all searches); divided by the box "
             "from the reference to (accuracy 1, cost 0), so 0 = nothing, 1 = perfect and free.", ""]
    lines += family_markdown(report)
    lines += noise_markdown(report)
    lines += pooled_markdown(report)
    lines += mixed_markdown(report)
    lines += fronts_markdown(report)
    if report.get("demo"):
        d = report["demo"]
        lines += ["## Demo-sized run", "", f"`{d['command']}` (default workers: {d['workers']}): "
                  f"**{d['wall_seconds']:.0f} s** wall ({'loaded, ' if report['loaded'] else ''}load "
                  f"{d['load_start']:.2f} -> {d['load_end']:.2f}); goal under {d['goal_seconds']:.0f} s: "
                  f"{'pass' if d['pass'] else 'FAIL'}. Trials: {_statuses(d['statuses'])}.", ""]
    if report["notes"]:
        lines += ["Notes: " + "; ".join(report["notes"]), ""]
    return "\n".join(lines) + "\n"


def family_markdown(report: dict[str, Any]) -> list[str]:
    lines = ["## Hypervolume per family (median [min-max] over seeds)", "",
             "| family | " + " | ".join(f"HV vs {COST_LABELS[c]}" for c in COSTS) + " | scored trials per search "
             "| trial seconds per search | search wall (s) |", "|" + " --- |" * (len(COSTS) + 4)]
    for family in FAMILIES:
        row = report["families"].get(family.name)
        if row is None:
            continue
        cells = [_spread(row["hypervolume"][c], ".3f") for c in COSTS]
        lines.append(f"| {family.label} | " + " | ".join(cells) + f" | {_spread(row['scored'], '.0f')} | "
                     f"{_spread(row['trial_seconds'], '.0f')} | {_spread(row['wall_seconds'], '.0f')} |")
    lines += ["", "Per seed: " + "; ".join(
        f"{f}: " + ", ".join(f"{c} " + "/".join(f"{v:.3f}" for v in row["hypervolume"][c]["values"]) for c in COSTS)
        for f, row in report["families"].items()), ""]
    return lines


def noise_markdown(report: dict[str, Any]) -> list[str]:
    n = report["noise"]
    lines = ["## What is inside the noise", ""]
    tau = n.get("proxy_vs_confirmed_tau")
    lines.append(f"Confirmations: {n['confirmed']} architectures, pooled seed sd "
                 f"{_pts(n['pooled_seed_sd'])}; one validation measurement of {n['val_size']} images at "
                 f"{100 * n['median_confirmed']:.1f}% has a Wilson 95% half-width of "
                 f"{_pts(n['wilson_half_width_at_median'])}."
                 + (f" Proxy vs confirmed accuracy over them: Kendall tau {tau['tau']:.2f} "
                    f"({_num(tau['low'])} to {_num(tau['high'])})." if tau and tau["tau"] is not None else ""))
    lines += ["", "Family pairs whose hypervolume ranges over seeds overlap (difference inside the seed spread) "
              "or not:", "", "| cost | inside the seed spread | separated |", "| --- | --- | --- |"]
    for cost, pairs in report["overlaps"].items():
        inside = [f"{p['a']}-{p['b']} ({p['median_diff']:+.3f})" for p in pairs if p["overlap"]]
        apart = [f"{p['a']}-{p['b']} ({p['median_diff']:+.3f})" for p in pairs if p["overlap"] is False]
        if all(p["overlap"] is None for p in pairs):
            inside, apart = ["no seed spread measured (one seed)"], []
        lines.append(f"| {COST_LABELS[cost]} | {', '.join(inside) or 'none'} | {', '.join(apart) or 'none'} |")
    return lines + ["", f"With {report['settings']['seeds']} seed(s) per family, a range that does not overlap is "
                    "suggestive, not a significance test.", ""]


def pooled_markdown(report: dict[str, Any]) -> list[str]:
    lines = ["## Who owns the pooled confirmed front (all searches, each architecture once)", "",
             "| cost | owner (architecture family) | cost range | points | tied within noise with |",
             "| --- | --- | --- | --- | --- |"]
    for cost, own in report["pooled"].items():
        for seg in own["segments"]:
            lines.append(f"| {COST_LABELS[cost]} | {seg['arch_family']} | {_cost(seg['low'], cost)} - "
                         f"{_cost(seg['high'], cost)} | {seg['points']} | {', '.join(seg['tied_with']) or 'none'} |")
    return lines + ["", "Tied: another family's best confirmed point at no higher cost is within the tie band "
                    "(1.96 x the standard error of the difference, from the confirmation seeds) of the owner's.", ""]


def mixed_markdown(report: dict[str, Any]) -> list[str]:
    lines = ["## Inside the mixed searches: families of their confirmed front members", "",
             "| cost | family: points (cost range) |", "| --- | --- |"]
    for cost, owners in report["mixed_owners"].items():
        cells = [f"{f}: {e['points']} ({_cost(e['low'], cost)} - {_cost(e['high'], cost)})"
                 for f, e in sorted(owners.items())]
        lines.append(f"| {COST_LABELS[cost]} | {'; '.join(cells) or 'none'} |")
    return lines + [""]


def fronts_markdown(report: dict[str, Any]) -> list[str]:
    lines = ["## Confirmed fronts per search", "",
             "Each point: cost, proxy -> confirmed accuracy (seed sd), architecture family.", ""]
    for family, by_seed in report["searches"].items():
        for seed, run in by_seed.items():
            lines.append(f"- **{family} seed {seed}** ({run['scored']} scored of {run['trials']} trials, "
                         f"{run['confirmed']} confirmed, {run['wall_seconds']:.0f} s):")
            for cost in COSTS:
                pts = ", ".join(f"{_cost(p['cost'], cost)} {100 * p['proxy']:.1f}->{100 * p['confirmed']:.1f}%"
                                f" (sd {_pts(p['confirmed_sd'])}) {p['arch_family']}" for p in run["fronts"][cost])
                lines.append(f"  - {COST_LABELS[cost]}: {pts or 'none'}")
    return lines + [""]


def _spread(s: dict[str, Any], spec: str) -> str:
    return f"{format(s['median'], spec)} [{format(s['min'], spec)}-{format(s['max'], spec)}]"


def _cost(value: float, cost: str) -> str:
    return f"{value / 1e6:.2f}M" if cost == "macs" else f"{value:.3f}ms"


def _pts(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} pts"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# --- main -------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, help=f"search seconds per family and seed (CLI --timeout; "
                        f"default {FULL['timeout']:g}, --quick {QUICK['timeout']:g})")
    parser.add_argument("--seeds", type=int, help=f"sampler seeds per family (default {FULL['seeds']})")
    parser.add_argument("--confirm-seeds", type=int,
                        help=f"seeds per confirmed member (default {FULL['confirm_seeds']})")
    parser.add_argument("--confirm-epochs", type=float, help="epochs per confirmation run (default "
                        f"{FULL['confirm_epochs']:g}; the proxy trains 3)")
    parser.add_argument("--demo-trials", type=int, help="trials of the timed demo-sized run of the shipped space "
                        f"(default {FULL['demo_trials']}, --quick {QUICK['demo_trials']}; 0 skips it)")
    parser.add_argument("--jobs", type=int, default=2, help="searches side by side and confirmation processes "
                        "(default 2)")
    parser.add_argument("--ref-accuracy", type=float, help=f"hypervolume reference accuracy (default {REF_ACCURACY:g}, "
                        "or a point below the lowest confirmed accuracy where that is lower)")
    parser.add_argument("--quick", action="store_true", help="smoke check: 1 seed, 15 s searches, 2 x 1-epoch "
                        "confirmations, no demo (~2 min)")
    parser.add_argument("--loaded", action="store_true", help="label the figures as taken on a loaded machine")
    parser.add_argument("--work", type=Path, help="keep the spaces, studies and logs in this folder (default: a "
                        "temporary folder, removed)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default reports/benchmarks)")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seeds < 1 or args.confirm_seeds < 1 or args.jobs < 1 or args.timeout <= 0 or args.confirm_epochs <= 0:
        parser.error("--seeds, --confirm-seeds and --jobs must be at least 1, --timeout and --confirm-epochs > 0")
    return args


def condition(args: argparse.Namespace, load: float, cores: int) -> tuple[bool, str]:
    """Loaded (the flag, or a load average over half the cores) or quiet; tiny for --quick."""
    loaded = args.loaded or load > 0.5 * cores
    label = "Loaded machine: figures are indicative only" if loaded else "Quiet machine"
    return loaded, label + ("; tiny run (--quick), not the benchmark's size" if args.quick else "")


def measure(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Demo, searches, confirmation and figures, in `work`."""
    phases = {"demo": 0.0}
    if args.demo_trials:
        demo = run_demo(work, args.demo_trials)
        phases["demo"] = demo["wall_seconds"]
    else:
        demo = None
    spaces = write_spaces(work)
    started = time.perf_counter()
    walls = run_searches(spaces, work, args)
    phases["searches"] = time.perf_counter() - started
    started = time.perf_counter()
    notes = run_confirmations(confirm_plan(list(walls), spaces, work, args.confirm_seeds), work, args)
    phases["confirmation"] = time.perf_counter() - started
    frames = load_frames(list(walls), work)
    pool = confirmed_pool(frames)
    max_macs = float(yaml.safe_load(SHIPPED.read_text())["budgets"]["max_macs"])
    refs = references(pool, args, max_macs)
    searches: dict[str, dict[int, dict[str, Any]]] = {}
    for (family, seed), frame in frames.items():
        searches.setdefault(family, {})[seed] = search_figures(frame, walls[(family, seed)], refs)
    table = family_table(searches)
    return {"demo": demo, "phase_seconds": phases, "notes": notes, "references": refs, "searches": searches,
            "families": table, "overlaps": overlaps(table), "pooled": {c: ownership(pool, c) for c in COSTS},
            "mixed_owners": mixed_owners(searches), "noise": noise_figures(pool),
            "spaces": {f.name: {"label": f.label, "ghost": f.ghost or "as shipped",
                                "attention": f.attention or "as shipped"} for f in FAMILIES}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_start, started = os.getloadavg()[0], time.perf_counter()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        figures = measure(args.work.resolve(), args)
    else:
        with tempfile.TemporaryDirectory(prefix="ghost_family_") as folder:
            figures = measure(Path(folder), args)
    load_end, cores = os.getloadavg()[0], os.cpu_count() or 1
    loaded, label = condition(args, max(load_start, load_end), cores)
    report = {
        "command": " ".join(["python", "benchmarks/bench_ghost_family.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "condition": label, "loaded": loaded, "wall_seconds": time.perf_counter() - started,
        "environment": {"cpu": cpu_name(), "cores": cores, "load_start": load_start, "load_end": load_end,
                        "loaded_flag": args.loaded},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "confirm_defaults": {"seeds": DEFAULT_SEEDS, "epochs": default_epochs(load_space(str(SHIPPED)))},
        **figures,
    }
    name = f"{NAME}_quick" if args.quick else NAME
    save_report(args.out, name, report, markdown(report))
    return report


if __name__ == "__main__":
    main()
