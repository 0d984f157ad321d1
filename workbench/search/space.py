"""`SearchSpace`: what a search explores, parsed from `search_spaces/*.yaml`.

A space names a base architecture (a preset or an ArchConfig file), the dataset and input
size, the Ghost knobs to search with their ranges, hard budgets, the objectives, how accuracy
is scored (proxy training recipe or a zero-cost proxy) and the latency protocol. Every mistake
in a space file (bad YAML, an unknown knob, an empty or inverted range, a budget no point of the
space can meet) is a `WorkbenchError` naming the file, the field path and the reason, raised
before any trial runs. The file format is documented in `search_spaces/README.md`.

Reading a file by name (`load_space`) lives in `workbench.search.loading`, and the budget checks
that build the cheapest corner of a space in `workbench.search.space_check`: this module imports
neither sampling nor models, so `sampling` can import it without a circle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from workbench.config.export import MAX_SEED
from workbench.config.io import parse_model, to_plain
from workbench.record import OBJECTIVES, Budgets, objective, split_target
from workbench.search.ladder_spec import FidelitySpec, PrescreenSpec

Scope = Literal["global", "per_stage"]
Choice = Union[bool, int, float, str]

# Knob name -> (scopes it allows, needs a GhostNet base (block table), direction of the cheaper
# value: "low" (smaller is cheaper), "high" (larger is cheaper), "false" (off is cheaper),
# "any" (try every choice)).
KNOB_TABLE: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "ratio": (("global", "per_stage"), False, "high"),
    "dw_size": (("global", "per_stage"), False, "low"),
    "cheap_op": (("global", "per_stage"), False, "any"),
    "primary_kernel": (("global", "per_stage"), True, "low"),
    "kernel": (("global", "per_stage"), True, "low"),
    "width": (("global",), False, "low"),
    "stage_width": (("per_stage",), True, "low"),
    "se": (("global", "per_stage"), True, "false"),
    "depth": (("per_stage",), True, "low"),
    "attention": (("global", "per_stage"), True, "any"),
    "ghost": (("global", "per_stage"), True, "any"),
}
# The choices of the two family knobs: `attention` none | se (squeeze-excite, GhostNet's) | dfc
# (GhostNetV2's DFC attention on the expanding module, SE as the base block has it); `ghost`
# concat (GhostNet's module) | rep (RepGhost's, fused into one conv at deploy time).
ATTENTION_CHOICES = ("none", "se", "dfc")
GHOST_CHOICES = ("concat", "rep")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KnobSpec(_Strict):
    """One searched knob: a range (`low`, `high`, optional `step`, `log`) or `choices`,
    searched once for the whole network (`scope: global`) or once per stage
    (`scope: per_stage`, optionally only the listed `stages`)."""

    type: Optional[Literal["int", "float", "categorical"]] = None
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[float] = Field(None, gt=0)
    log: bool = False
    choices: Optional[list[Choice]] = None
    scope: Scope = "global"
    stages: Optional[list[int]] = None

    @model_validator(mode="after")
    def _shape(self) -> "KnobSpec":
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either 'choices' or 'low'/'high', not both")
            if not self.choices:
                raise ValueError("empty 'choices'")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError(f"repeated values in 'choices' {self.choices}")
            self.type = self.type or "categorical"
            if self.type != "categorical":
                raise ValueError("'choices' needs type 'categorical'")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give 'choices' or both 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"inverted range: low {self.low:g} > high {self.high:g}")
        if self.low == self.high:
            raise ValueError(
                f"empty range: low == high == {self.low:g} (fix the value in the base architecture instead)"
            )
        if self.type is None:
            integral = all(float(v).is_integer() for v in (self.low, self.high, self.step or 1))
            self.type = "int" if integral else "float"
        if self.type == "categorical":
            raise ValueError("type 'categorical' needs 'choices'")
        if self.type == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError("an int knob needs integer 'low' and 'high'")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    def values_for_corner(self, cheaper: str) -> list[Choice]:
        """The value(s) of this knob at the cheapest corner of the space."""
        if self.choices is not None:
            if cheaper == "any":
                return list(self.choices)
            if cheaper == "false":
                return [False] if False in self.choices else [self.choices[0]]
            numeric = [c for c in self.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
            pool = numeric or list(self.choices)
            return [(min if cheaper == "low" else max)(pool)]
        value = self.low if cheaper == "low" else self.high
        if self.type == "int":
            return [int(value)]
        return [float(value)]


class Knobs(_Strict):
    """The knobs a space may search (any subset)."""

    ratio: Optional[KnobSpec] = None
    dw_size: Optional[KnobSpec] = None
    cheap_op: Optional[KnobSpec] = None
    primary_kernel: Optional[KnobSpec] = None
    kernel: Optional[KnobSpec] = None
    width: Optional[KnobSpec] = None
    stage_width: Optional[KnobSpec] = None
    se: Optional[KnobSpec] = None
    depth: Optional[KnobSpec] = None
    attention: Optional[KnobSpec] = None
    ghost: Optional[KnobSpec] = None

    def items(self) -> list[tuple[str, KnobSpec]]:
        """(name, spec) of every knob the space searches, in table order."""
        return [(name, getattr(self, name)) for name in KNOB_TABLE if getattr(self, name) is not None]


class AccuracySpec(_Strict):
    """How a candidate's accuracy is scored: `proxy` training (validation accuracy after
    the space's `recipe`), a `zero_cost` proxy (`proxy: synflow | naswot | grad_norm ...`) or
    `supernet`: the subnet's weights inherited from the supernet file `path` (made by
    `workbench supernet train`; a relative path is looked up next to the space file first)."""

    source: Literal["proxy", "zero_cost", "supernet"] = "proxy"
    proxy: Optional[str] = None
    path: Optional[str] = None
    batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _proxy_named(self) -> "AccuracySpec":
        if self.source == "zero_cost" and not self.proxy:
            raise ValueError("source 'zero_cost' needs 'proxy' (the zero-cost proxy's name)")
        if self.source != "zero_cost" and self.proxy:
            raise ValueError("'proxy' names a zero-cost proxy; set source: zero_cost")
        if self.source == "supernet" and not self.path:
            raise ValueError("source 'supernet' needs 'path' (the file `workbench supernet train` wrote)")
        if self.source != "supernet" and self.path:
            raise ValueError("'path' names a supernet file; set source: supernet")
        return self


class Scalarization(_Strict):
    """A single-objective study: maximise `sum(weight * figure)` over the named objectives,
    e.g. `{name: acc_minus_mmacs, weights: {accuracy: 1.0, macs: -1.0e-8}}` is
    `accuracy - 0.01 * macs / 1e6`."""

    name: str = Field(min_length=1)
    weights: dict[str, float] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _known(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = [k for k in weights if k not in OBJECTIVES]
        if unknown:
            raise ValueError(f"unknown objective {unknown[0]!r} (allowed: {', '.join(OBJECTIVES)})")
        return weights

    def value(self, figures: dict[str, float]) -> float:
        """The scalar score of one trial's figures (keyed by objective name)."""
        return float(sum(weight * float(figures[name]) for name, weight in self.weights.items()))


