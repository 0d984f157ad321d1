"""Contract with fvcore's private handle tables (`workbench.profiling.handles` is their one user).

If this fails after an fvcore upgrade, the counts of `workbench.profiling.counting` can no
longer be trusted: find where fvcore now keeps its default op handles and change
`workbench/profiling/handles.py` only.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from workbench.profiling import handles

PRIVATE = "_DEFAULT_SUPPORTED_OPS"


@pytest.mark.parametrize("module, relied_on", [
    ("fvcore.nn.flop_count", handles.RELIED_ON_FLOP_OPS),
    ("fvcore.nn.activation_count", handles.RELIED_ON_ACTIVATION_OPS),
])
def test_fvcore_still_has_the_private_tables_we_rely_on(module: str, relied_on: tuple[str, ...]) -> None:
    fvcore_module = importlib.import_module(module)
    assert hasattr(fvcore_module, PRIVATE), f"{module}.{PRIVATE} is gone: fix workbench/profiling/handles.py"
    table = getattr(fvcore_module, PRIVATE)
    missing = [op for op in relied_on if op not in table]
    assert not missing, f"{module}.{PRIVATE} no longer handles {missing}: fix workbench/profiling/handles.py"
    assert all(callable(table[op]) for op in relied_on)


def test_our_copies_hold_fvcores_handles() -> None:
    flops = importlib.import_module("fvcore.nn.flop_count")._DEFAULT_SUPPORTED_OPS
    acts = importlib.import_module("fvcore.nn.activation_count")._DEFAULT_SUPPORTED_OPS
    assert handles.FVCORE_FLOP_HANDLES == dict(flops)
    assert handles.FVCORE_ACTIVATION_HANDLES == dict(acts)
    assert handles.FVCORE_FLOP_HANDLES is not flops


def test_no_other_module_names_a_private_fvcore_name() -> None:
    package = Path(handles.__file__).resolve().parents[1]
    users = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                   if "fvcore" in (text := path.read_text(encoding="utf-8")) and PRIVATE in text)
    assert users == ["profiling/handles.py"]
