"""Once-for-all supernet on `search_spaces/digits_per_stage.yaml`: rank fidelity and cost per trial.

Trains (or reuses) the space's supernet, draws N distinct architectures of the space within its
MACs budget, and scores each four ways: inherited from the supernet (BatchNorm recalibrated, no
training), the 3-epoch proxy the search would otherwise train, a longer standalone training (the
reference), and MACs. Reports Kendall's tau of each scorer against the reference with a 95%
bootstrap interval (`workbench.stats.kendall_tau_bootstrap`, scipy's tau-b), the seconds of a
supernet trial's scoring against a proxy trial's training, and the supernet's training time. The
machine's load average is recorded before and after (figures measured under load are labelled so).

    python benchmarks/bench_supernet.py                       # the issue's sizes: 30 archs, 15 epochs
    python benchmarks/bench_supernet.py --archs 10 --ref-epochs 8 --supernet-epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import save_report  # noqa: E402

from workbench.models import build_model  # noqa: E402
from workbench.profiling import count_model  # noqa: E402
from workbench.search.arch_sampling import arch_from_params  # noqa: E402
from workbench.search.dedupe import arch_hash  # noqa: E402
from workbench.search.scoring import train_candidate  # noqa: E402
from workbench.search.space_resolve import resolve_space  # noqa: E402
from workbench.search.supernet_cover import random_params  # noqa: E402
from workbench.search.supernet_run import load_space_to_train, train_space_supernet  # noqa: E402
from workbench.search.threads import set_torch_threads  # noqa: E402
from workbench.search.workers import load_search_data  # noqa: E402
from workbench.stats import kendall_tau_bootstrap  # noqa: E402
from workbench.supernet.accuracy import score_inherited  # noqa: E402

SPACE = "digits_per_stage"


def draw_archs(space: Any, base: Any, count: int, seed: int, max_macs: float | None) -> list[dict[str, Any]]:
    """`count` distinct architectures of the space (by arch hash) within its MACs budget."""
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < count:
        params = random_params(space, base, rng)
        arch = arch_from_params(space, params, base)
        _, digest = arch_hash(arch)
        if digest in seen:
            continue
        seen.add(digest)
        macs = count_model(build_model(arch), arch).macs
        if max_macs is None or macs <= max_macs:
            out.append({"params": params, "arch": arch, "macs": int(macs)})
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    set_torch_threads(1)
    load_before = os.getloadavg()
    space = load_space_to_train(SPACE)
    resolved = resolve_space(space, device="cpu")
    data = load_search_data(resolved)
    base = resolved.fitted_to(data).base
    recipe = resolved.recipe
    started, cpu_started = time.perf_counter(), time.process_time()
    train_space_supernet(space, args.supernet, epochs=args.supernet_epochs, progress=False, randoms=args.randoms,
                         on_epoch=lambda e: print(f"supernet epoch {e['epoch']}: largest {e['largest_accuracy']:.3f} "
                                                  f"smallest {e['smallest_accuracy']:.3f} ({e['seconds']:.0f} s)"))
    supernet_s, supernet_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    rows = []
    earlier = json.loads(args.reference_from.read_text())["rows"] if args.reference_from else None
    for index, item in enumerate(draw_archs(space, base, args.archs, args.seed, space.budgets.max_macs)):
        if earlier is not None:  # the same draw: only the supernet's figures are new
            old = earlier[index]
            assert old["params"] == item["params"], "--reference-from holds another draw (archs or seed differ)"
            tick = time.perf_counter()
            inherited, _ = score_inherited(args.supernet, item["arch"], data, recipe, [args.seed + index])
            rows.append({**old, "inherited": inherited[0], "inherited_seconds": time.perf_counter() - tick})
            print(f"arch {index + 1}/{args.archs}: inherited {inherited[0]:.3f}, reference {old['reference']:.3f}")
            continue
        seed = args.seed + index
        tick = time.perf_counter()
        inherited, _ = score_inherited(args.supernet, item["arch"], data, recipe, [seed])
        inherited_s = time.perf_counter() - tick
        tick = time.perf_counter()
        proxy = train_candidate(recipe.model_copy(update={"epochs": args.proxy_epochs}), item["arch"], data, seed)
        proxy_s = time.perf_counter() - tick
        reference = train_candidate(recipe.model_copy(update={"epochs": args.ref_epochs}), item["arch"], data, seed)
        rows.append({"params": item["params"], "macs": item["macs"], "inherited": inherited[0],
                     "proxy": proxy.val_accuracy, "reference": reference.val_accuracy,
                     "inherited_seconds": inherited_s, "proxy_seconds": proxy_s})
        print(f"arch {index + 1}/{args.archs}: MACs {item['macs']:,}, inherited {inherited[0]:.3f} "
              f"({inherited_s:.1f} s), proxy {proxy.val_accuracy:.3f} ({proxy_s:.1f} s), "
              f"reference {reference.val_accuracy:.3f}")
    target = [r["reference"] for r in rows]
    taus = {name: kendall_tau_bootstrap([r[name] for r in rows], target) for name in ("inherited", "proxy", "macs")}
    mean_inherited = sum(r["inherited_seconds"] for r in rows) / len(rows)
    mean_proxy = sum(r["proxy_seconds"] for r in rows) / len(rows)
    report = {
        "space": SPACE, "archs": args.archs, "reference_epochs": args.ref_epochs, "proxy_epochs": args.proxy_epochs,
        "supernet_epochs": args.supernet_epochs, "supernet_file": str(args.supernet), "seed": args.seed,
        "randoms": args.randoms, "reference_from": str(args.reference_from) if args.reference_from else None,
        "torch_threads": 1, "load_before": load_before, "load_after": os.getloadavg(),
        "supernet_train_seconds": supernet_s, "supernet_train_cpu_seconds": supernet_cpu_s,
        "tau": {name: {"tau": t, "low": low, "high": high} for name, (t, low, high) in taus.items()},
        "seconds_per_trial": {"inherited": mean_inherited, "proxy": mean_proxy,
                              "ratio": mean_inherited / mean_proxy},
        "rows": rows,
    }
    save_report(args.out, args.name, report, markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    load = ", ".join(f"{value:.1f}" for value in report["load_before"])
    load_after = ", ".join(f"{value:.1f}" for value in report["load_after"])
    lines = [
        f"# Supernet rank fidelity and cost ({report['space']})", "",
        f"{report['archs']} architectures within the MACs budget; reference = standalone training for "
        f"{report['reference_epochs']:g} epochs (1 seed); supernet trained {report['supernet_epochs']} epochs by the "
        f"sandwich rule with {report['randoms']} random subnets a step ({report['supernet_train_seconds']:.0f} s wall, "
        f"{report['supernet_train_cpu_seconds']:.0f} s "
        f"CPU); one torch thread. Measured under load: load average {load} before, {load_after} after.", "",
        "| scorer | Kendall tau vs reference | 95% bootstrap interval |", "| --- | --- | --- |",
    ]
    names = {"inherited": "inherited from the supernet", "proxy": f"{report['proxy_epochs']:g}-epoch proxy",
             "macs": "MACs"}
    for key, label in names.items():
        tau = report["tau"][key]
        lines.append(f"| {label} | {tau['tau']:.2f} | {tau['low']:.2f} .. {tau['high']:.2f} |")
    speed = report["seconds_per_trial"]
    lines += ["", f"Seconds per trial's accuracy: inherited {speed['inherited']:.2f} s, "
                  f"{report['proxy_epochs']:g}-epoch proxy {speed['proxy']:.2f} s "
                  f"(ratio {100 * speed['ratio']:.1f}%).", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--ref-epochs", type=float, default=15.0)
    parser.add_argument("--proxy-epochs", type=float, default=3.0)
    parser.add_argument("--supernet-epochs", type=int, default=20)
    parser.add_argument("--supernet", type=Path, default=Path("reports/supernets/digits_per_stage.pt"),
                        help="the supernet file (trained, resumed or reused)")
    parser.add_argument("--randoms", type=int, default=2, help="random subnets per sandwich step")
    parser.add_argument("--reference-from", type=Path, help="reuse the proxy and reference figures of an earlier "
                                                            "report's JSON (same --archs and --seed)")
    parser.add_argument("--name", default="supernet", help="report name under --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