class NoiseSpec(_Strict):
    """How a study measures its own seed noise after the search: `trials` scored trials of
    distinct architectures, spread over the accuracy range, are re-scored to `seeds` seeds in
    total; the pooled sd is stored as the study attribute `accuracy_noise_sd`."""

    trials: int = Field(3, ge=1, le=50)
    seeds: int = Field(3, ge=2, le=20)


class SearchSpace(_Strict):
    """A validated search space. Load one with `load_space`.

    Example:
        >>> from workbench.search import load_space
        >>> space = load_space("digits")
        >>> space.objectives
        ['accuracy', 'macs']
    """

    name: Optional[str] = None
    description: str = ""
    base: str = Field(min_length=1)
    dataset: str = "digits"
    input_size: Optional[int] = Field(None, ge=8, le=2048)
    in_channels: Optional[int] = Field(None, ge=1, le=64)
    num_classes: Optional[int] = Field(None, ge=2)
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    knobs: Knobs = Field(default_factory=Knobs)
    budgets: Budgets = Field(default_factory=Budgets)

    @field_validator("budgets")
    @classmethod
    def _positive_budgets(cls, budgets: Budgets) -> Budgets:
        for name, limit in budgets.limits().items():
            if limit <= 0:
                raise ValueError(f"{name} must be greater than 0, got {limit:g}")
        return budgets

    objectives: list[str] = Field(default_factory=lambda: ["accuracy", "macs"])
    scalarization: Optional[Scalarization] = None
    accuracy: AccuracySpec = Field(default_factory=AccuracySpec)
    recipe: dict[str, Any] = Field(default_factory=dict)
    latency: Optional[dict[str, Any]] = Field(default_factory=dict)
    pruner: Literal["median", "none"] = "median"
    seed: int = Field(0, ge=0, le=MAX_SEED)
    # Seeds per trial (seed i of trial n is seed + n + 1000 * i); the objective is their mean.
    repeats: int = Field(1, ge=1, le=20)
    noise: Optional[NoiseSpec] = None
    fidelity: Optional[FidelitySpec] = None  # a rung ladder (workbench.search.ladder_spec)
    prescreen: Optional[PrescreenSpec] = None  # a zero-cost pre-screen before training

    _source: str = PrivateAttr(default="<space>")
    _base_dir: Optional[Path] = PrivateAttr(default=None)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, names: list[str]) -> list[str]:
        for name in names:
            try:
                objective(name)
            except KeyError:
                raise ValueError(f"unknown objective {name!r} (allowed: {', '.join(OBJECTIVES)}, "
                                 "latency_ms:<target>)") from None
        if len(set(names)) != len(names):
            raise ValueError(f"repeated objective in {names}")
        if not 2 <= len(names) <= 3:
            raise ValueError(f"give two or three objectives (or a 'scalarization' for one), got {len(names)}")
        return names

    @model_validator(mode="after")
    def _targets_named(self) -> "SearchSpace":
        """Every objective and budget that names a latency target names one of this space's."""
        known = self.target_names()
        named = [("objectives", split_target(name)[1]) for name in self.objectives]
        named += [("budgets.max_latency_ms", target) for target in self.budgets.targets()]
        for where, target in named:
            if target is not None and target not in known:
                raise ValueError(f"{where}: unknown latency target '{target}' (this space's targets: "
                                 f"{', '.join(known) or 'none, latency is null'})")
        if self.latency is not None and "targets" in self.latency and not isinstance(self.latency["targets"], dict):
            raise ValueError("latency.targets: give a mapping of target names to settings")
        return self

    def target_names(self) -> list[str]:
        """The latency targets' names in file order; the single-protocol form's one target is
        `torch` (`workbench.profiling.targets.SINGLE_TARGET`), `latency: null` has none."""
        if self.latency is None:
            return []
        targets = self.latency.get("targets")
        return [str(name) for name in targets] if isinstance(targets, dict) else ["torch"]

    # --- derived views ----------------------------------------------------------------
    @property
    def source(self) -> str:
        """The file this space was read from (or `<space>`)."""
        return self._source

    @property
    def single_objective(self) -> bool:
        """True when the study optimises one scalarised value (pruners then apply)."""
        return self.scalarization is not None

    @property
    def metric_names(self) -> list[str]:
        """The names registered on the study, in the order of trial values."""
        return [self.scalarization.name] if self.scalarization else list(self.objectives)

    @property
    def directions(self) -> list[str]:
        """Optuna directions in the order of `metric_names`."""
        if self.scalarization:
            return ["maximize"]
        return [objective(name).direction for name in self.objectives]

    @property
    def figures_needed(self) -> set[str]:
        """Objective names whose figures the trial must produce."""
        return set(self.scalarization.weights) if self.scalarization else set(self.objectives)

    def trial_seeds(self, number: int, base_seed: int | None = None) -> list[int]:
        """The seeds trial `number` is scored with: seed i is `base + number + 1000 * i`
        (`base` is the space's seed unless the run replaced it).

        Example:
            >>> from workbench.search import load_space
            >>> load_space("digits").model_copy(update={"repeats": 3}).trial_seeds(7, base_seed=0)
            [7, 1007, 2007]
        """
        return seed_rule(self.seed if base_seed is None else base_seed, number, self.repeats)

    def space_hash(self) -> str:
        """sha256 of the canonical JSON of the validated space (comments and key order in
        the file do not matter; `seed` is excluded so a resumed study may change it, and so is
        `noise`, which measures the study without changing its trials; `repeats: 1` hashes as
        before the key existed, and so do an absent ladder and pre-screen)."""
        data = to_plain(self)
        for key in ("seed", "noise"):
            data.pop(key, None)
        if data.get("repeats") == 1:
            data.pop("repeats")
        for key in ("fidelity", "prescreen"):
            if data.get(key) is None:
                data.pop(key, None)
        if data["accuracy"].get("path") is None:  # hashes as before supernet sources existed
            data["accuracy"].pop("path", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @property
    def base_dir(self) -> Path | None:
        """The folder of the file this space was read from (a relative `base:` file is looked up there)."""
        return self._base_dir

    def replace(self, **update: Any) -> "SearchSpace":
        """A copy with these fields replaced, read from the same file (source and folder kept)."""
        copy = self.model_copy(update=update)
        copy._source, copy._base_dir = self._source, self._base_dir
        return copy

    def with_dataset(self, dataset: str) -> "SearchSpace":
        """A copy reading another dataset (the CLI's `--data`)."""
        return self.replace(dataset=dataset)


def seed_rule(base_seed: int, number: int, count: int, first: int = 0) -> list[int]:
    """Seeds `first .. count-1` of trial `number`: seed i is `base_seed + number + 1000 * i`.

    Example:
        >>> seed_rule(0, 5, 3, first=1)
        [1005, 2005]
    """
    return [base_seed + number + 1000 * i for i in range(first, count)]


def parse_space(data: dict[str, Any], source: str = "<space>", base_dir: Path | None = None) -> SearchSpace:
    """Validate plain data into a `SearchSpace` (no semantic checks; see `check_space`)."""
    space = parse_model(SearchSpace, data, source)
    space._source, space._base_dir = source, base_dir
    return space
