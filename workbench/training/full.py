"""`train_full`: rebuild an exported architecture exactly and train it for real.

The run refuses to start when the rebuilt model's parameter count or MACs differ from the
figures recorded in the config's provenance (the architecture would not be the one that was
measured), or when the dataset's classes, channels or input size do not match the
architecture. It then trains with the recipe's optimiser and schedule, reusing the proxy
trainer's pieces (`training.loop`: optimiser, schedule, epoch, evaluation; `data.batching`:
on-device batches and augmentation), checkpoints after every epoch (model, optimiser,
scheduler, scaler and random states, atomically), resumes bit for bit from the last
checkpoint, evaluates the test split once at the end, and writes into the run folder:

* `checkpoint.pt` — the last epoch's full state (`--resume` continues from it);
* `model.pt` — `{"state_dict", "config", "preprocessing", "class_names"}` of the final
  model (the preprocessing is the dataset's: normalisation from the training split, input
  size, channels, resize rule), readable with `torch.load(path, weights_only=True)`;
* `metrics.json` — best validation accuracy (and its epoch), final test accuracy, the
  per-epoch curves, wall and training time, parameters and MACs;
* `model.onnx` (optional) — the BN-folded eval model with the same preprocessing and class
  names in its metadata, checked against PyTorch with onnxruntime before it is kept.

`init` starts from a model file's weights (`workbench weights import` or an earlier run) and
keeps what fits (`workbench.training.inherit`): a different classifier is re-initialised, a
narrower or wider variant inherits the leading channels; the report goes to `say` and into
`metrics.json`.

Before every evaluation, and so before the final model is saved and exported, the BatchNorm
running statistics are recomputed from the recipe's `bn_recalibration_batches` training
batches: after a short run they lag far behind the weights.

Example:
    >>> import workbench
    >>> cfg = workbench.load_config("best.yaml")  # doctest: +SKIP
    >>> result = train_full(cfg, "runs/best", epochs=30)  # doctest: +SKIP
    >>> result.test_accuracy  # doctest: +SKIP
    0.98
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from workbench.config.export import ExportConfig, TrainRecipe
from workbench.config.io import to_plain, write_text_atomic
from workbench.data import Dataset, DeviceBatches, load_dataset
from workbench.data.calibration import calibration_images
from workbench.data.preprocessing import onnx_metadata, preprocessing_of
from workbench.engines import QUANTIZATION, export_graph
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.outputs import check_outputs, check_writable_folder, claim
from workbench.profiling.protocol import check_device, resolve_device
from workbench.profiling.targets import DEFAULT_CALIBRATION
from workbench.training.checkpoint import (
    CHECKPOINT_NAME,
    WEIGHTS_NAME,
    load_checkpoint,
    restore_run,
    run_checkpoint,
    save_atomic,
    save_weights,
)
from workbench.training.checks import check_architecture, check_dataset, check_resume
from workbench.training.inherit import inherit_weights, read_init
from workbench.training.int8 import int8_accuracy
from workbench.training.loop import (
    TrainingDiverged,
    autocast_for,
    evaluate,
    make_optimizer,
    make_scheduler,
    recalibrate,
    train_epoch,
)
from workbench.training.onnx import INT8_NAME, ONNX_NAME, export_int8, export_onnx
from workbench.training.proxy import epoch_plan
from workbench.training.recipe import effective_recipe, proxy_recipe_of

METRICS_NAME = "metrics.json"
RUNS_ROOT = Path("runs")


@dataclass
class FullTrainResult:
    """What a full run measured. Accuracies are in [0, 1]; `test_accuracy` is None when the
    run stopped early (the `stop_after_epochs` hook)."""

    out_dir: str
    epochs: float
    epochs_done: int
    best_val_accuracy: float
    best_epoch: int
    final_val_accuracy: float
    test_accuracy: float | None
    test_loss: float | None
    val_curve: list[float]
    val_loss_curve: list[float]
    loss_curve: list[float]
    train_seconds: float
    wall_seconds: float
    params: int
    macs: int
    device: str
    resumed_from_epoch: int | None = None
    onnx_max_abs_diff: float | None = None
    int8: dict[str, Any] | None = None  # the int8 model's test accuracy and drop (`--int8`)
    init: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (what `metrics.json` holds)."""
        return asdict(self)


def default_out_dir(config_path: str | Path) -> Path:
    """`runs/<config stem>/`: where `workbench train FILE` writes by default."""
    return RUNS_ROOT / Path(config_path).stem


def _with_progress(batches: Iterable[tuple[Tensor, Tensor]], bar: Any) -> Iterator[tuple[Tensor, Tensor]]:
    for batch in batches:
        yield batch
        bar.update(1)


