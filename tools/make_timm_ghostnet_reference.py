"""Write tests/data/timm_ghostnet_reference.json from real timm: for ghostnet_050/100/130, the
state-dict keys and shapes in order, and the eval-mode logits (float32, one thread, and float64)
of timm's model loaded with the deterministic weights of tests/fake_timm.py on its fixed input.

timm cannot be installed with its dependencies here (it needs torchvision, which has no CPU
build for this torch), so the wheel is unpacked and imported with an empty stand-in for
torchvision: GhostNet's code never calls it (only timm.data's transforms import it). The file
was made with:

    .venv/bin/pip download timm==1.0.31 --no-deps -d /tmp/timmdl
    mkdir -p /tmp/timmsrc && unzip -q -o /tmp/timmdl/timm-1.0.31-py3-none-any.whl 'timm/*' -d /tmp/timmsrc
    OMP_NUM_THREADS=1 .venv/bin/python tools/make_timm_ghostnet_reference.py /tmp/timmsrc

With a real timm installed, run it without an argument.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


class _StubMeta(type):
    def __getattr__(cls, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return f"{cls.__name__}.{name}"


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (), {"__init__": lambda self, *a, **k: None})


class _TorchvisionStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers every `import torchvision...` with an inert module."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return _StubModule(spec.name)

    def exec_module(self, module) -> None:  # noqa: ANN001
        module.__path__ = []


def main() -> None:
    if len(sys.argv) > 1:
        sys.meta_path.insert(0, _TorchvisionStandIn())
        sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, str(ROOT / "tests"))
    import timm
    from fake_timm import INPUT_SHAPE, REFERENCE, VARIANTS, fake_input, fake_state

    record: dict = {"timm_version": timm.__version__, "torch_version": torch.__version__,
                    "input_shape": list(INPUT_SHAPE), "variants": {}}
    for variant in VARIANTS:
        model = timm.create_model(variant).eval()
        entries = [[name, list(tensor.shape)] for name, tensor in model.state_dict().items()]
        model.load_state_dict(fake_state(entries))
        with torch.no_grad():
            logits = model(fake_input())
            # float64 makes the comparison independent of threads and CPU kernels (float32
            # sums in another order differ by ~1e-5 after 100 layers); float32 is kept for show.
            logits64 = model.double()(fake_input().double())
        record["variants"][variant] = {"keys": entries, "logits": logits.tolist(), "logits_float64": logits64.tolist(),
                                       "pretrained_cfg": {k: v for k, v in model.pretrained_cfg.items()
                                                          if k in ("mean", "std", "crop_pct", "interpolation",
                                                                   "input_size", "num_classes")}}
        print(f"{variant}: {len(entries)} entries, logits |max| {logits.abs().max():.3f}")
    REFERENCE.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    print(f"wrote {REFERENCE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
