"""Write tests/data/timm_ghost_family_reference.json from real timm, for GhostNetV2
(`ghostnetv2_100/130/160`) and RepGhostNet (`repghostnet_050` ... `repghostnet_200`): each family's
state-dict keys in order (the same for every width), each variant's shapes in that order, its
parameter count, and the first `FAMILY_LOGITS` eval-mode logits of each image (float64, and float32
on one thread for show) of timm's model loaded with the deterministic weights of tests/fake_timm.py on
its fixed 2x3x64x64 input. RepGhostNet is also recorded in timm's deploy form
(`repghost_model_convert`, which fuses the RepGhost branches and leaves the other BatchNorms): its
float64 logits.

timm cannot be installed with its dependencies here (no CPU torchvision for this torch), so the
wheel is unpacked and imported with the empty torchvision stand-in of
tools/make_timm_ghostnet_reference.py. The file was made with:

    .venv/bin/pip download timm==1.0.31 --no-deps -d /tmp/timmdl
    mkdir -p /tmp/timmsrc && unzip -q -o /tmp/timmdl/timm-1.0.31-py3-none-any.whl 'timm/*' -d /tmp/timmsrc
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/make_timm_ghost_family_reference.py /tmp/timmsrc

With a real timm installed, run it without an argument.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from fake_timm import (  # noqa: E402
    FAMILY_INPUT_SHAPE,
    FAMILY_LOGITS,
    FAMILY_REFERENCE,
    FAMILY_VARIANTS,
    fake_input,
    fake_state,
)
from make_timm_ghostnet_reference import _TorchvisionStandIn  # noqa: E402


def _logits(model: torch.nn.Module, dtype: torch.dtype) -> list:
    """Leading logits of `model` (converted to `dtype` in place) on the fixed input."""
    with torch.no_grad():
        return model.to(dtype)(fake_input(FAMILY_INPUT_SHAPE).to(dtype))[:, :FAMILY_LOGITS].tolist()


def _variant(timm, variant: str) -> tuple[list[str], dict]:  # noqa: ANN001
    model = timm.create_model(variant).eval()
    entries = [[name, list(tensor.shape)] for name, tensor in model.state_dict().items()]
    model.load_state_dict(fake_state(entries))
    # float32 first: the float32 weights turn into float64 exactly, not back.
    logits32, logits64 = _logits(model, torch.float32), _logits(model, torch.float64)
    row = {"shapes": [shape for _, shape in entries], "params": sum(p.numel() for p in model.parameters()),
           "logits": logits32, "logits_float64": logits64}
    if variant.startswith("repghostnet"):
        from timm.models.repghost import repghost_model_convert

        deployed = repghost_model_convert(model.double()).eval()  # fused in float64
        row["deploy_logits_float64"] = _logits(deployed, torch.float64)
    print(f"{variant}: {len(entries)} entries, {row['params']} params, logits |max| "
          f"{max(abs(v) for image in logits64 for v in image):.3f}")
    return [name for name, _ in entries], row


def main() -> None:
    if len(sys.argv) > 1:
        sys.meta_path.insert(0, _TorchvisionStandIn())
        sys.path.insert(0, sys.argv[1])
    import timm

    record: dict = {"timm_version": timm.__version__, "torch_version": torch.__version__,
                    "input_shape": list(FAMILY_INPUT_SHAPE), "keys": {}, "variants": {}}
    for family, variants in FAMILY_VARIANTS.items():
        for variant in variants:
            names, row = _variant(timm, variant)
            assert record["keys"].setdefault(family, names) == names, f"{variant}: keys differ within {family}"
            record["variants"][variant] = row
    FAMILY_REFERENCE.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    print(f"wrote {FAMILY_REFERENCE.relative_to(ROOT)} ({FAMILY_REFERENCE.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
