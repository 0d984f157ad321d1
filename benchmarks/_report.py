"""Saving a benchmark's figures: `<name>.json` and `<name>.md` in the output folder, printed too."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.config.io import write_text_atomic  # noqa: E402


def save_report(out: str | Path, name: str, report: dict[str, Any], markdown: str) -> None:
    """Write the figures as JSON and markdown (atomically) and print the markdown."""
    out = Path(out)
    write_text_atomic(out / f"{name}.json", json.dumps(report, indent=2, default=str) + "\n")
    write_text_atomic(out / f"{name}.md", markdown)
    print(markdown)
