"""Export a trial of a study as one config file: architecture, training recipe, provenance.

`build_export(study, row)` turns a row of `results.trials_frame` into an `ExportConfig`;
`export_study` picks the row (`knee`, `best-accuracy`, `cheapest-within:P`, `trial:N`) under
the study's budgets, ranking on the proxy accuracy or (`by="confirmed"`) on the accuracy
`workbench confirm` measured, and writes the file atomically. The dashboard's download and
`workbench export` produce the same file (up to its `exported_at` time stamp).

Example:
    A study of one scored trial (as `workbench search` records it), exported and rebuilt:

    >>> import tempfile
    >>> from workbench.models import get_preset
    >>> from workbench.search.dedupe import arch_hash
    >>> url = f"sqlite:///{tempfile.mkdtemp()}/study.db"
    >>> study = optuna.create_study(study_name="s", storage=url, directions=["maximize", "minimize"])
    >>> study.set_metric_names(["accuracy", "macs"])
    >>> arch_json, digest = arch_hash(get_preset("ghostnet_cifar_050"))
    >>> study.add_trial(optuna.trial.create_trial(values=[0.9, 1e6], user_attrs={
    ...     "status": "complete", "accuracy": 0.9, "macs": 1e6, "arch_json": arch_json, "arch_hash": digest}))
    >>> cfg, text = export_study("s", storage=url, pick="knee")
    >>> cfg.arch == get_preset("ghostnet_cifar_050"), cfg.provenance.trial, cfg.provenance.pick
    (True, 0, 'knee')
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import torch

from workbench import __version__, record, results
from workbench.config.export import DEFAULT_EPOCHS, ExportConfig, MeasuredFigures, Provenance, TrainRecipe
from workbench.config.io import dump_model, read_mapping
from workbench.errors import WorkbenchError
from workbench.outputs import check_output, claim
from workbench.record import Budgets, StudyRecord, TrialRecord, finite_number
from workbench.storage import storage_location, study_storage, trial_by_number
from workbench.training.recipe import proxy_recipe_data, train_recipe_of

FORMATS = ("yaml", "json")
# Proxy-recipe keys that carry over unchanged into the full-training recipe.

def storage_url(study: optuna.Study) -> str | None:
    """The storage a study was loaded from, as a URL without its password (None if unknown)."""
    url, journal = storage_location(study_storage(study))
    if url:
        try:
            from sqlalchemy.engine import make_url

            return make_url(url).render_as_string(hide_password=True)
        except Exception:  # an unusual URL: keep it only if it carries no credentials
            return None if "@" in url else url
    return f"journal:{journal}" if journal else None


def train_recipe_for(study: optuna.Study, input_size: int, epochs: float = DEFAULT_EPOCHS) -> TrainRecipe:
    """The full-training recipe for a study's architectures: its dataset, input size and proxy
    recipe (optimiser settings, schedule, augmentation, seed) at a full length of `epochs`."""
    stored = StudyRecord.of(study)
    space = stored.space or {}
    fields: dict[str, Any] = {"dataset": space.get("dataset") or stored.dataset or "digits", "input_size": input_size,
                              "epochs": epochs, "seed": int(space.get("seed", 0) or 0)}
    if space.get("val_fraction") is not None:
        fields["val_fraction"] = space["val_fraction"]
    return train_recipe_of(_stored_proxy_recipe(space), flip=(space.get("recipe") or {}).get("flip"), **fields)


def _stored_proxy_recipe(space: dict[str, Any]) -> dict[str, Any]:
    """The proxy recipe a study's trials were scored with, from its stored space."""
    return proxy_recipe_data(space.get("recipe") or {}, int(space.get("seed", 0) or 0))


def _number(value: Any, kind: type) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return kind(round(value)) if kind is int else kind(value)


def measured_figures(row: pd.Series) -> MeasuredFigures:
    """The figures of a trials-frame row."""
    return MeasuredFigures(
        params=_number(row.get(record.PARAMS), int), macs=_number(row.get(record.MACS), int),
        flops_fvcore=_number(row.get(record.FLOPS_FVCORE), int),
        latency_p50_ms=_number(row.get(record.LATENCY_P50), float),
        latency_p90_ms=_number(row.get(record.LATENCY_P90), float),
        latency_cv=_number(row.get(record.LATENCY_CV), float), accuracy=_number(row.get(record.ACCURACY), float),
        accuracy_source=row.get(record.ACCURACY_SOURCE) or None,
        latency_targets_p50_ms={name: _number(row.get(record.target_column(record.LATENCY_P50, name)), float)
                                for name in results.target_names(row.to_frame().T)} or None,
        int8_accuracy=_number(row.get("int8_accuracy"), float),
    )


def pick_label(pick: str, by: str = "proxy", epochs: float | None = None) -> str:
    """How the provenance names a pick: the spec, plus the accuracy it ranked on when that
    was the confirmed one, with the confirmation's recipe (`epochs`) when known (`trial:N`
    names one trial, whatever `by` says).

    Example:
        >>> pick_label("knee", "confirmed", 2.0), pick_label("trial:3", "confirmed")
        ('knee (by confirmed accuracy at 2 epochs)', 'trial:3')
    """
    if by != "confirmed" or pick.startswith("trial:"):
        return pick
    return f"{pick} (by confirmed accuracy" + (f" at {epochs:g} epochs)" if epochs is not None else ")")


