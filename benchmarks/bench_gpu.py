"""GPU benchmark: latency repeatability, what deploy + CUDA graphs buy, latency per MAC,
proxy-training throughput, the device-resident loop against a DataLoader, and a digits search.

Everything is measured side by side in one run on one CUDA device, whose name is saved with
the figures (reports/benchmarks/gpu.json and gpu.md):

    python benchmarks/bench_gpu.py [--quick] [--search-trials 50] [--out reports/benchmarks]

Targets (issue "CUDA for real"): two latency passes over 12 architectures of the
`ghostnet_cifar` space agree with Kendall tau >= 0.95 and a median relative difference <= 2%;
deploy (BatchNorm folded) + CUDA graphs <= 0.6x eager at batch 1; >= 20,000 training images/s
for `ghostnet_cifar_050` at 32x32 in the best setting; the device-resident loop >= 1.3x a
DataLoader loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import optuna
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau
from torch import nn
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _report import save_report  # noqa: E402

from workbench.data.batching import DeviceBatches, default_padding  # noqa: E402
from workbench.models import build_model, get_preset  # noqa: E402
from workbench.profiling import LatencyProtocol, count_model, measure_latency  # noqa: E402
from workbench.search.arch_sampling import arch_from_params, sample_params  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.space_resolve import base_arch, latency_protocol  # noqa: E402
from workbench.training import ProxyRecipe  # noqa: E402
from workbench.training.loop import AMP_DTYPES, autocast_for, make_optimizer, make_scheduler, train_epoch  # noqa: E402

TARGETS = {"kendall_tau": 0.95, "median_rel_diff": 0.02, "graphs_ratio": 0.6, "images_per_second": 20000.0,
           "resident_speedup": 1.3}


def sampled_archs(space_name: str, count: int, seed: int = 0) -> list[Any]:
    """`count` distinct architectures drawn at random from a space, as its search would build them."""
    space = load_space(space_name)
    base = base_arch(space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    archs, seen = [], set()
    while len(archs) < count:
        trial = study.ask()
        arch = arch_from_params(space, sample_params(trial, space, base), base)
        study.tell(trial, 0.0)
        key = arch.model_dump_json()
        if key not in seen:
            seen.add(key)
            archs.append(arch)
    return archs


def bench_repeatability(count: int) -> dict[str, Any]:
    """Two passes of the space's own protocol (resolved to CUDA, so CUDA graphs on) over the
    same architectures, and the same two passes without graphs for contrast."""
    protocol = latency_protocol(load_space("ghostnet_cifar"), "cuda")
    archs = sampled_archs("ghostnet_cifar", count)
    models = [build_model(a) for a in archs]
    report = {"protocol": protocol.to_dict(), "archs": count, "macs": [count_model(m, a).macs for m, a in zip(models, archs)]}
    for label, variant in (("", protocol), ("eager_", replace(protocol, cuda_graphs=False))):
        passes, noisy = [], 0
        started = time.perf_counter()
        for _ in range(2):
            results = [measure_latency(m, a, variant) for m, a in zip(models, archs)]
            passes.append([r.p50_ms for r in results])
            noisy += sum(r.noisy for r in results)
        tau = float(kendalltau(passes[0], passes[1]).statistic)
        median_rel = statistics.median(abs(a - b) / min(a, b) for a, b in zip(*passes))
        report.update({f"{label}p50_ms_pass1": passes[0], f"{label}p50_ms_pass2": passes[1], f"{label}kendall_tau": tau,
                       f"{label}median_rel_diff": median_rel, f"{label}noisy_measurements": noisy,
                       f"{label}seconds": time.perf_counter() - started})
    report["pass"] = report["kendall_tau"] >= TARGETS["kendall_tau"] and report["median_rel_diff"] <= TARGETS["median_rel_diff"]
    return report


MODES: dict[str, dict[str, Any]] = {
    "eager": dict(mode="eager"), "deploy": dict(mode="deploy"),
    "eager+graphs": dict(mode="eager", cuda_graphs=True), "deploy+graphs": dict(mode="deploy", cuda_graphs=True),
}


def bench_modes(presets: list[str], rounds: int, batch_size: int = 1) -> dict[str, Any]:
    """Eager, BN-folded and CUDA-graph latency, interleaved round by round so drift hits all alike."""
    rows = []
    for name in presets:
        arch = get_preset(name)
        model = build_model(arch)
        base = LatencyProtocol(device="cuda", batch_size=batch_size, warmup=10, repeats=50, max_seconds=2.0)
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(rounds):
            for mode, change in MODES.items():
                times[mode].append(measure_latency(model, arch, replace(base, **change)).p50_ms)
        medians = {mode: statistics.median(values) for mode, values in times.items()}
        rows.append({"preset": name, "input_size": arch.input_size, "batch_size": batch_size, "p50_ms": medians,
                     "deploy_graphs_vs_eager": medians["deploy+graphs"] / medians["eager"],
                     "pass": medians["deploy+graphs"] / medians["eager"] <= TARGETS["graphs_ratio"]})
    return {"rounds": rounds, "rows": rows}


def bench_latency_per_mac(batch_sizes: tuple[int, ...] = (1, 64)) -> dict[str, Any]:
    """GhostNet 1.0x at 224 next to ResNet-56 at an input size giving similar MACs."""
    rows = []
    for arch in (get_preset("ghostnet_100"), get_preset("resnet56_cifar", input_size=34)):
        model = build_model(arch)
        macs = count_model(model, arch).macs
        for batch in batch_sizes:
            for graphs in (False, True):
                protocol = LatencyProtocol(device="cuda", batch_size=batch, cuda_graphs=graphs, warmup=10, repeats=50)
                p50 = measure_latency(model, arch, protocol).p50_ms
                rows.append({"name": arch.name, "input_size": arch.input_size, "batch_size": batch, "cuda_graphs": graphs,
                             "macs_per_image": macs, "p50_ms": p50, "ps_per_mac": p50 * 1e9 / (macs * batch)})
    return {"rows": rows}


def synthetic_cifar(count: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-shaped normalised images and labels: throughput does not depend on their content."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(count, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (count,), generator=generator)
    return x.to(device), y.to(device)


def _images_per_second(model: nn.Module, batches: Callable[[int], Any], recipe: ProxyRecipe, steps: int) -> float:
    """Train up to `steps` steps (one epoch at most) after a warm-up (cuDNN autotuning, allocator),
    synchronised at both ends; images trained per second."""
    device = torch.device("cuda")
    autocast, _ = autocast_for(device, recipe.amp)
    scaler = torch.amp.GradScaler("cuda") if recipe.amp == "fp16" else None
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe, steps + 20)
    loss_fn = nn.CrossEntropyLoss()
    train_epoch(model, batches(20), optimizer, scheduler, loss_fn, autocast=autocast, scaler=scaler, check_every=25)
    torch.cuda.synchronize()
    started = time.perf_counter()
    _, seen = train_epoch(model, batches(steps), optimizer, scheduler, loss_fn, autocast=autocast, scaler=scaler, check_every=25)
    torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


SETTINGS = [
    dict(amp="none", channels_last=False), dict(amp="none", channels_last=True),
    dict(amp="bf16", channels_last=False), dict(amp="bf16", channels_last=True),
]


def bench_training(batch_sizes: tuple[int, ...], steps: int) -> dict[str, Any]:
    """Images/s of `ghostnet_cifar_050` at 32x32 with the device-resident loop, per setting."""
    x, y = synthetic_cifar(50_000, "cuda")
    arch = get_preset("ghostnet_cifar_050")
    rows = []
    # cudnn.benchmark off only for the fp32 baseline: channels_last depthwise convs need autotuning.
    runs = [(False, batch_sizes[0], SETTINGS[0])] + [(True, b, s) for b in batch_sizes for s in SETTINGS]
    for benchmark_flag, batch, setting in runs:
        torch.backends.cudnn.benchmark = benchmark_flag
        recipe = ProxyRecipe(batch_size=batch, lr=0.05, **setting)
        torch.manual_seed(0)
        model = build_model(arch).cuda()
        xs = x.contiguous(memory_format=torch.channels_last) if setting["channels_last"] else x
        if setting["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        feed = DeviceBatches(xs, y, batch, augment=True, flip=True, seed=0, channels_last=setting["channels_last"])
        rate = _images_per_second(model, feed.epoch, recipe, steps)
        rows.append({"batch_size": batch, "cudnn_benchmark": benchmark_flag, **setting, "images_per_second": rate})
        print(f"  train b{batch} {setting} cudnn.benchmark={benchmark_flag}: {rate:,.0f} img/s", flush=True)
    torch.backends.cudnn.benchmark = False
    best = max(rows, key=lambda r: r["images_per_second"])
    fp32 = next(r for r in rows if r["batch_size"] == best["batch_size"] and r["cudnn_benchmark"] == best["cudnn_benchmark"]
                and r["amp"] == "none" and not r["channels_last"])
    return {"preset": arch.name, "rows": rows, "best": best, "best_vs_fp32": best["images_per_second"] / fp32["images_per_second"],
            "pass": best["images_per_second"] >= TARGETS["images_per_second"]}


class _CropDataset(torch.utils.data.Dataset):
    """The usual per-sample augmentation on the host: pad, random crop, random flip."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, pad: int) -> None:
        self.x, self.y, self.pad = x, y, pad

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = F.pad(self.x[index], (self.pad,) * 4)
        top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
        image = image[:, top:top + 32, left:left + 32]
        return (image.flip(-1) if torch.rand(()) < 0.5 else image), self.y[index]


