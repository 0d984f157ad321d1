"""Round trip of an exported config: search -> export -> rebuild -> train.

1. A digits study: `--study` in `--storage` if it exists, else a fresh `workbench search
   --space digits --trials N` into a temporary SQLite file (the demo's search). If the search
   cannot run, the benchmark falls back to the `ghostnet_cifar_050` preset with the digits
   space's proxy recipe and says so in the output.
2. Export the best-accuracy trial (`workbench export --pick best-accuracy`) and rebuild it the
   way `workbench train` does: parameters and MACs must equal the recorded ones.
3. Proxy-train the rebuilt architecture twice with the trial's seed and recipe
   (`train_proxy`, CPU): both accuracies must be within 0.5 points of the recorded one.
4. Full training (`train_full`) of the exported config for `--epochs` (30) on digits: the
   test accuracy (target >= 98 %) and the wall time.

Writes reports/benchmarks/roundtrip.json and roundtrip.md and prints the table.

    .venv/bin/python benchmarks/bench_roundtrip.py [--quick] [--storage URL --study NAME]
        [--trials 4] [--epochs 30] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import __version__  # noqa: E402
from workbench.config import ExportConfig, TrainRecipe  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402
from workbench.search.space_resolve import proxy_recipe  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
TOLERANCE_POINTS = 0.5
TARGET_TEST = 0.98


from _report import save_report  # noqa: E402


def _log(message: str) -> None:
    print(f"[roundtrip] {message}", flush=True)


def obtain_study(args: argparse.Namespace, work: Path) -> tuple[str | None, str | None, str]:
    """(storage, study) of a digits study, or (None, None, why) when none can be had."""
    from workbench.storage import load_study

    if args.storage:
        load_study(args.study, args.storage)
        return args.storage, args.study, f"existing study '{args.study}'"
    url = f"sqlite:///{work / 'roundtrip.db'}"
    from workbench.cli.main import main

    _log(f"running `workbench search --space digits --trials {args.trials}` into {url}")
    started = time.perf_counter()
    code = main(["search", "--space", "digits", "--study", args.study, "--storage", url, "--trials", str(args.trials),
                 "--device", "cpu", "--no-progress"])
    if code != 0:
        return None, None, f"`workbench search` exited {code}"
    return url, args.study, f"fresh search, {args.trials} trials, {time.perf_counter() - started:.0f} s"


def export_config(storage: str | None, study: str | None, work: Path) -> tuple[ExportConfig, str]:
    """The exported config (or the preset fallback) and where it came from."""
    if storage is None:
        from workbench.models import get_preset
        from workbench.search.loading import load_space

        space = load_space("digits")
        proxy = proxy_recipe(space)
        recipe = TrainRecipe(dataset="digits", input_size=32, batch_size=proxy.batch_size, lr=proxy.lr, seed=space.seed)
        return ExportConfig(arch=get_preset("ghostnet_cifar_050"), train=recipe), "preset ghostnet_cifar_050 (no study)"
    from workbench.config import load_config
    from workbench.export import export_study

    path = work / "best.yaml"
    export_study(study, pick="best-accuracy", storage=storage, out=path)
    return load_config(path), f"trial exported from '{study}' with --pick best-accuracy"


def round_trip(config: ExportConfig) -> dict[str, Any]:
    """Rebuild counts and proxy accuracy twice under the trial's seed and recipe."""
    from workbench.data import load_dataset
    from workbench.models import build_model
    from workbench.training import ProxyRecipe, seed_everything, train_proxy
    from workbench.training.checks import check_architecture

    params, macs = check_architecture(config)   # raises if they differ from provenance
    prov = config.provenance
    out: dict[str, Any] = {"params": params, "macs": macs}
    if prov is None or prov.proxy_recipe is None:
        out["note"] = "no recorded proxy accuracy: counts only"
        return out
    out.update(recorded_params=prov.measured.params, recorded_macs=prov.measured.macs,
               recorded_accuracy=prov.measured.accuracy, accuracy_source=prov.measured.accuracy_source,
               counts_identical=(params, macs) == (prov.measured.params, prov.measured.macs))
    recipe = ProxyRecipe.model_validate({**prov.proxy_recipe, "seed": prov.proxy_seed})
    data = load_dataset(config.train.dataset, input_size=config.arch.input_size, in_channels=config.arch.in_channels,
                        seed=config.train.seed, val_fraction=config.train.val_fraction)
    runs = []
    for attempt in range(2):
        seed_everything(prov.proxy_seed)
        model = build_model(config.arch)
        started = time.perf_counter()
        result = train_proxy(model, data, recipe, device="cpu")
        accuracy = result.best_val_accuracy
        runs.append({"accuracy": accuracy, "seconds": time.perf_counter() - started})
        _log(f"proxy run {attempt + 1}: accuracy {accuracy:.4f} (recorded {prov.measured.accuracy:.4f})")
    out["proxy_runs"] = runs
    out["max_diff_points"] = max(abs(r["accuracy"] - prov.measured.accuracy) * 100 for r in runs)
    out["within_tolerance"] = out["max_diff_points"] <= TOLERANCE_POINTS
    return out


