"""`ExportConfig`: one file that rebuilds and trains a chosen architecture.

An exported config holds three sections:

* `arch` — the `ArchConfig`, exactly as the search measured it;
* `train` — the full-training recipe (`TrainRecipe`): dataset, input size, epochs, optimiser,
  schedule, augmentation, seed;
* `provenance` — where the architecture came from: the study, the trial, the pick and
  budgets that chose it, its measured figures with the latency protocol and device, and
  the workbench and torch versions that exported it. A hand-written config may omit it.

Example:
    >>> from workbench.models.presets import get_preset
    >>> cfg = ExportConfig(arch=get_preset("ghostnet_cifar_050"))
    >>> cfg.train.epochs, cfg.train.optimizer
    (30, 'sgd-nesterov')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.config.arch import ArchConfig
from workbench.config.io import parse_model, read_mapping

# Full-training defaults: the proxy recipe's settings at a full schedule length.
DEFAULT_EPOCHS = 30
# The largest seed a recipe or space takes: numpy's generators take 0..2**32-1, and a trial's
# seeds add its number (and 1000 per repeat) to the base seed.
MAX_SEED = 2**31 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainRecipe(_Strict):
    """How `workbench train` trains an architecture: SGD with (Nesterov) momentum under one
    learning-rate schedule, the same knobs as the search's proxy recipe at a full length.

    `dataset` is a data spec (`digits`, `cifar10:PATH`, `cifar100:PATH`, `folder:PATH`);
    `input_size` the resolution (None: the architecture's); `val_fraction` / `test_fraction`
    the splits carved when the source has none. `schedule` spans all epochs (`onecycle`:
    warm-up over `warmup_fraction` then cosine decay; `cosine`; `constant`). `augment` is
    random crop with padding; `flip` adds horizontal flips (None: off for digits, on
    otherwise). `amp` is `none`, `bf16` or `fp16` (fp16 only on CUDA).
    `bn_recalibration_batches` training batches recompute the BatchNorm statistics before every
    evaluation, the saved model and the ONNX export (0 = off).
    """

    dataset: str = "digits"
    input_size: Optional[int] = Field(None, ge=8, le=2048)
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    epochs: float = Field(DEFAULT_EPOCHS, gt=0, le=1000)
    batch_size: int = Field(128, ge=2, le=65536)
    optimizer: Literal["sgd-nesterov", "sgd"] = "sgd-nesterov"
    lr: float = Field(0.2, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: bool = True
    flip: Optional[bool] = None
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    seed: int = Field(0, ge=0, le=MAX_SEED)
    bn_recalibration_batches: int = Field(20, ge=0)

    def resolved_flip(self) -> bool:
        """Whether images are mirrored: the recipe's choice, else off for digits only."""
        return self.flip if self.flip is not None else self.dataset.split(":")[0] != "digits"


# The name DESIGN.md uses for the same model.
TrainConfig = TrainRecipe


class MeasuredFigures(_Strict):
    """The figures the search measured for the exported trial (None where not measured).

    `macs` are conv/linear multiply-accumulates (the GhostNet paper's "FLOPs");
    `flops_fvcore` is fvcore's total; latencies are milliseconds per batch under
    `Provenance.latency_protocol`; `accuracy` is a validation figure from `accuracy_source`.
    """

    params: Optional[int] = None
    macs: Optional[int] = None
    flops_fvcore: Optional[int] = None
    latency_p50_ms: Optional[float] = None
    latency_p90_ms: Optional[float] = None
    latency_cv: Optional[float] = None
    accuracy: Optional[float] = None
    accuracy_source: Optional[str] = None
    # p50 ms on every latency target the study measured (None: unavailable), and the int8 accuracy.
    latency_targets_p50_ms: Optional[dict[str, Optional[float]]] = None
    int8_accuracy: Optional[float] = None


class Provenance(_Strict):
    """Where an exported architecture came from and how it was measured."""

    study: str
    storage: Optional[str] = None
    space: Optional[str] = None        # the study's space file, as its search recorded it
    space_hash: Optional[str] = None   # the study's space hash: `train-proxy --trial` checks it
    trial: int
    pick: str
    budgets: dict[str, Union[float, dict[str, float], None]] = Field(default_factory=dict)
    measured: MeasuredFigures = Field(default_factory=MeasuredFigures)
    latency_protocol: Optional[dict[str, Any]] = None
    device: Optional[str] = None
    proxy_recipe: Optional[dict[str, Any]] = None
    proxy_seed: Optional[int] = None
    search_workbench_version: Optional[str] = None
    workbench_version: str
    torch_version: str
    exported_at: str


class ExportConfig(_Strict):
    """An architecture, its training recipe and (for exported files) its provenance."""

    arch: ArchConfig
    train: TrainRecipe = Field(default_factory=TrainRecipe)
    provenance: Optional[Provenance] = None

    @model_validator(mode="after")
    def _same_input_size(self) -> "ExportConfig":
        size = self.train.input_size
        if size is not None and size != self.arch.input_size:
            raise ValueError(f"train.input_size {size} differs from arch.input_size {self.arch.input_size} "
                             "(the measured MACs are for the architecture's size; change both or neither)")
        return self

    @property
    def input_size(self) -> int:
        """The resolution training and export use (the recipe's, else the architecture's)."""
        return self.train.input_size or self.arch.input_size


def load_config(path: str | Path) -> ExportConfig:
    """Load an exported config (YAML or JSON). A file holding only an `ArchConfig` is
    accepted too and gets the default training recipe. Mistakes name the file and field.

    Example:
        An architecture file alone loads with the default recipe:

        >>> import tempfile, workbench
        >>> from workbench.config.io import dump_model
        >>> path = f"{tempfile.mkdtemp()}/arch.yaml"
        >>> _ = dump_model(workbench.models.get_preset("ghostnet_cifar_050"), path=path)
        >>> cfg = workbench.load_config(path)
        >>> cfg.arch.name, cfg.train.epochs == TrainRecipe().epochs
        ('ghostnet_cifar_050', True)
    """
    data = read_mapping(path)
    if "arch" in data:
        return parse_model(ExportConfig, data, str(path))
    return ExportConfig(arch=parse_model(ArchConfig, data, str(path)))
