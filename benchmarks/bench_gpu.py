"""GPU benchmark: graph-protocol latency repeatability, GPU clock state, graphed-step training
throughput and a 50-trial digits search, each section under a time cap so the whole run fits
one device call (benchmarks/gpu_check.sh runs it with the tests in at most 9 minutes).

    python benchmarks/bench_gpu.py [--budget 300] [--search-trials 50] [--cpu-search FILE] [--out DIR]
    python benchmarks/bench_gpu.py --dry-run --out /tmp/x   # every section at toy sizes on the CPU

Figures go to DIR/gpu.json and gpu.md (default reports/benchmarks), with the device name; a
dry run writes gpu_dryrun.json/.md instead and never touches the measured report. Without CUDA
(and without --dry-run) it prints what it skips and exits 0. Sections that were measured before
and are not re-run here (latency by mode, latency per MAC, DataLoader comparison: `--sections
modes,latency_per_mac,loader` re-runs them) are carried over from the previous gpu.json with the
name of the GPU they came from.

Targets (issue 22): two graph-protocol latency passes over >= 20 `ghostnet_cifar` architectures
agree with Kendall tau >= 0.95 and a median relative difference <= 2%, at batch 1, 64 and 256;
>= 20,000 training images/s for `ghostnet_cifar_050` at 32x32 (previous best 13.9k, eager).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
import torch
import torch.nn.functional as F
import yaml
from scipy.stats import kendalltau
from torch import nn
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _report import save_report  # noqa: E402

from workbench import record  # noqa: E402
from workbench.data.batching import DeviceBatches, default_padding  # noqa: E402
from workbench.models import build_model, get_preset  # noqa: E402
from workbench.profiling import LatencyProtocol, count_model, measure_latency  # noqa: E402
from workbench.search.arch_sampling import arch_from_params, sample_params  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.space_resolve import base_arch, latency_protocol  # noqa: E402
from workbench.training import ProxyRecipe  # noqa: E402
from workbench.training.graphed import GraphedStep, graph_autocast  # noqa: E402
from workbench.training.loop import autocast_for, make_optimizer, make_scheduler, train_epoch  # noqa: E402

TARGETS = {"kendall_tau": 0.95, "median_rel_diff": 0.02, "graphs_ratio": 0.6, "images_per_second": 20000.0,
           "resident_speedup": 1.3}
SECTIONS = ("clock", "repeatability", "training", "search")
CARRIED = ("modes", "latency_per_mac", "loader")


class Deadline:
    """A section's time cap: `left()` seconds remain; `over()` once they are spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.end = seconds, time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()

    def over(self) -> bool:
        return self.left() <= 0


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def gpu_clock_state() -> dict[str, Any]:
    """What `nvidia-smi` says of clocks, throttling, power and temperature (absent: says so)."""
    if shutil.which("nvidia-smi") is None:
        return {"available": False, "reason": "nvidia-smi not found"}
    fields = ["name", "clocks.sm", "clocks.max.sm", "clocks.mem", "clocks.max.mem", "clocks.applications.graphics",
              "clocks_throttle_reasons.active", "power.draw", "power.limit", "temperature.gpu", "persistence_mode",
              "compute_mode", "utilization.gpu"]
    result = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return {"available": False, "reason": result.stderr.strip()[-300:] or f"exit {result.returncode}"}
    values = [v.strip() for v in result.stdout.strip().splitlines()[0].split(",")]
    return {"available": True, **dict(zip(fields, values))}


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


def _two_passes(models: list[nn.Module], archs: list[Any], protocol: LatencyProtocol,
                deadline: Deadline) -> dict[str, Any]:
    """Two passes of `protocol` over the same architectures; tau and median difference over
    those measured in both passes before `deadline`."""
    passes: list[list[float]] = [[], []]
    noisy, started = 0, time.perf_counter()
    for index in range(2):
        for model, arch in zip(models, archs):
            if deadline.over() or (index == 1 and len(passes[1]) >= len(passes[0])):
                break
            result = measure_latency(model, arch, protocol)
            passes[index].append(result.p50_ms)
            noisy += int(result.noisy)
    done = min(len(passes[0]), len(passes[1]))
    first, second = passes[0][:done], passes[1][:done]
    tau = float(kendalltau(first, second).statistic) if done >= 3 else float("nan")
    median_rel = statistics.median(abs(a - b) / min(a, b) for a, b in zip(first, second)) if done else float("nan")
    return {"batch_size": protocol.batch_size, "cuda_graphs": protocol.cuda_graphs, "archs_measured": done,
            "archs_planned": len(archs), "complete": done == len(archs), "p50_ms_pass1": first, "p50_ms_pass2": second,
            "kendall_tau": tau, "median_rel_diff": median_rel, "noisy_measurements": noisy,
            "seconds": time.perf_counter() - started,
            "pass": done == len(archs) and tau >= TARGETS["kendall_tau"] and median_rel <= TARGETS["median_rel_diff"]}