def full_training(config: ExportConfig, epochs: float, device: str, work: Path) -> dict[str, Any]:
    from workbench.training.full import train_full

    started = time.perf_counter()
    result = train_full(config, work / "run", epochs=epochs, device=device, progress=False, onnx=True)
    return {"epochs": epochs, "test_accuracy": result.test_accuracy, "best_val_accuracy": result.best_val_accuracy,
            "best_epoch": result.best_epoch, "wall_seconds": time.perf_counter() - started,
            "train_seconds": result.train_seconds, "onnx_max_abs_diff": result.onnx_max_abs_diff,
            "meets_target": result.test_accuracy is not None and result.test_accuracy >= TARGET_TEST,
            "recipe": config.train.model_copy(update={"epochs": epochs}).model_dump(mode="json")}


def markdown(payload: dict[str, Any]) -> str:
    rt, full = payload["round_trip"], payload["full_training"]
    lines = [
        "# Round trip: export -> rebuild -> train", "",
        f"- source: {payload['source']} ({payload['study_note']})",
        f"- architecture: {payload['arch_name']}, {rt['params']:,} params, {rt['macs']:,} MACs",
        f"- host: {payload['host']['cpu']}, torch {payload['host']['torch']}, {payload['host']['threads']} threads "
        f"(shared machine: timings are noisy)", "",
        "| check | result |", "| --- | --- |",
    ]
    if "counts_identical" in rt:
        lines.append(f"| rebuilt params / MACs == recorded | {'yes' if rt['counts_identical'] else 'NO'} "
                     f"({rt['params']:,} / {rt['macs']:,}) |")
        runs = ", ".join(f"{r['accuracy']:.4f}" for r in rt["proxy_runs"])
        lines.append(f"| proxy accuracy, same seed and recipe (2 runs) vs recorded | {runs} vs "
                     f"{rt['recorded_accuracy']:.4f}: "
                     f"max diff {rt['max_diff_points']:.2f} points "
                     f"({'within' if rt['within_tolerance'] else 'OUTSIDE'} "
                     f"{TOLERANCE_POINTS} points) |")
    else:
        lines.append(f"| rebuild | {rt.get('note', '')} |")
    test = full["test_accuracy"]
    lines.append(f"| full training, {full['epochs']:g} epochs: test accuracy | {test:.4f} "
                 f"({'meets' if full['meets_target'] else 'BELOW'} the {TARGET_TEST:.0%} target); best validation "
                 f"{full['best_val_accuracy']:.4f} at epoch {full['best_epoch']} |")
    lines.append(f"| full training wall time | {full['wall_seconds']:.0f} s ({full['train_seconds']:.0f} s in training "
                 "steps) |")
    lines.append(f"| ONNX vs PyTorch max abs diff | {full['onnx_max_abs_diff']:.2e} |")
    if payload.get("quick"):
        lines += ["", "`--quick`: a short search and full training; the 98 % target applies to the 30-epoch run."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", help="an existing storage holding --study (default: run a fresh search)")
    parser.add_argument("--study", default="digits")
    parser.add_argument("--trials", type=int, default=4, help="trials of the fresh search")
    parser.add_argument("--epochs", type=float, default=30.0, help="full-training epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="2-trial search, 3 full-training epochs")
    parser.add_argument("--out", default=str(OUT_DIR))
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs = min(args.trials, 2), min(args.epochs, 3.0)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="roundtrip-") as tmp:
        work = Path(tmp)
        try:
            storage, study, note = obtain_study(args, work)
        except (WorkbenchError, ImportError) as error:
            storage, study, note = None, None, f"search unavailable: {error}"
        _log(note)
        config, source = export_config(storage, study, work)
        _log(f"config: {source}")
        rt = round_trip(config)
        _log(f"full training for {args.epochs:g} epochs on {args.device}")
        full = full_training(config, args.epochs, args.device, work)
    payload = {
        "benchmark": "roundtrip", "workbench_version": __version__, "quick": args.quick, "source": source,
        "study_note": note, "arch_name": config.arch.name, "arch": config.arch.model_dump(mode="json"),
        "provenance": config.provenance.model_dump(mode="json") if config.provenance else None,
        "round_trip": rt, "full_training": full, "total_seconds": time.perf_counter() - started,
        "host": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                 "threads": torch.get_num_threads(), "python": platform.python_version()},
    }
    save_report(args.out, "roundtrip", payload, markdown(payload))
    ok = full["meets_target"] or args.quick
    ok &= rt.get("within_tolerance", True) and rt.get("counts_identical", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
