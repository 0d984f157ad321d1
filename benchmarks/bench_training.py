"""Proxy-training speed and accuracy on digits, device-resident batches vs a DataLoader.

Times 3 epochs of `ghostnet_cifar_050` on digits at 32x32 twice, side by side, with the same
model initialisation, optimizer, schedule and training step (`workbench.training.loop`):

* the workbench way: the dataset on the device, seeded randperm, batch-wise crop (+flip);
* the usual way: `DataLoader` over a map-style dataset whose `__getitem__` pads and crops one
  image at a time (num_workers=0, the default).

Then trains 5 epochs with the digits default recipe and reports the best validation accuracy.
Targets: <= 10 s of training for 3 epochs, >= 1.3x over the DataLoader, >= 97% in 5 epochs.
Results go to reports/benchmarks/training.json and training.md.

    .venv/bin/python benchmarks/bench_training.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.data import Dataset, load_dataset  # noqa: E402
from workbench.data.batching import default_padding  # noqa: E402
from workbench.models import build_model, get_preset  # noqa: E402
from workbench.training import ProxyRecipe, seed_everything, train_proxy  # noqa: E402
from workbench.training.loop import make_optimizer, make_scheduler, train_epoch  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
PRESET = "ghostnet_cifar_050"


class _CropDataset(torch.utils.data.Dataset):
    """The usual per-sample augmentation: pad, random crop, optional flip, one image at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, pad: int, flip: bool) -> None:
        self.x, self.y, self.pad, self.flip = x, y, pad, flip

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = F.pad(self.x[index], (self.pad,) * 4)
        top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
        size = self.x.shape[-1]
        image = image[:, top:top + size, left:left + size]
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, self.y[index]


def _dataloader_run(model: nn.Module, data: Dataset, recipe: ProxyRecipe) -> float:
    loader = DataLoader(_CropDataset(data.train_x, data.train_y, default_padding(data.input_size), recipe.flip),
                        batch_size=recipe.batch_size, shuffle=True,
                        drop_last=len(data.train_y) % recipe.batch_size == 1)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe, int(recipe.epochs) * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(int(recipe.epochs)):
        train_epoch(model, loader, optimizer, scheduler, loss_fn, epoch=epoch)
    return time.perf_counter() - start


def _model() -> nn.Module:
    seed_everything(0)
    return build_model(get_preset(PRESET))


def run(quick: bool) -> dict[str, Any]:
    data = load_dataset("digits", input_size=32)
    epochs = 1 if quick else 3
    recipe = ProxyRecipe.for_dataset("digits", epochs=epochs)
    resident = train_proxy(_model(), data, recipe)
    print(f"device-resident: {resident.train_seconds:.1f} s", flush=True)
    loader_seconds = _dataloader_run(_model(), data, recipe)
    report: dict[str, Any] = {
        "preset": PRESET, "dataset": data.summary(), "recipe": recipe.model_dump(), "epochs": epochs,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "resident_train_seconds": round(resident.train_seconds, 2),
        "resident_images_per_second": round(resident.images_per_second, 1),
        "dataloader_train_seconds": round(loader_seconds, 2),
        "speedup_vs_dataloader": round(loader_seconds / resident.train_seconds, 2),
        "target_seconds_3_epochs": 10.0, "target_speedup": 1.3,
    }
    if not quick:
        accuracy = train_proxy(_model(), data, ProxyRecipe.for_dataset("digits", epochs=5))
        report["accuracy_5_epochs"] = {"best_val_accuracy": accuracy.best_val_accuracy, "val_curve": accuracy.val_curve,
                                       "train_seconds": round(accuracy.train_seconds, 2), "target": 0.97}
    return report


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Proxy training on digits ({report['preset']}, 32x32, {report['epochs']} epochs, "
             f"{report['threads']} threads)", "",
             "| loop | train seconds | images/s |", "| --- | --- | --- |",
             f"| device-resident (workbench) | {report['resident_train_seconds']} "
             f"| {report['resident_images_per_second']} |",
             f"| DataLoader + per-sample crop | {report['dataloader_train_seconds']} | |", "",
             f"Speed-up: {report['speedup_vs_dataloader']}x (target >= {report['target_speedup']}x); "
             f"target <= {report['target_seconds_3_epochs']} s for 3 epochs."]
    if "accuracy_5_epochs" in report:
        acc = report["accuracy_5_epochs"]
        lines += ["", f"Best validation accuracy in 5 epochs: {acc['best_val_accuracy']:.4f} (target >= 0.97); "
                      f"curve {', '.join(f'{a:.3f}' for a in acc['val_curve'])}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch each, no accuracy run")
    parser.add_argument("--threads", type=int, help="torch threads (default: the environment's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = run(args.quick)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "training.json").write_text(json.dumps(report, indent=2))
    (OUT_DIR / "training.md").write_text(_markdown(report))
    print(json.dumps(report, indent=2))
    print(_markdown(report))


if __name__ == "__main__":
    main()