def bench_resident_vs_loader(batch: int, steps: int, workers: tuple[int, ...]) -> dict[str, Any]:
    """The same model, recipe and step, fed by device-resident batches or by DataLoaders."""
    torch.backends.cudnn.benchmark = True
    recipe = ProxyRecipe(batch_size=batch, lr=0.05, amp="bf16", channels_last=True)
    arch = get_preset("ghostnet_cifar_050")
    x, y = synthetic_cifar(50_000, "cpu")

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return build_model(arch).cuda().to(memory_format=torch.channels_last)

    gx, gy = x.cuda().contiguous(memory_format=torch.channels_last), y.cuda()
    resident = DeviceBatches(gx, gy, batch, augment=True, flip=True, seed=0, channels_last=True)
    rates = {"device-resident": _images_per_second(fresh(), resident.epoch, recipe, steps)}
    for count in workers:
        loader = DataLoader(_CropDataset(x, y, default_padding(32)), batch_size=batch, shuffle=True, drop_last=True,
                            num_workers=count, pin_memory=True, persistent_workers=count > 0)

        def feed(n: int, loader: DataLoader = loader) -> Any:
            for step, (images, labels) in enumerate(loader):
                if step >= n:
                    break
                yield (images.cuda(non_blocking=True).contiguous(memory_format=torch.channels_last),
                       labels.cuda(non_blocking=True))

        rates[f"DataLoader, {count} workers"] = _images_per_second(fresh(), feed, recipe, steps)
        print(f"  loader workers={count}: {rates[f'DataLoader, {count} workers']:,.0f} img/s", flush=True)
    torch.backends.cudnn.benchmark = False
    best_loader = max(v for k, v in rates.items() if k != "device-resident")
    return {"batch_size": batch, "setting": "bf16, channels_last, cudnn.benchmark", "images_per_second": rates,
            "speedup_vs_best_loader": rates["device-resident"] / best_loader,
            "pass": rates["device-resident"] / best_loader >= TARGETS["resident_speedup"]}


