"""Start-up cost of the command line and of `import workbench`, against Optuna's and torch's.

Each command runs in a fresh interpreter (subprocess), `--runs` times; the figure is the
median wall time. Measured:

* `workbench --help`, and `workbench studies` on a small SQLite file made in a temporary folder;
* `python -c "import workbench"`;
* the references: `optuna --version` (Optuna's own console script) and `python -c "import torch"`;
  `python -c "pass"` shows what the interpreter alone costs.

Goals: `workbench --help` within 1.5x of `optuna --version`; `import workbench` at most
torch's import + 0.5 s. Writes reports/benchmarks/startup.json and startup.md and prints the table.

    .venv/bin/python benchmarks/bench_startup.py [--runs 7] [--out reports/benchmarks]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import save_report  # noqa: E402

from workbench import __version__  # noqa: E402

OUT_DIR = ROOT / "reports" / "benchmarks"
HELP_VS_OPTUNA = 1.5
IMPORT_OVER_TORCH_S = 0.5


def make_storage(folder: Path) -> str:
    """A SQLite storage holding one small finished study (three trials, two objectives)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{folder / 'startup.db'}"
    study = optuna.create_study(study_name="startup", storage=url, directions=["maximize", "minimize"])
    for value in range(3):
        study.add_trial(optuna.trial.create_trial(params={"x": float(value)},
                                                  distributions={"x": optuna.distributions.FloatDistribution(0, 3)},
                                                  values=[value / 3, value * 1e6]))
    return url


def commands(storage: str) -> dict[str, list[str]]:
    """Name -> argv of each measured command (our package first on the path)."""
    python = sys.executable
    optuna_script = Path(python).with_name("optuna")
    optuna = [str(optuna_script)] if optuna_script.exists() else [python, "-m", "optuna.cli"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "workbench --help": [python, "-m", "workbench", "--help"],
        "workbench studies": [python, "-m", "workbench", "studies", "--storage", storage],
        "import workbench": [python, "-c", "import workbench"],
        "optuna --version": [*optuna, "--version"],
        "import torch": [python, "-c", "import torch"],
    }


def time_command(argv: list[str], runs: int) -> dict[str, Any]:
    """Median, min and max wall seconds of `runs` runs (after one untimed warm-up run)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    seconds = []
    for attempt in range(runs + 1):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        if attempt:  # the first run fills the OS file cache
            seconds.append(elapsed)
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds), "runs": runs}


def goals(times: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The two goals with their figures and verdicts."""
    help_s, optuna_s = times["workbench --help"]["median_s"], times["optuna --version"]["median_s"]
    import_s, torch_s = times["import workbench"]["median_s"], times["import torch"]["median_s"]
    return [
        {"goal": f"`workbench --help` <= {HELP_VS_OPTUNA}x `optuna --version`",
         "figure": f"{help_s:.2f} s vs {optuna_s:.2f} s ({help_s / optuna_s:.2f}x)",
         "pass": help_s <= HELP_VS_OPTUNA * optuna_s},
        {"goal": f"`import workbench` <= `import torch` + {IMPORT_OVER_TORCH_S} s",
         "figure": f"{import_s:.2f} s vs {torch_s:.2f} s + {IMPORT_OVER_TORCH_S} s",
         "pass": import_s <= torch_s + IMPORT_OVER_TORCH_S},
    ]


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a short markdown page."""
    lines = [
        "# Start-up benchmark", "",
        f"workbench {report['workbench_version']}, Python {report['python']}, {report['cpus']} CPUs; "
        f"median of {report['runs']} runs each, one fresh interpreter a run. Load average (1 min) before / after: "
        f"{report['load_before']:.2f} / {report['load_after']:.2f} (above the core count, the figures are contended).",
        "", "| command | median s | min s | max s |", "| --- | --- | --- | --- |",
        *[f"| `{name}` | {t['median_s']:.3f} | {t['min_s']:.3f} | {t['max_s']:.3f} |"
          for name, t in report["times"].items()],
        "", "| goal | figure | pass |", "| --- | --- | --- |",
        *[f"| {g['goal']} | {g['figure']} | {'yes' if g['pass'] else 'NO'} |" for g in report["goals"]],
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        storage = make_storage(Path(folder))
        times = {name: time_command(argv, args.runs) for name, argv in commands(storage).items()}
    report = {
        "workbench_version": __version__, "python": platform.python_version(), "cpus": os.cpu_count(),
        "runs": args.runs, "load_before": load_before, "load_after": os.getloadavg()[0], "times": times,
        "goals": goals(times),
    }
    save_report(args.out, "startup", report, to_markdown(report))
    return 0 if all(goal["pass"] for goal in report["goals"]) else 1


if __name__ == "__main__":
    sys.exit(main())
