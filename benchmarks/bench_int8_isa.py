"""Does an int8 accuracy depend on the x86 chip that runs the file? The same int8 files scored
natively (this host) and on an emulated AVX2 CPU without VNNI (`qemu-x86_64 -cpu Haswell-v4`).

Three digits-space architectures (widths 0.1, 0.3, 0.6) are proxy-trained with the space's recipe,
exported, and quantized twice: with the settings the workbench now uses for x86 (`reduce_range`,
7-bit weights) and with the earlier ones (full 8-bit weights, which x86 without VNNI may saturate).
Each file is scored on the validation split by ONNX Runtime with graph optimisations on (the
CPU's own int8 kernels) and off (the QDQ graph's own arithmetic), natively and under qemu. The
scorer (`_int8_scorer.py`) needs only numpy and onnxruntime.

    .venv/bin/python benchmarks/bench_int8_isa.py

Writes reports/benchmarks/int8_isa.json and .md. Needs qemu-user (`apt-get install qemu-user`);
without it only the native figures are written, and the report says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import save_report  # noqa: E402

from workbench.data.calibration import calibration_images  # noqa: E402
from workbench.engines import export_graph, quantization_for, quantize_int8  # noqa: E402
from workbench.profiling.hostfacts import host_isa  # noqa: E402
from workbench.search.loading import load_space  # noqa: E402
from workbench.search.scoring import train_candidate  # noqa: E402
from workbench.search.space_resolve import resolve_space  # noqa: E402
from workbench.search.workers import load_search_data  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
NAME = "int8_isa"
WIDTHS = (0.1, 0.3, 0.6)
EMULATED_CPU = "Haswell-v4"
SCORER = Path(__file__).with_name("_int8_scorer.py")
SETTINGS = {"reduce_range (x86, now)": "x86", "full 8-bit weights (before)": "arm"}


def make_files(folder: Path, epochs: float) -> list[dict[str, Any]]:
    """Train, export and quantize each width; write the graphs and the validation split."""
    torch.set_num_threads(1)
    space = load_space("digits")
    resolved = resolve_space(space, device="cpu")
    data = load_search_data(resolved)
    resolved = resolved.fitted_to(data)
    recipe = resolved.recipe.model_copy(update={"epochs": epochs})
    np.save(folder / "val_x.npy", data.val_x.numpy().astype(np.float32))
    np.save(folder / "val_y.npy", data.val_y.numpy())
    calibration = calibration_images(data, 64, space.seed)
    models = []
    for width in WIDTHS:
        arch = resolved.base.model_copy(update={"width": width})
        kept: list[Any] = []
        result = train_candidate(recipe, arch, data, 0, keep=kept.append)
        graph = export_graph(kept[0], data.val_x[:1])
        files = {"fp32": f"w{width}-fp32.onnx"}
        (folder / files["fp32"]).write_bytes(graph)
        for label, device in SETTINGS.items():
            files[label] = f"w{width}-{device}.onnx"
            (folder / files[label]).write_bytes(quantize_int8(graph, calibration, quantization_for(device)))
        models.append({"width": width, "proxy_accuracy": float(result.val_accuracy), "files": files})
    return models


def score(folder: Path, models: list[dict[str, Any]], emulated: bool, images: int) -> dict[str, Any]:
    """Every file's accuracy on the first `images` validation images (0: all) with optimisations on
    and off, in one scorer process."""
    names = sorted({f for m in models for f in m["files"].values()})
    command = [sys.executable, str(SCORER), str(folder), str(images), *names]
    if emulated:
        command = ["qemu-x86_64", "-cpu", EMULATED_CPU, *command]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return {"seconds": time.perf_counter() - started, "scores": json.loads(done.stdout)}


def markdown(report: dict[str, Any]) -> str:
    native, emulated = report["native"]["scores"], (report.get("emulated") or {}).get("scores")
    lines = ["# int8 accuracy on two x86 CPUs: this host and an emulated AVX2 CPU without VNNI", "",
             f"This host: {report['host_isa']}. Emulated: `qemu-x86_64 -cpu {EMULATED_CPU}` (AVX2, no AVX-512, "
             "no VNNI)" + ("" if emulated else " — **not run: qemu-x86_64 is not installed here**") + ".",
             f"Digits space, proxy-trained {report['epochs']:g} epochs, scored on the first {report['images']} of the "
             f"validation split's {report['val_size']} images (emulation is slow); "
             "'kernels' = graph optimisations on (the CPU's own int8 kernels), 'QDQ' = optimisations off (the "
             "graph's own arithmetic).", "", f"Command: `{report['command']}`", "",
             "| width | fp32 | int8 settings | QDQ (native) | kernels, native | kernels, emulated AVX2 | "
             "QDQ, emulated |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for m in report["models"]:
        fp32 = native[m["files"]["fp32"]]["all"]
        for label in SETTINGS:
            file = m["files"][label]
            emu = emulated[file] if emulated else {"all": None, "disable": None}
            lines.append(f"| {m['width']} | {_pct(fp32)} | {label} | {_pct(native[file]['disable'])} | "
                         f"{_pct(native[file]['all'])} | {_pct(emu['all'])} | {_pct(emu['disable'])} |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--images", type=int, default=1200, help="validation images scored (default 1200; "
                        "qemu runs about 100x slower than native)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workbench-int8-isa-") as name:
        folder = Path(name)
        models = make_files(folder, args.epochs)
        report: dict[str, Any] = {
            "command": " ".join(["python", "benchmarks/bench_int8_isa.py", *(argv or sys.argv[1:])]),
            "host_isa": host_isa().to_dict(), "epochs": args.epochs, "load_start": os.getloadavg()[0],
            "val_size": int(len(np.load(folder / "val_y.npy"))), "images": args.images, "models": models,
            "native": score(folder, models, emulated=False, images=args.images),
            "emulated": score(folder, models, emulated=True, images=args.images) if shutil.which("qemu-x86_64")
            else None,
        }
    save_report(args.out, NAME, report, markdown(report))
    return report


if __name__ == "__main__":
    main()
