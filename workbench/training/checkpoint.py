"""Atomic checkpoints and weight files of a full training run.

A model file (`model.pt`, or weights imported with `workbench weights import`) holds the
state dict, the config it rebuilds from, the preprocessing its inputs need and the class names.
A checkpoint is everything needed to continue a run bit for bit: the model, optimiser,
scheduler and AMP-scaler states, the random states (torch's global generator and the batch
sampler's), the curves so far, and the architecture and recipe it was made for, so that a
resume with a different architecture or schedule is refused instead of silently mixing.
Files are written to a temporary name in the same folder and renamed (`os.replace`), so a
reader (or a crash) never meets half a file. Everything saved is plain tensors and Python
containers: `torch.load(path, weights_only=True)` reads them.

Example:
    >>> import tempfile, torch
    >>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
    >>> save_atomic({"w": torch.ones(2)}, path)
    >>> load_checkpoint(path)["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.config.export import TrainRecipe
from workbench.config.io import default_file_mode, to_plain
from workbench.data.batching import DeviceBatches
from workbench.errors import WorkbenchError
from workbench.training.model_files import check_finite, load_torch_file

CHECKPOINT_NAME = "checkpoint.pt"
WEIGHTS_NAME = "model.pt"


def save_atomic(payload: Any, path: str | Path) -> None:
    """`torch.save` to a temporary file beside `path`, then rename it over `path`.

    Raises:
        WorkbenchError: the file could not be written (a full disk, a quota); `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, default_file_mode())  # mkstemp makes owner-only files; give the usual mode
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write as a RuntimeError
        Path(tmp).unlink(missing_ok=True)
        why = error.strerror if isinstance(error, OSError) and error.strerror else "the write failed part way"
        raise WorkbenchError(f"{path}: cannot be written ({why}; is the disk full?); nothing was replaced") from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint or weights file with `weights_only=True`; a missing or unreadable
    file is a `WorkbenchError` naming it and saying why (`workbench.training.model_files.load_torch_file`)."""
    path = Path(path)
    if not path.exists():
        raise WorkbenchError(f"{path}: no checkpoint to resume from (train without --resume first)")
    payload = load_torch_file(path, "not a readable checkpoint")
    if not isinstance(payload, dict):
        raise WorkbenchError(f"{path}: not a workbench checkpoint (expected a mapping, got {type(payload).__name__})")
    return payload


def save_weights(model: torch.nn.Module, config: dict[str, Any], path: str | Path, *,
                 preprocessing: dict[str, Any] | None = None, class_names: list[str] | None = None) -> None:
    """Write a model file of `model` (see `save_model_file`)."""
    state = {name: tensor.detach().to("cpu").clone() for name, tensor in model.state_dict().items()}
    save_model_file(state, config, path, preprocessing=preprocessing, class_names=class_names)


def save_model_file(state: dict[str, torch.Tensor], config: dict[str, Any], path: str | Path, *,
                    preprocessing: dict[str, Any] | None = None, class_names: list[str] | None = None,
                    source: dict[str, Any] | None = None) -> None:
    """Write `{"state_dict", "config", "preprocessing", "class_names"[, "source"]}` atomically.

    `config` is an exported config as plain data (at least `{"arch": ...}`), `preprocessing` a
    `workbench.data.preprocessing.Preprocessing` as plain data, `class_names` None when unknown (e.g.
    ImageNet weights) and `source` where imported weights came from.
    """
    payload: dict[str, Any] = {"state_dict": state, "config": config, "preprocessing": preprocessing,
                               "class_names": class_names}
    if source is not None:
        payload["source"] = source
    save_atomic(payload, path)


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, config dict) of a `model.pt` written by `save_weights`.

    Example:
        >>> state, config = load_weights("runs/best/model.pt")  # doctest: +SKIP
        >>> model = workbench.build_model(workbench.ExportConfig.model_validate(config).arch)  # doctest: +SKIP
        >>> model.load_state_dict(state)  # doctest: +SKIP
    """
    payload = load_model_file(path)
    return payload["state_dict"], payload["config"]


def load_model_file(path: str | Path) -> dict[str, Any]:
    """Every entry of a model file; `preprocessing` and `class_names` are None in files made
    before they were recorded."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"{path}: no such model file")
    payload = load_checkpoint(path)
    if "state_dict" not in payload or "config" not in payload:
        raise WorkbenchError(f"{path}: not a workbench weights file (needs 'state_dict' and 'config'; "
                             "turn a timm checkpoint into one with `workbench weights import`)")
    if isinstance(payload["state_dict"], dict):
        check_finite(payload["state_dict"], path)
    return {"preprocessing": None, "class_names": None, **payload}


def run_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any,
                   batches: DeviceBatches, dev: torch.device, arch: dict[str, Any], recipe: TrainRecipe,
                   plan: list[int], state: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint of a full run after an epoch: `state` holds its progress (epoch, curves,
    timings), `arch` the architecture as plain data, `plan` the steps of each epoch."""
    return {
        "format": 1,
        "arch": arch,
        "recipe": to_plain(recipe),
        "epochs": recipe.epochs,
        "total_steps": sum(plan),
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
            "batches": batches.generator.get_state(),
        },
        "progress": {k: (list(v) if isinstance(v, list) else v) for k, v in state.items()},
    }


def restore_run(checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                scaler: Any, batches: DeviceBatches, dev: torch.device) -> None:
    """Put a `run_checkpoint` back into the run's objects, random states included.

    Raises:
        WorkbenchError: the checkpoint's states do not fit these objects.
    """
    try:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if scaler is not None and checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"])
        if dev.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], dev)
        batches.generator.set_state(rng["batches"])
    except (KeyError, RuntimeError, ValueError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WorkbenchError(f"checkpoint does not fit this run ({detail})") from None
