"""`import_weights`: a foreign checkpoint -> a workbench model file that `train --init`,
`load_model` and `predict` read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from workbench.config.io import to_plain
from workbench.data.preprocessing import IMAGENET
from workbench.errors import WorkbenchError
from workbench.models.presets import get_preset
from workbench.outputs import check_output, claim
from workbench.training.checkpoint import save_model_file
from workbench.training.model_files import read_state_dict
from workbench.weights.timm import TIMM_PRESETS, map_timm_state

SOURCES = ("timm",)


@dataclass
class ImportResult:
    """What was written: the preset, the number of tensors and parameters, the file."""

    preset: str
    tensors: int
    params: int
    out: str


def import_weights(path: str | Path, preset: str, out: str | Path, source: str = "timm",
                   force: bool = False) -> ImportResult:
    """Map the checkpoint at `path` onto `preset` and write the model file `out`, with timm's
    ImageNet preprocessing (mean/std, bicubic resize, crop 0.875 at 224 px). Nothing is
    written unless every tensor is placed, and never over a file the workbench did not write
    unless `force` (`workbench.outputs.check_output`).

    Example:
        >>> import_weights("ghostnet_100.safetensors", "ghostnet_100", "w.pt")  # doctest: +SKIP
        ImportResult(preset='ghostnet_100', tensors=512, params=5183..., out='w.pt')

    Raises:
        WorkbenchError: an unknown source or preset, an unreadable or unsafe file, a key or
            shape that does not fit the preset, or an `out` that may not be written.
    """
    if source not in SOURCES:
        raise WorkbenchError(f"unknown weights source '{source}' (allowed: {', '.join(SOURCES)})")
    if preset not in TIMM_PRESETS:
        raise WorkbenchError(f"timm weights map onto the presets {', '.join(TIMM_PRESETS)} only, not '{preset}'")
    check_output(out, flag="--out", force=force)
    arch = get_preset(preset)
    state = map_timm_state(read_state_dict(path), arch, str(path))
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    save_model_file(state, {"arch": to_plain(arch)}, out, preprocessing=IMAGENET.model_dump(), class_names=None,
                    source={"from": source, "file": Path(path).name, "sha256": digest})
    claim(out)
    params = sum(t.numel() for name, t in state.items() if not name.endswith(("running_mean", "running_var",
                                                                                   "num_batches_tracked")))
    return ImportResult(preset=preset, tensors=len(state), params=params, out=str(out))