def bench_repeatability(count: int, batch_sizes: tuple[int, ...], device: str, deadline: Deadline,
                        toy: bool = False) -> dict[str, Any]:
    """The `ghostnet_cifar` space's own protocol (on CUDA: a replayed CUDA graph), two passes per
    batch size over the same architectures; at batch 1 also without graphs, for contrast."""
    protocol = latency_protocol(load_space("ghostnet_cifar"), device)
    assert protocol is not None
    if toy:
        protocol = replace(protocol, warmup=1, repeats=3, max_seconds=0.05)
    archs = sampled_archs("ghostnet_cifar", count)
    models = [build_model(a) for a in archs]
    report: dict[str, Any] = {"protocol": protocol.to_dict(), "archs": count, "device": device,
                              "macs": [count_model(m, a).macs for m, a in zip(models, archs)], "rows": []}
    plans = [replace(protocol, batch_size=b) for b in batch_sizes]
    if protocol.cuda_graphs:
        plans.append(replace(protocol, batch_size=batch_sizes[0], cuda_graphs=False))
    for position, plan in enumerate(plans):
        # An equal share of what is left for each remaining batch size, so a slow one cannot starve the rest.
        share = Deadline(deadline.left() / (len(plans) - position))
        row = _two_passes(models, archs, plan, share)
        report["rows"].append(row)
        print(f"  repeatability b{plan.batch_size} graphs={plan.cuda_graphs}: tau {row['kendall_tau']:.3f}, "
              f"median diff {row['median_rel_diff']:.2%} over {row['archs_measured']}/{count} archs", flush=True)
    graphed = [r for r in report["rows"] if r["cuda_graphs"] == protocol.cuda_graphs]
    report["pass"] = bool(graphed) and all(r["pass"] for r in graphed)
    return report