def build_export(study: optuna.Study, row: pd.Series, *, pick: str | None = None, budgets: Budgets | None = None,
                 epochs: float = DEFAULT_EPOCHS, by: str = "proxy") -> ExportConfig:
    """The `ExportConfig` of one trial row (from `results.trials_frame` / `results.pick`).

    `pick`, `by` and `budgets` record how the row was chosen (default: `trial:N` under the
    study's own budgets); `epochs` is the full-training length written into the recipe.
    """
    number = int(row["number"])
    if not isinstance(row.get(record.ARCH_JSON), str) or not row.get(record.ARCH_JSON):
        raise WorkbenchError(f"trial {number} of study '{study.study_name}' has no stored architecture to export "
                             f"(state {row.get('state')}, status {row.get('status')})")
    try:
        arch = results.arch_of(row)
    except ValueError as error:  # pydantic's ValidationError and JSON errors are ValueErrors
        raise WorkbenchError(f"trial {number} of study '{study.study_name}': stored architecture is not valid "
                             f"({str(error).splitlines()[0]})") from error
    info_budgets = budgets if budgets is not None else results.study_info(study, trials=[]).budgets
    trial = trial_by_number(study, number)
    attrs = TrialRecord.of(trial)
    stored = StudyRecord.of(study)
    space = stored.space or {}
    source = str(row.get(record.ACCURACY_SOURCE) or "")
    proxy = _stored_proxy_recipe(space) if space else None
    provenance = Provenance(
        study=study.study_name, storage=storage_url(study), space=stored.space_file, space_hash=stored.space_hash,
        trial=number,
        pick=pick_label(pick or f"trial:{number}", by, finite_number(row.get(record.CONFIRMED_EPOCHS))),
        budgets=info_budgets.model_dump(), measured=measured_figures(row),
        latency_protocol=attrs.latency_protocol or stored.latency_protocol,
        device=row.get(record.DEVICE) or stored.device,
        proxy_recipe=proxy if source.startswith("proxy-train") else None,
        proxy_seed=int(space.get("seed", 0) or 0) + number if space and source.startswith("proxy-train") else None,
        search_workbench_version=attrs.get(record.WORKBENCH_VERSION), workbench_version=__version__,
        torch_version=torch.__version__, exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return ExportConfig(arch=arch, train=train_recipe_for(study, arch.input_size, epochs), provenance=provenance)


def study_budgets(study: optuna.Study, max_params: float | None = None, max_macs: float | None = None,
                  max_latency_ms: float | None = None) -> Budgets:
    """The study's stored budgets, each replaced by the given value when that is not None."""
    stored = results.study_info(study, trials=[]).budgets
    return Budgets(
        max_params=stored.max_params if max_params is None else max_params,
        max_macs=stored.max_macs if max_macs is None else max_macs,
        max_latency_ms=stored.max_latency_ms if max_latency_ms is None else max_latency_ms,
    )


def select(study: optuna.Study, frame: pd.DataFrame, pick: str, budgets: Budgets, by: str = "proxy") -> pd.Series:
    """The row a pick spec chooses (`trial:N` ignores the budgets: it names one trial), ranking
    on the proxy or the confirmed accuracy (`by`)."""
    objectives = results.study_objectives(study)
    return results.pick(frame, pick, objectives, None if pick.startswith("trial:") else budgets, by=by)


def export_study(study_name: str, *, pick: str = "knee", storage: str | None = None, out: str | Path | None = None,
                 fmt: str | None = None, max_params: float | None = None, max_macs: float | None = None,
                 max_latency_ms: float | None = None, epochs: float = DEFAULT_EPOCHS,
                 by: str = "proxy", force: bool = False) -> tuple[ExportConfig, str]:
    """Pick a trial of a study and export it; with `out`, write the file atomically.

    `by="confirmed"` picks on the accuracy `workbench confirm` measured (trials without a
    confirmation are left out). Returns the config and its text (YAML, or JSON when
    `fmt="json"` or `out` ends in `.json`).

    Raises:
        WorkbenchError: an unknown format, study or pick; nothing feasible; `by="confirmed"`
            on a study with no confirmed trial (the message says to run `workbench confirm`).

    Example: see the module's.
    """
    if fmt is not None and fmt not in FORMATS:
        raise WorkbenchError(f"unknown format '{fmt}' (allowed: {', '.join(FORMATS)})")
    if not (math.isfinite(epochs) and epochs > 0):
        raise WorkbenchError(f"--epochs must be more than 0, got {epochs:g}")
    if out is not None:  # before anything is read: a storage given as --out is never touched
        check_output(out, flag="--out", force=force, ours=is_exported_config)
    study, frame = results.open_results(study_name, storage)
    budgets = study_budgets(study, max_params, max_macs, max_latency_ms)
    row = select(study, frame, pick, budgets, by)
    config = build_export(study, row, pick=pick, budgets=budgets, epochs=epochs, by=by)
    text = export_to_file(config, out, fmt) if out is not None else dump_model(config, fmt=fmt)
    return config, text


def is_exported_config(path: Path) -> bool:
    """True for a file the workbench wrote as a config (a mapping with an `arch` section)."""
    try:
        return "arch" in read_mapping(path)
    except (WorkbenchError, OSError):
        return False


def export_to_file(config: ExportConfig, path: str | Path, fmt: str | None = None) -> str:
    """Write `config` to `path` atomically (a reader never sees half a file); return the text.

    The format is `fmt`, else the suffix (`.json` means JSON, anything else YAML).
    """
    if fmt is not None and fmt not in FORMATS:
        raise WorkbenchError(f"unknown format '{fmt}' (allowed: {', '.join(FORMATS)})")
    try:
        text = dump_model(config, path=path, fmt=fmt)
        claim(path)
        return text
    except OSError as error:
        raise WorkbenchError(f"{path}: cannot write ({error.strerror or error})") from error