def train_full(config: ExportConfig, out_dir: str | Path, *, data: Dataset | None = None, data_spec: str | None = None,
               epochs: float | None = None, seed: int | None = None, resume: bool = False, onnx: bool = False,
               device: str = "auto", progress: bool = True, stop_after_epochs: int | None = None,
               init: str | Path | None = None, say: Callable[[str], None] | None = None,
               int8: bool = False, calibration: int = DEFAULT_CALIBRATION, force: bool = False) -> FullTrainResult:
    """Train `config.arch` with its recipe into `out_dir` (see the module docstring).

    `data` replaces loading `data_spec` / the recipe's dataset (tests pass a small one);
    `epochs`, `seed` and `data_spec` replace the recipe's. `stop_after_epochs` ends the run
    after that many epochs as if interrupted (a test hook: the checkpoint is written, the test
    split is not touched); `resume=True` continues from `out_dir/checkpoint.pt`. `init` names a
    model file to start from; `say` receives the one-line report of what it inherited. A file
    the run would write over that the workbench did not write is refused unless `force`.

    Raises:
        WorkbenchError: the architecture does not rebuild to its recorded counts, the data do
            not match it, the checkpoint is from another architecture or schedule, the loss
            diverges, the ONNX file disagrees with PyTorch, or `init` is unreadable, fits nothing
            or is combined with `resume`; an output file is not the workbench's (without `force`).
    """
    started = time.perf_counter()
    out = Path(out_dir)
    check_writable_folder(out, flag="--out")  # before a whole epoch is trained
    # checkpoint.pt is refused below unless --resume continues it
    check_outputs(out, [WEIGHTS_NAME, METRICS_NAME] + [ONNX_NAME] * onnx + [INT8_NAME] * int8, flag="--out",
                  force=force)
    recipe = effective_recipe(config, data_spec=data_spec, epochs=epochs, seed=seed)
    config = config.model_copy(update={"train": recipe})
    params, macs = check_architecture(config)
    if data is None:
        data = load_dataset(recipe.dataset, input_size=config.input_size, in_channels=config.arch.in_channels,
                            seed=recipe.seed, val_fraction=recipe.val_fraction, test_fraction=recipe.test_fraction)
    check_dataset(data, config)
    preprocessing = preprocessing_of(data.name, data.input_size, data.in_channels, data.mean, data.std)
    if init is not None and resume:
        raise WorkbenchError("--init starts a fresh run; a resumed run continues from its checkpoint (drop --init)")
    init_state = read_init(init, config.arch) if init is not None else None
    checkpoint_path = out / CHECKPOINT_NAME
    if not resume and checkpoint_path.exists():
        raise WorkbenchError(f"{out}: holds a checkpoint already; pass --resume to continue it or choose another --out")

    dev = torch.device(resolve_device(device, indexed=True))
    check_device(str(dev))
    proxy = proxy_recipe_of(recipe)
    notes: list[str] = []
    autocast, note = autocast_for(dev, proxy.amp)
    notes += [note] if note else []
    data = data.to(dev, channels_last=proxy.channels_last)
    batches = DeviceBatches(data.train_x, data.train_y, proxy.batch_size, augment=proxy.augment, flip=proxy.flip,
                            seed=proxy.seed, channels_last=proxy.channels_last)
    plan = epoch_plan(proxy.epochs, len(batches))
    arch_plain = to_plain(config.arch)
    checkpoint = load_checkpoint(checkpoint_path) if resume else None
    if checkpoint is not None:
        check_resume(checkpoint, checkpoint_path, arch_plain, sum(plan), recipe.epochs)

    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(proxy.seed)  # initialisation, then dropout, from the recipe's seed
        model = build_model(config.arch)
        init_report = inherit_weights(model, init_state, str(init)) if init_state is not None else None
        if init_report is not None and say is not None:
            say(init_report.summary())
        model.to(dev)
        if proxy.channels_last:
            model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(model, proxy)
        scheduler = make_scheduler(optimizer, proxy, sum(plan))
        scaler = torch.amp.GradScaler("cuda") if proxy.amp == "fp16" and dev.type == "cuda" else None
        state: dict[str, Any] = {"epoch": 0, "val_curve": [], "val_loss_curve": [], "loss_curve": [],
                                 "train_seconds": 0.0, "wall_seconds": 0.0}
        if checkpoint is not None:
            restore_run(checkpoint, model, optimizer, scheduler, scaler, batches, dev)
            state = {k: checkpoint["progress"][k] for k in state}
        resumed_from = state["epoch"] if checkpoint is not None else None
        loss_fn = nn.CrossEntropyLoss(label_smoothing=proxy.label_smoothing)
        check_every = 1 if dev.type == "cpu" else 25
        prior_wall = state["wall_seconds"]
        for epoch in range(state["epoch"], len(plan)):
            bar = tqdm(total=plan[epoch], desc=f"epoch {epoch + 1}/{len(plan)}", unit="batch", disable=not progress,
                       leave=False, dynamic_ncols=True)
            tick = time.perf_counter()
            try:
                loss, _ = train_epoch(model, _with_progress(batches.epoch(plan[epoch]), bar), optimizer, scheduler,
                                      loss_fn, epoch=epoch, max_loss=proxy.max_loss, autocast=autocast, scaler=scaler,
                                      check_every=check_every)
            except TrainingDiverged as error:
                raise WorkbenchError(f"training diverged: {error.reason}") from None
            finally:
                bar.close()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            state["train_seconds"] += time.perf_counter() - tick
            recalibrate(model, data.train_x, proxy, autocast)
            val_accuracy, val_loss = evaluate(model, data.val_x, data.val_y, proxy.eval_batch_size, autocast)
            state["loss_curve"].append(float(loss))
            state["val_curve"].append(float(val_accuracy))
            state["val_loss_curve"].append(float(val_loss))
            state["epoch"] = epoch + 1
            state["wall_seconds"] = prior_wall + time.perf_counter() - started
            if progress:
                tqdm.write(f"epoch {epoch + 1}/{len(plan)}: loss {loss:.4f}, validation accuracy {val_accuracy:.4f}")
            payload = run_checkpoint(model, optimizer, scheduler, scaler, batches, dev, arch_plain, recipe, plan, state)
            save_atomic(payload, checkpoint_path)
            claim(checkpoint_path)
            if stop_after_epochs is not None and state["epoch"] >= stop_after_epochs and state["epoch"] < len(plan):
                return _result(out, recipe, state, params, macs, dev, resumed_from, None, None, notes)
        # The test figure, `model.pt` and the ONNX file all carry these statistics (a run
        # resumed after its last epoch may hold a checkpoint written without them).
        recalibrate(model, data.train_x, proxy, autocast)
        test_accuracy, test_loss = evaluate(model, data.test_x, data.test_y, proxy.eval_batch_size, autocast)

    plain_config = to_plain(config)
    save_weights(model, plain_config, out / WEIGHTS_NAME, preprocessing=preprocessing.model_dump(),
                 class_names=list(data.classes))
    claim(out / WEIGHTS_NAME)
    result = _result(out, recipe, state, params, macs, dev, resumed_from, test_accuracy, test_loss, notes)
    result.init = init_report.to_dict() if init_report is not None else None
    if onnx:
        result.onnx_max_abs_diff = export_onnx(model, data.test_x[:16].float().cpu(), out / ONNX_NAME,
                                               metadata=onnx_metadata(preprocessing, list(data.classes)))
        claim(out / ONNX_NAME)
    if int8:
        result.int8 = _export_int8(model, data, out, recipe.seed, calibration,
                                   onnx_metadata(preprocessing, list(data.classes)))
        claim(out / INT8_NAME)
    result.wall_seconds = prior_wall + time.perf_counter() - started
    write_text_atomic(out / METRICS_NAME, json.dumps({**result.to_dict(), "config": plain_config}, indent=2) + "\n")
    claim(out / METRICS_NAME)
    return result