def bench_search_on_gpu(trials: int) -> dict[str, Any]:
    """`workbench search --space digits --trials N` on this machine (the space picks CUDA itself)."""
    from bench_search import bench_demo

    return bench_demo(trials)


def markdown(report: dict[str, Any]) -> str:
    """The figures as a markdown page."""
    rep, modes, per_mac, train, loader = (report[k] for k in ("repeatability", "modes", "latency_per_mac", "training", "loader"))
    lines = [f"# GPU benchmark on {report['device_name']}", "",
             f"torch {report['torch']}, CUDA {report['cuda']}, driver-visible memory {report['memory_gib']:.0f} GiB"
             f"{' (quick run)' if report['quick'] else ''}. Command: `python benchmarks/bench_gpu.py`.", "",
             "| figure | value | target |", "| --- | --- | --- |",
             f"| latency repeatability, {rep['archs']} `ghostnet_cifar` archs, Kendall tau | {rep['kendall_tau']:.3f} | >= {TARGETS['kendall_tau']} |",
             f"| latency repeatability, median relative difference | {rep['median_rel_diff']:.2%} | <= {TARGETS['median_rel_diff']:.0%} |",
             f"| the same without CUDA graphs: tau / median relative difference | {rep['eager_kendall_tau']:.3f} / "
             f"{rep['eager_median_rel_diff']:.2%} | |"]
    for row in modes["rows"]:
        lines.append(f"| deploy + CUDA graphs / eager, {row['preset']} at batch {row['batch_size']} | "
                     f"{row['deploy_graphs_vs_eager']:.2f}x | <= {TARGETS['graphs_ratio']}x |")
    lines += [f"| proxy training, best setting ({_setting(train['best'])}) | {train['best']['images_per_second']:,.0f} images/s | "
              f">= {TARGETS['images_per_second']:,.0f} |",
              f"| best setting / fp32 (same batch) | {train['best_vs_fp32']:.2f}x | |",
              f"| device-resident / best DataLoader (batch {loader['batch_size']}) | {loader['speedup_vs_best_loader']:.2f}x | "
              f">= {TARGETS['resident_speedup']}x |"]
    if report.get("search"):
        search = report["search"]
        over = search["overhead"]
        lines.append(f"| `{search['command']}` wall time | {search['wall_seconds']:.0f} s | |")
        lines.append(f"| share of trained-trial time not spent training | {over['overhead_share']:.1%} | |")
    lines += ["", "## Latency by mode (p50 ms, medians of rounds)", "", "| preset | batch | " + " | ".join(MODES) + " |",
              "| --- | --- |" + " --- |" * len(MODES)]
    lines += [f"| {r['preset']} | {r['batch_size']} | " + " | ".join(f"{r['p50_ms'][m]:.3f}" for m in MODES) + " |" for r in modes["rows"]]
    lines += ["", "## Latency per MAC (the 'FLOPs lie' figure)", "", "| model | input | batch | CUDA graphs | MACs/image | p50 ms | ps per MAC |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['name']} | {r['input_size']} | {r['batch_size']} | {r['cuda_graphs']} | {r['macs_per_image'] / 1e6:.1f}M | "
              f"{r['p50_ms']:.3f} | {r['ps_per_mac']:.2f} |" for r in per_mac["rows"]]
    lines += ["", "## Proxy-training throughput, ghostnet_cifar_050 at 32x32", "", "| batch | cudnn.benchmark | amp | channels_last | images/s |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['batch_size']} | {r['cudnn_benchmark']} | {r['amp']} | {r['channels_last']} | {r['images_per_second']:,.0f} |"
              for r in train["rows"]]
    lines += ["", "## Feeding the GPU", "", "| loop | images/s |", "| --- | --- |"]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in loader["images_per_second"].items()]
    lines += ["", f"Latency repeatability protocol: {rep['protocol']}; per architecture p50 ms, pass 1: "
              f"{', '.join(f'{v:.3f}' for v in rep['p50_ms_pass1'])}; pass 2: {', '.join(f'{v:.3f}' for v in rep['p50_ms_pass2'])}.", ""]
    return "\n".join(lines)


