"""`ProxyRecipe`: every knob of a short proxy training run, validated by pydantic; and the one
home of the conversions between recipes: a space's `recipe:` section into a `ProxyRecipe`, a
proxy recipe into the full-training `TrainRecipe` an export writes, and back into the proxy
recipe a full run trains with."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workbench.config.export import ExportConfig, TrainRecipe
from workbench.config.io import parse_model

# Per-dataset changes to the generic defaults (tuned on digits: best val >= 97% in 5 epochs).
DATASET_DEFAULTS: dict[str, dict[str, object]] = {"digits": {"flip": False, "batch_size": 32, "lr": 0.1}}


class ProxyRecipe(BaseModel):
    """How a candidate is trained for a few epochs to estimate its accuracy.

    SGD with Nesterov momentum; `schedule` is one-cycle (linear warm-up over
    `warmup_fraction` of the steps, then cosine annealing to ~0), cosine (linear warm-up, then
    cosine) or constant. `epochs` may be fractional: the last epoch runs that fraction of its
    steps. `augment` is random crop with padding 4 (scaled to the input size) plus, when `flip`,
    a horizontal flip. `amp` is honoured on CUDA; on CPU `bf16` autocast is used and `fp16` is
    ignored (noted in the result). `max_loss` is the exploding-loss threshold.
    `bn_recalibration_batches` un-augmented training batches (same batch size, a fixed seeded
    draw) recompute the BatchNorm running statistics before every evaluation; 0 turns it off.

    Example:
        >>> ProxyRecipe(epochs=1.5, lr=0.1).schedule
        'onecycle'
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    epochs: float = Field(3.0, gt=0.0, le=1000.0)
    batch_size: int = Field(128, ge=2, le=65536)
    lr: float = Field(0.2, gt=0.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = True
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: bool = True
    flip: bool = True
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    seed: int = 0
    max_loss: float = Field(1e4, gt=0.0)
    eval_batch_size: int = Field(512, ge=1)
    # Without it a short run's eval accuracy measures how far the running statistics lag
    # behind the weights (24-31% after 1 digits epoch, 79-89% recalibrated) more than the net.
    bn_recalibration_batches: int = Field(20, ge=0)

    @classmethod
    def for_dataset(cls, name: str, **changes: object) -> "ProxyRecipe":
        """The default recipe for a dataset. Digits turns flips off (a mirrored 2 is not a 2) and
        uses batch 32 at lr 0.1: its 1,151 training images give too few steps per epoch at 128.

        Example:
            >>> ProxyRecipe.for_dataset("digits", epochs=5).flip
            False
        """
        defaults: dict[str, object] = DATASET_DEFAULTS.get(name, {})
        return cls(**{**defaults, **changes})


def effective_recipe(config: ExportConfig, *, data_spec: str | None = None, epochs: float | None = None,
                     seed: int | None = None) -> TrainRecipe:
    """The config's recipe with the command line's replacements, and its input size filled in."""
    changes: dict[str, Any] = {"input_size": config.input_size}
    for key, value in (("dataset", data_spec), ("epochs", epochs), ("seed", seed)):
        if value is not None:
            changes[key] = value
    return parse_model(TrainRecipe, {**config.train.model_dump(), **changes}, "training recipe")


def proxy_recipe_of(recipe: TrainRecipe) -> ProxyRecipe:
    """The `ProxyRecipe` whose optimiser and schedule `training.loop` builds for this recipe."""
    return ProxyRecipe(
        epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, weight_decay=recipe.weight_decay,
        momentum=recipe.momentum, nesterov=recipe.optimizer == "sgd-nesterov", schedule=recipe.schedule,
        warmup_fraction=recipe.warmup_fraction, label_smoothing=recipe.label_smoothing, augment=recipe.augment,
        flip=recipe.resolved_flip(), amp=recipe.amp, channels_last=recipe.channels_last, seed=recipe.seed,
        bn_recalibration_batches=recipe.bn_recalibration_batches,
    )


# Settings a full-training recipe takes over from the proxy recipe the trials were scored with.
SHARED_RECIPE_KEYS = ("batch_size", "lr", "momentum", "weight_decay", "schedule", "warmup_fraction",
                      "label_smoothing", "augment", "flip", "amp", "channels_last")


def proxy_recipe_data(recipe: dict[str, Any], seed: int) -> dict[str, Any]:
    """A space's `recipe:` section at base seed `seed`, completed with `ProxyRecipe`'s defaults, as
    plain data; a recipe this version no longer reads (a stored study's) is kept as stored.

    Example:
        >>> data = proxy_recipe_data({"epochs": 2, "lr": 0.1}, seed=5)
        >>> data["epochs"], data["lr"], data["seed"], data["batch_size"]
        (2.0, 0.1, 5, 128)
        >>> proxy_recipe_data({"epochs": 2, "retired_knob": 1}, seed=0)
        {'seed': 0, 'epochs': 2, 'retired_knob': 1}
    """
    data = {"seed": int(seed), **recipe}
    try:
        return ProxyRecipe.model_validate(data).model_dump(mode="json")
    except ValueError:  # pydantic's ValidationError is a ValueError
        return data


def train_recipe_of(proxy: dict[str, Any], *, flip: bool | None, **fields: Any) -> TrainRecipe:
    """The full-training recipe that trains like `proxy` (plain proxy-recipe data): its optimiser,
    schedule and augmentation, with `fields` (dataset, input size, epochs, seed, ...) set.
    `flip` is the space's explicit choice; None lets the dataset decide (off for digits).

    Example:
        >>> recipe = train_recipe_of({"lr": 0.1, "nesterov": False, "flip": True}, flip=None, dataset="digits",
        ...                          input_size=12, epochs=30, seed=0)
        >>> recipe.lr, recipe.optimizer, recipe.resolved_flip()
        (0.1, 'sgd', False)
    """
    values: dict[str, Any] = {k: proxy[k] for k in SHARED_RECIPE_KEYS if proxy.get(k) is not None and k != "flip"}
    if flip is not None:
        values["flip"] = bool(flip)
    if proxy.get("nesterov") is False:
        values["optimizer"] = "sgd"
    return TrainRecipe.model_validate({**values, **fields})
