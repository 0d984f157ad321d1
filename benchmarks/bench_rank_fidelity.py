"""Does a short proxy run (and do zero-cost proxies) rank architectures like a longer run?

Samples architectures from the CIFAR-style GhostNet space (ratio, dw_size, width, and a
per-stage width tweak), seeded. For each: the zero-cost proxies at initialisation, then a
short and a long proxy training run from the same initialisation on digits. Reports Kendall's
tau between the short run's best validation accuracy and the long run's, and between each
zero-cost proxy and the long run's.

    .venv/bin/python benchmarks/bench_rank_fidelity.py            # 20 archs, 3 vs 15 epochs, 32x32
    .venv/bin/python benchmarks/bench_rank_fidelity.py --quick    # 6 archs, 1 vs 3 epochs, 16x16

Results go to reports/benchmarks/rank_fidelity.json and rank_fidelity.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
from scipy.stats import kendalltau

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.config.arch import ArchConfig  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.models import build_model, get_preset  # noqa: E402
from workbench.training import ZERO_COST_PROXIES, ProxyRecipe, seed_everything, train_proxy, zero_cost_score  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"


def sample_archs(count: int, input_size: int, seed: int) -> list[tuple[dict[str, Any], ArchConfig]]:
    """`count` distinct architectures: global knobs plus one stage scaled by 0.5 or 1.5."""
    rng = random.Random(seed)
    seen: set[tuple[Any, ...]] = set()
    archs = []
    while len(archs) < count:
        knobs = {"ratio": rng.choice([2, 3, 4, 5]), "dw_size": rng.choice([1, 3, 5, 7]),
                 "width": rng.choice([0.25, 0.35, 0.5, 0.75]), "stage": rng.randrange(9),
                 "stage_width": rng.choice([0.5, 1.0, 1.5])}
        key = tuple(knobs.values())
        if key in seen:
            continue
        seen.add(key)
        arch = get_preset("ghostnet_cifar_050", ratio=knobs["ratio"], dw_size=knobs["dw_size"],
                          width=knobs["width"], input_size=input_size)
        stages = [s.model_copy() for s in arch.stages]
        stages[knobs["stage"]] = stages[knobs["stage"]].model_copy(update={"width": knobs["stage_width"]})
        archs.append((knobs, arch.model_copy(update={"stages": stages})))
    return archs


def measure(arch: ArchConfig, data: Any, short: float, long: float, seed: int) -> dict[str, Any]:
    """Zero-cost scores and short/long best validation accuracy of one architecture."""
    seed_everything(seed)
    model = build_model(arch)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    row: dict[str, Any] = {name: zero_cost_score(name, model, data, seed=seed) for name in ZERO_COST_PROXIES}
    for label, epochs in (("short", short), ("long", long)):
        model.load_state_dict(initial)
        result = train_proxy(model, data, ProxyRecipe.for_dataset("digits", epochs=epochs, seed=seed))
        row[f"{label}_best"] = result.best_val_accuracy
        row[f"{label}_seconds"] = round(result.train_seconds, 1)
    return row


def correlations(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Kendall tau of every predictor against the long run's best validation accuracy."""
    target = [r["long_best"] for r in rows]
    taus = {}
    for name in ("short_best", *ZERO_COST_PROXIES):
        tau = kendalltau([r[name] for r in rows], target).statistic
        taus[name] = round(float(tau), 3)
    return taus


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Rank fidelity on digits ({report['archs']} archs, {report['input_size']}px, "
             f"{report['short_epochs']:g} vs {report['long_epochs']:g} epochs)", "",
             "| predictor | Kendall tau vs long-run best val accuracy |", "| --- | --- |"]
    lines += [f"| {name} | {tau} |" for name, tau in report["kendall_tau"].items()]
    lines += ["", "params and macs are raw counts (a positive tau means bigger ranked better)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 archs, 1 vs 3 epochs, 16x16 inputs")
    parser.add_argument("--archs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: the environment's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    count, short, long, size = (6, 1.0, 3.0, 16) if args.quick else (20, 3.0, 15.0, 32)
    count = args.archs or count
    data = load_dataset("digits", input_size=size)
    rows = []
    start = time.perf_counter()
    for index, (knobs, arch) in enumerate(sample_archs(count, size, args.seed)):
        row = {**knobs, **measure(arch, data, short, long, args.seed)}
        rows.append(row)
        print(f"[{index + 1}/{count}] {json.dumps(row)}", flush=True)
    report = {"archs": count, "input_size": size, "short_epochs": short, "long_epochs": long,
              "threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - start, 1),
              "kendall_tau": correlations(rows), "rows": rows}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "rank_fidelity.json").write_text(json.dumps(report, indent=2))
    (OUT_DIR / "rank_fidelity.md").write_text(_markdown(report))
    print(_markdown(report))


if __name__ == "__main__":
    main()