def _setting(row: dict[str, Any]) -> str:
    return f"batch {row['batch_size']}, amp {row['amp']}, channels_last {row['channels_last']}, cudnn.benchmark {row['cudnn_benchmark']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps, 3 search trials")
    parser.add_argument("--search-trials", type=int, default=50, help="trials of the digits search (0: skip it)")
    parser.add_argument("--out", default="reports/benchmarks", help="output folder")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quick = args.quick
    report: dict[str, Any] = {
        "device_name": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "memory_gib": torch.cuda.get_device_properties(0).total_memory / 2**30, "quick": quick, "targets": TARGETS,
        "amp_dtypes": list(AMP_DTYPES),
    }
    steps = 30 if quick else 100
    for name, run in (
        ("repeatability", lambda: bench_repeatability(12)),
        ("modes", lambda: bench_modes(["ghostnet_cifar_050", "ghostnet_100"], 2 if quick else 3)),
        ("latency_per_mac", bench_latency_per_mac),
        ("training", lambda: bench_training((128, 512, 2048), steps)),
        ("loader", lambda: bench_resident_vs_loader(1024, steps, (0, 8))),
    ):
        started = time.perf_counter()
        report[name] = run()
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu.partial.json").write_text(json.dumps(report, indent=2, default=str))
    trials = 3 if quick else args.search_trials
    report["search"] = bench_search_on_gpu(trials) if trials > 0 else None
    save_report(args.out, "gpu", report, markdown(report))


if __name__ == "__main__":
    main()
