"""Start-up cost: `import workbench` and the CLI's help load neither torch nor scikit-learn.

Each check runs in a fresh interpreter (a subprocess is the point: this process has loaded
torch long ago) and prints the heavy modules it finds in `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn")
REPORT = "print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"


def _heavy_modules_after(code: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    script = f"import json, sys\n{code}\n{REPORT.format(heavy=HEAVY)}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_workbench_loads_neither_torch_nor_sklearn() -> None:
    assert _heavy_modules_after("import workbench; workbench.__version__") == []


def test_public_names_still_import_on_use() -> None:
    import workbench

    assert set(workbench.__all__) <= set(dir(workbench))
    assert workbench.WorkbenchError.__module__ == "workbench.errors"
    assert callable(workbench.build_model) and callable(workbench.load_model) and callable(workbench.load_config)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        workbench.nope  # noqa: B018


@pytest.mark.parametrize("argv", [["--help"], ["studies", "--help"], ["--version"], []])
def test_cli_help_loads_neither_torch_nor_sklearn(argv: list[str]) -> None:
    code = ("import contextlib, io\nfrom workbench.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
    assert _heavy_modules_after(code) == []