def synthetic_cifar(count: int, device: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-shaped normalised images and labels: throughput does not depend on their content."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(count, 3, size, size, generator=generator)
    y = torch.randint(0, 10, (count,), generator=generator)
    return x.to(device), y.to(device)


def _full_batches(batches: DeviceBatches, steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` batches, running over as many epochs as it takes (the data hold whole batches only)."""
    while steps > 0:
        for batch in batches.epoch(min(steps, len(batches))):
            yield batch
            steps -= 1


def train_rate(batch: int, amp: str, graphed: bool, steps: int, warmup: int, device: str,
               images: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """Images/s of `ghostnet_cifar_050` on device-resident, augmented, channels_last batches,
    after `warmup` steps (cuDNN autotuning, allocator, the graph's own warm-up and capture)."""
    dev = torch.device(device)
    recipe = ProxyRecipe(batch_size=batch, lr=0.05, amp=amp, channels_last=True)
    torch.manual_seed(0)
    model = build_model(get_preset("ghostnet_cifar_050")).to(dev).to(memory_format=torch.channels_last)
    x, y = images
    feed = DeviceBatches(x, y, batch, augment=True, flip=True, seed=0, channels_last=True)
    optimizer = make_optimizer(model, recipe, graph_safe=graphed)
    scheduler = make_scheduler(optimizer, recipe, warmup + steps)
    loss_fn = nn.CrossEntropyLoss()
    autocast, _ = autocast_for(dev, amp)
    step = GraphedStep(model, optimizer, loss_fn, autocast=graph_autocast(dev, amp)) if graphed else None
    check = 25 if device == "cuda" else 1
    train_epoch(model, _full_batches(feed, warmup), optimizer, scheduler, loss_fn, autocast=autocast,
                check_every=check, train_step=step)
    _sync(device)
    started = time.perf_counter()
    loss, seen = train_epoch(model, _full_batches(feed, steps), optimizer, scheduler, loss_fn, autocast=autocast,
                             check_every=check, train_step=step)
    _sync(device)
    seconds = time.perf_counter() - started
    return {"batch_size": batch, "amp": amp, "channels_last": True, "graphed": graphed,
            "images_per_second": seen / seconds, "ms_per_step": seconds * 1e3 / steps, "steps": steps,
            "replays": step.replays if step else 0, "final_loss": loss}


def bench_training(batch_sizes: tuple[int, ...], amps: tuple[str, ...], steps: int, warmup: int, device: str,
                   deadline: Deadline, size: int = 32) -> dict[str, Any]:
    """Eager and graphed step side by side at each batch size and precision, channels_last,
    cudnn.benchmark on; runs not started before the deadline are listed as skipped."""
    torch.backends.cudnn.benchmark = device == "cuda"
    count = max(batch_sizes) * max(2, 51_200 // max(batch_sizes)) if device == "cuda" else max(batch_sizes) * 4
    x, y = synthetic_cifar(count, device, size)
    images = (x.contiguous(memory_format=torch.channels_last), y)
    rows, skipped = [], []
    for batch in batch_sizes:
        for amp in amps:
            for graphed in (False, True):
                if deadline.over():
                    skipped.append({"batch_size": batch, "amp": amp, "graphed": graphed})
                    continue
                try:
                    row = train_rate(batch, amp, graphed, steps, warmup, device, images)
                except Exception as error:  # an OOM or a capture failure is a figure too
                    row = {"batch_size": batch, "amp": amp, "graphed": graphed, "images_per_second": None,
                           "error": f"{type(error).__name__}: {str(error)[:300]}"}
                rows.append(row)
                rate = row["images_per_second"]
                print(f"  train b{batch} {amp} graphed={graphed}: "
                      f"{f'{rate:,.0f} img/s' if rate else row.get('error')}", flush=True)
    torch.backends.cudnn.benchmark = False
    measured = [r for r in rows if r.get("images_per_second")]
    best = max(measured, key=lambda r: r["images_per_second"]) if measured else None
    speedups = []
    for row in measured:
        if row["graphed"]:
            eager = next((r for r in measured if not r["graphed"] and r["batch_size"] == row["batch_size"]
                          and r["amp"] == row["amp"]), None)
            if eager:
                speedups.append({"batch_size": row["batch_size"], "amp": row["amp"],
                                 "graphed_vs_eager": row["images_per_second"] / eager["images_per_second"]})
    return {"preset": "ghostnet_cifar_050", "input_size": size, "device": device, "rows": rows, "skipped": skipped,
            "complete": not skipped, "best": best, "graphed_vs_eager": speedups,
            "pass": bool(best) and best["images_per_second"] >= TARGETS["images_per_second"]}


def toy_space(folder: Path) -> Path:
    """The digits space cut to toy size for the CPU dry run: a fifth of an epoch, no seed-noise runs."""
    space = yaml.safe_load((REPO / "search_spaces" / "digits.yaml").read_text())
    space["name"] = "digits_dryrun"
    space["recipe"] = {**space.get("recipe", {}), "epochs": 0.2}
    space.pop("noise", None)
    path = folder / "digits_dryrun.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def bench_search(trials: int, device: str, deadline: Deadline, cpu_figures: dict[str, Any] | None,
                 toy: bool = False) -> dict[str, Any]:
    """`workbench search --space digits --trials N --device DEVICE` in a fresh folder, stopped by
    its own --timeout at the deadline; wall time, share outside training, trials/min, the front."""
    from workbench.results import pareto_front, study_objectives, trials_frame
    from workbench.storage import open_storage

    with tempfile.TemporaryDirectory(prefix="wb-gpu-search-") as tmp:
        space = str(toy_space(Path(tmp))) if toy else "digits"
        timeout = max(10, int(deadline.left()) - 30)  # 30 s for start-up and the closing noise runs' tail
        command = [sys.executable, "-m", "workbench", "search", "--space", space, "--trials", str(trials),
                   "--device", device, "--timeout", str(timeout), "--no-progress"]
        started = time.perf_counter()
        try:
            result = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=deadline.left() + 60)
        except subprocess.TimeoutExpired:
            return {"command": " ".join(command[3:]), "error": "killed at the section's deadline", "complete": False}
        wall = time.perf_counter() - started
        if result.returncode != 0:
            return {"command": " ".join(command[3:]), "error": result.stderr[-2000:], "complete": False}
        storage = open_storage(f"sqlite:///{tmp}/workbench.db")
        study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
        frame = trials_frame(study)
        objectives = study_objectives(study)
        front = pareto_front(frame, objectives)
        protocols = [t.user_attrs.get(record.LATENCY_PROTOCOL) or {} for t in study.trials]
    trained = frame[frame["status"] == "complete"]
    durations, trains = trained["duration_s"].astype(float), trained[record.TRAIN_SECONDS].astype(float)
    columns = [c for c in ("number", record.ACCURACY, record.MACS, record.LATENCY_P50) if c in front.columns]
    report: dict[str, Any] = {
        "command": "workbench " + " ".join(command[3:]), "device": device, "trials_planned": trials,
        "trials": len(frame), "complete": len(frame) >= trials, "wall_seconds": wall,
        "trials_per_minute": len(frame) / (wall / 60), "statuses": frame["status"].value_counts().to_dict(),
        "share_outside_training": float((durations - trains).sum() / durations.sum()) if len(trained) else None,
        "median_trial_s": float(durations.median()) if len(trained) else None,
        "median_train_s": float(trains.median()) if len(trained) else None,
        "latency_timers": sorted({p.get("timer", "?") for p in protocols}),
        "latency_cuda_graphs": sorted({str(p.get("cuda_graphs")) for p in protocols}),
        "front": front[columns].to_dict(orient="records"),
    }
    if cpu_figures:
        cpu_rate = cpu_figures["trials"] / (cpu_figures["wall_seconds"] / 60)
        report["cpu"] = {k: cpu_figures.get(k) for k in ("command", "trials", "wall_seconds", "device", "cores",
                                                          "note", "best_feasible_accuracy")}
        report["cpu"]["trials_per_minute"] = cpu_rate
        report["speedup_vs_cpu"] = report["trials_per_minute"] / cpu_rate
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
                rows.append(
                    {
                        "name": arch.name,
                        "input_size": arch.input_size,
                        "batch_size": batch,
                        "cuda_graphs": graphs,
                        "macs_per_image": macs,
                        "p50_ms": p50,
                        "ps_per_mac": p50 * 1e9 / (macs * batch),
                    }
                )
    return {"rows": rows}


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
    _, seen = train_epoch(
        model, batches(steps), optimizer, scheduler, loss_fn, autocast=autocast, scaler=scaler, check_every=25
    )
    torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


class _CropDataset(torch.utils.data.Dataset):
    """The usual per-sample augmentation on the host: pad, random crop, random flip."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, pad: int) -> None:
        self.x, self.y, self.pad = x, y, pad

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = F.pad(self.x[index], (self.pad,) * 4)
        top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
        image = image[:, top : top + 32, left : left + 32]
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
        loader = DataLoader(
            _CropDataset(x, y, default_padding(32)),
            batch_size=batch,
            shuffle=True,
            drop_last=True,
            num_workers=count,
            pin_memory=True,
            persistent_workers=count > 0,
        )

        def feed(n: int, loader: DataLoader = loader) -> Any:
            for step, (images, labels) in enumerate(loader):
                if step >= n:
                    break
                yield (
                    images.cuda(non_blocking=True).contiguous(memory_format=torch.channels_last),
                    labels.cuda(non_blocking=True),
                )

        rates[f"DataLoader, {count} workers"] = _images_per_second(fresh(), feed, recipe, steps)
        print(f"  loader workers={count}: {rates[f'DataLoader, {count} workers']:,.0f} img/s", flush=True)
    torch.backends.cudnn.benchmark = False
    best_loader = max(v for k, v in rates.items() if k != "device-resident")
    return {
        "batch_size": batch,
        "setting": "bf16, channels_last, cudnn.benchmark",
        "images_per_second": rates,
        "speedup_vs_best_loader": rates["device-resident"] / best_loader,
        "pass": rates["device-resident"] / best_loader >= TARGETS["resident_speedup"],
    }


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def _step_name(row: dict[str, Any]) -> str:
    return f"graphed ({row.get('replays', 0)} replays)" if row["graphed"] else "eager"


def markdown(report: dict[str, Any]) -> str:
    """The figures as a markdown page."""
    lines = [
        f"# GPU benchmark on {report['device_name']}",
        "",
        f"torch {report['torch']}, CUDA {report['cuda']}"
        f"{' (DRY RUN on the CPU at toy sizes: plumbing, not figures)' if report['dry_run'] else ''}. "
        f"Command: `{report['command']}`; budget {report['budget_s']:.0f} s.",
        "",
    ]
    clock = report.get("clock")
    if clock:
        lines += ["## GPU clock state (nvidia-smi, before and after)", ""]
        for when in ("before", "after"):
            state = clock.get(when, {})
            lines.append(
                f"- {when}: "
                + (
                    ", ".join(f"{k} {v}" for k, v in state.items() if k != "available")
                    if state.get("available")
                    else state.get("reason", "not recorded")
                )
            )
        lines.append("")
    rep = report.get("repeatability")
    if rep:
        lines += [
            f"## Latency repeatability, {rep['archs']} `ghostnet_cifar` architectures, two passes",
            "",
            f"Protocol: {rep['protocol']}",
            "",
            "| batch | CUDA graphs | archs measured | Kendall tau (>= 0.95) | median rel. diff (<= 2%) | noisy | s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['batch_size']} | {r['cuda_graphs']} | {r['archs_measured']}/{r['archs_planned']} | "
            f"{_fmt(r['kendall_tau'], '.3f')} | {_fmt(r['median_rel_diff'], '.2%')} | {r['noisy_measurements']} | "
            f"{r['seconds']:.0f} |"
            for r in rep["rows"]
        ]
        lines.append("")
    train = report.get("training")
    if train:
        lines += [
            f"## Training throughput, {train['preset']} at {train['input_size']}x{train['input_size']}, "
            "channels_last, device-resident augmented batches",
            "",
            "| batch | amp | step | images/s | ms/step |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['batch_size']} | {r['amp']} | {_step_name(r)} | "
            f"{_fmt(r.get('images_per_second'), ',.0f')} | {_fmt(r.get('ms_per_step'), '.2f')} |"
            + (f" {r['error']}" if r.get("error") else "")
            for r in train["rows"]
        ]
        if train["skipped"]:
            lines.append(f"\nNot run (time cap): {train['skipped']}")
        if train["best"]:
            best = train["best"]
            lines.append(
                f"\nBest: {best['images_per_second']:,.0f} images/s (batch {best['batch_size']}, {best['amp']}, "
                f"{'graphed' if best['graphed'] else 'eager'}); target >= {TARGETS['images_per_second']:,.0f}."
            )
        lines.append("")
    search = report.get("search")
    if search:
        lines += ["## Digits search", ""]
        if search.get("error"):
            lines.append(f"`{search['command']}` failed: {search['error'][-500:]}")
        else:
            lines += [
                f"`{search['command']}`: {search['trials']} trials in {search['wall_seconds']:.0f} s "
                f"({search['trials_per_minute']:.2f} trials/min), {_fmt(search['share_outside_training'], '.1%')} "
                f"of trained-trial time outside training; latency timers {search['latency_timers']}, "
                f"CUDA graphs {search['latency_cuda_graphs']}; statuses {search['statuses']}."
            ]
            if search.get("cpu"):
                cpu = search["cpu"]
                lines.append(
                    f"\nSame search on the CPU ({cpu['device']}, {cpu['cores']} cores; {cpu['note']}): "
                    f"{cpu['trials']} trials in {cpu['wall_seconds']:.0f} s ({cpu['trials_per_minute']:.2f} "
                    f"trials/min); GPU / CPU trials per minute: {search['speedup_vs_cpu']:.2f}x."
                )
            lines += ["", "Front:", "", "| trial | accuracy | MACs | latency p50 ms |", "| --- | --- | --- | --- |"]
            lines += [
                f"| {r.get('number')} | {_fmt(r.get(record.ACCURACY), '.4f')} | {_fmt(r.get(record.MACS), ',.0f')} | "
                f"{_fmt(r.get(record.LATENCY_P50), '.3f')} |"
                for r in search["front"]
            ]
        lines.append("")
    for name, carried in report.get("carried", {}).items():
        lines.append(
            f"- `{name}`: not re-measured here; kept from the earlier run on {carried['device_name']} "
            f"({carried['provenance'][:160]}...), see gpu.json."
        )
    lines.append(
        f"\nSections: {report['sections_done']}; seconds per section: "
        f"{ {k: round(v) for k, v in report['section_seconds'].items()} }."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every section at toy sizes on the CPU")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for all sections together")
    parser.add_argument("--archs", type=int, default=20, help="ghostnet_cifar architectures for repeatability")
    parser.add_argument("--search-trials", type=int, default=50, help="trials of the digits search (0: skip it)")
    parser.add_argument(
        "--cpu-search",
        default=str(REPO / "reports" / "benchmarks" / "gpu_search_cpu.json"),
        help="the same search's CPU figures (JSON from a CPU run) for the ratio",
    )
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {SECTIONS + CARRIED}")
    parser.add_argument("--out", default=str(REPO / "reports" / "benchmarks"), help="output folder")
    args = parser.parse_args()
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print(f"bench_gpu.py: no CUDA device; skipped sections {args.sections} (use --dry-run to test the plumbing)")
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    device = "cpu" if dry else "cuda"
    sections = [s for s in args.sections.split(",") if s]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "gpu_dryrun" if dry else "gpu"
    report: dict[str, Any] = {
        "device_name": "CPU dry run" if dry else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "dry_run": dry,
        "budget_s": args.budget,
        "targets": TARGETS,
        "command": "python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:]),
        "memory_gib": None if dry else torch.cuda.get_device_properties(0).total_memory / 2**30,
        "sections_done": [],
        "section_seconds": {},
    }
    cpu_figures = json.loads(Path(args.cpu_search).read_text()) if Path(args.cpu_search).is_file() else None
    # Shares of the budget: the search is the longest, the clock query is free.
    shares = {
        "clock": 0.0,
        "repeatability": 0.32,
        "training": 0.22,
        "search": 0.46,
        "modes": 0.1,
        "latency_per_mac": 0.1,
        "loader": 0.1,
    }
    overall = Deadline(args.budget)
    runs: dict[str, Callable[[Deadline], Any]] = {
        "clock": lambda d: {"before": gpu_clock_state()},
        "repeatability": lambda d: bench_repeatability(
            4 if dry else args.archs, (1, 8) if dry else (1, 64, 256), device, d, toy=dry
        ),
        "training": lambda d: bench_training(
            (8, 16) if dry else (256, 512, 1024),
            ("none", "bf16"),
            3 if dry else 60,
            4 if dry else 20,
            device,
            d,
            size=16 if dry else 32,
        ),
        "search": lambda d: (
            bench_search(2 if dry else args.search_trials, device, d, cpu_figures, toy=dry)
            if args.search_trials > 0
            else None
        ),
        "modes": lambda d: bench_modes(["ghostnet_cifar_050", "ghostnet_100"], 3),
        "latency_per_mac": lambda d: bench_latency_per_mac(),
        "loader": lambda d: bench_resident_vs_loader(1024, 100, (0, 8)),
    }
    for position, section in enumerate(sections):
        if section in CARRIED and dry:
            print(f"{section}: CUDA only, not dry-run")
            continue
        rest = sum(shares[s] for s in sections[position:]) or 1.0
        deadline = Deadline(max(0.0, overall.left()) * (shares[section] / rest if shares[section] else 0.0) + 5)
        started = time.perf_counter()
        report[section] = runs[section](deadline)
        report["section_seconds"][section] = time.perf_counter() - started
        report["sections_done"].append(section)
        print(f"{section}: {report['section_seconds'][section]:.0f} s (cap {deadline.seconds:.0f} s)", flush=True)
        (out / f"{name}.partial.json").write_text(json.dumps(report, indent=2, default=str))
    if "clock" in report:
        report["clock"]["after"] = gpu_clock_state()
    previous = out / "gpu.json"
    if not dry and previous.is_file():
        old = json.loads(previous.read_text())
        report["carried"] = {
            k: {"device_name": old.get("device_name"), "provenance": old.get("provenance", ""), "figures": old[k]}
            for k in CARRIED
            if k not in report and old.get(k)
        }
    save_report(out, name, report, markdown(report))
    (out / f"{name}.partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
