"""`refresh_model_file`: give a model file from an older workbench its preprocessing record.

Such a file holds the state dict and the config, whose recipe names the dataset and the seed
and fractions that carved its splits; loading that dataset again recomputes the normalisation
from the same training split, so the record written is the one training used.
"""

from __future__ import annotations

from pathlib import Path

import torch

from workbench.config.export import ExportConfig
from workbench.data import load_dataset
from workbench.data.preprocessing import Preprocessing, onnx_metadata, preprocessing_of
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.outputs import check_output, claim
from workbench.training.checkpoint import load_model_file, save_model_file
from workbench.training.checks import check_dataset
from workbench.training.onnx import ONNX_NAME, export_onnx
from workbench.training.recipe import effective_recipe


def refresh_model_file(path: str | Path, data_spec: str | None = None, onnx: bool = False,
                       force: bool = False) -> Preprocessing:
    """Rewrite `path` with `preprocessing` and `class_names` from its recipe's dataset (or
    `data_spec`); with `onnx`, also re-export `model.onnx` beside it with the metadata (over a
    `model.onnx` the workbench did not write only with `force`).

    Example:
        >>> refresh_model_file("runs/old/model.pt", onnx=True).describe()  # doctest: +SKIP
        '3x32x32, bilinear resize (torch), mean 0.3052/0.3052/0.3052, std 0.3190/0.3190/0.3190'

    Raises:
        WorkbenchError: not a model file, its dataset cannot be loaded or does not match it, or
            `model.onnx` may not be written.
    """
    path = Path(path)
    if onnx:
        check_output(path.with_name(ONNX_NAME), flag="--onnx", force=force)
    payload = load_model_file(path)
    source = payload.get("source") or {}
    if data_spec is None and isinstance(source, dict) and source.get("from"):
        # Imported weights name no dataset: the recipe's default would be a dataset nobody asked for.
        raise WorkbenchError(f"{path} holds {source['from']} weights imported from {source.get('file') or 'a file'}, "
                             "trained on no dataset the workbench knows, so there is nothing to refresh from (its "
                             "preprocessing is in the file already); to use a dataset's statistics, pass --data SPEC")
    config = ExportConfig.model_validate(payload["config"])
    recipe = effective_recipe(config, data_spec=data_spec)
    data = load_dataset(recipe.dataset, input_size=config.input_size, in_channels=config.arch.in_channels,
                        seed=recipe.seed, val_fraction=recipe.val_fraction, test_fraction=recipe.test_fraction)
    check_dataset(data, config)
    spec = preprocessing_of(data.name, data.input_size, data.in_channels, data.mean, data.std)
    if onnx:
        model = build_model(config.arch)
        try:
            model.load_state_dict(payload["state_dict"])
        except RuntimeError as error:
            raise WorkbenchError(f"{path}: the weights do not fit its config ({str(error).splitlines()[0]})") from None
        export_onnx(model.eval(), data.test_x[:16].to(torch.float32), path.with_name(ONNX_NAME),
                    metadata=onnx_metadata(spec, list(data.classes)))
        claim(path.with_name(ONNX_NAME))
    save_model_file(payload["state_dict"], payload["config"], path, preprocessing=spec.model_dump(),
                    class_names=list(data.classes), source=payload.get("source"))
    claim(path)
    return spec