def _export_int8(model: nn.Module, data: Dataset, out: Path, seed: int, count: int,
                 metadata: dict[str, str]) -> dict[str, Any]:
    """Write `model.int8.onnx`, calibrated as a search's int8 target is (the first `count` of a
    draw of training images seeded with the run's seed), and score it on the test split."""
    calibration = calibration_images(data, count, seed)
    fp32 = export_graph(model, torch.from_numpy(calibration[:1]))
    quantized = export_int8(fp32, calibration, out / INT8_NAME, metadata)
    figures = int8_accuracy(fp32, quantized, data.test_x, data.test_y)
    return {**figures, "split": "test", "calibration_images": len(calibration), "calibration_seed": seed,
            "quantization": dict(QUANTIZATION)}


def _result(out: Path, recipe: TrainRecipe, state: dict[str, Any], params: int, macs: int, dev: torch.device,
            resumed_from: int | None, test_accuracy: float | None, test_loss: float | None,
            notes: list[str]) -> FullTrainResult:
    curve = state["val_curve"]
    best_index = int(np.argmax(curve)) if curve else 0
    return FullTrainResult(
        out_dir=str(out), epochs=recipe.epochs, epochs_done=state["epoch"],
        best_val_accuracy=float(curve[best_index]) if curve else math.nan, best_epoch=best_index + 1,
        final_val_accuracy=float(curve[-1]) if curve else math.nan,
        test_accuracy=None if test_accuracy is None else float(test_accuracy),
        test_loss=None if test_loss is None else float(test_loss),
        val_curve=list(curve), val_loss_curve=list(state["val_loss_curve"]), loss_curve=list(state["loss_curve"]),
        train_seconds=float(state["train_seconds"]), wall_seconds=float(state["wall_seconds"]), params=int(params),
        macs=int(macs), device=str(dev), resumed_from_epoch=resumed_from, notes=list(notes),
    )
