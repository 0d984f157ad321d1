"""How fast the dashboard opens a 1,000-trial study.

Writes a 1,000-trial study (the real trial record, a handful of real architectures reused,
written in one `add_trials` batch) to a temporary SQLite file, then times:

* `results.trials_frame` (storage read included) and `results.pareto_front`;
* building the Pareto, hypervolume and MACs-vs-latency figures;
* the dashboard's first render under Streamlit's AppTest (every tab, cold caches) and a
  rerun with warm caches (what a budget change costs).

The target: the first chart within 3 seconds for 1,000 trials.
Results go to reports/benchmarks/dashboard.json and dashboard.md.

    .venv/bin/python benchmarks/bench_dashboard.py [--trials 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import __version__, record, results  # noqa: E402
from workbench.config.io import to_plain  # noqa: E402
from workbench.dashboard import figures  # noqa: E402
from workbench.models import build_model, get_preset  # noqa: E402
from workbench.profiling.counting import count_model  # noqa: E402

STUDY = "bench-dashboard"
MAX_MACS = 3.0e7
OUT_DIR = ROOT / "reports" / "benchmarks"


def _architectures(n: int = 6) -> list[tuple[dict[str, Any], str, int, int]]:
    """A few real CIFAR GhostNets: (knobs, arch JSON, params, MACs), counted once each."""
    archs = []
    for ratio, dw_size, width in [(2, 3, 0.5), (3, 3, 0.5), (4, 5, 0.35), (2, 1, 0.75), (5, 7, 0.35), (2, 3, 1.0)][:n]:
        arch = get_preset("ghostnet_cifar_050", ratio=ratio, dw_size=dw_size, width=width)
        counts = count_model(build_model(arch), arch)
        archs.append(({"ratio": ratio, "dw_size": dw_size, "width": width},
                      json.dumps(to_plain(arch), sort_keys=True), counts.params, counts.macs))
    return archs


def make_large_study(storage: str, n_trials: int = 1000, seed: int = 0, name: str = STUDY) -> optuna.Study:
    """A study of `n_trials` trials with the real record, written in one batch: ~5% failed,
    the rest complete with jittered figures around a handful of real architectures."""
    rng = random.Random(seed)
    archs = _architectures()
    study = optuna.create_study(study_name=name, storage=storage, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "macs"])
    study.set_user_attr(record.STUDY_OBJECTIVES, ["accuracy", "macs"])
    study.set_user_attr(record.STUDY_DATASET, "digits")
    study.set_user_attr(record.STUDY_DEVICE, "bench-cpu")
    study.set_user_attr(record.STUDY_BUDGETS, {"max_params": None, "max_macs": MAX_MACS, "max_latency_ms": None})
    protocol = {"device": "cpu", "device_name": "bench-cpu", "mode": "deploy", "dtype": "fp32", "batch_size": 1}
    study.set_user_attr(record.STUDY_LATENCY_PROTOCOL, protocol)
    distributions = {"ratio": IntDistribution(2, 5), "dw_size": CategoricalDistribution([1, 3, 5, 7]),
                     "width": FloatDistribution(0.35, 1.0)}
    trials = []
    for number in range(n_trials):
        knobs, arch_json, params, macs = archs[rng.randrange(len(archs))]
        if rng.random() < 0.05:
            trials.append(optuna.trial.create_trial(
                state=TrialState.FAIL, params=knobs, distributions=distributions,
                user_attrs={record.STATUS: "failed", record.REASON: "out of memory (benchmark)", record.KNOBS: knobs}))
            continue
        macs_j = int(macs * rng.uniform(0.8, 1.25))
        accuracy = min(0.995, 0.80 + 0.06 * (macs_j / 1e7) ** 0.5 + rng.gauss(0, 0.01))
        latency = 0.5 + macs_j / 8e6 * rng.uniform(0.8, 1.3)
        violation = float(macs_j - MAX_MACS)
        attrs = {
            record.ARCH_JSON: arch_json, record.ARCH_HASH: hashlib.sha256(arch_json.encode()).hexdigest(),
            record.PARAMS: params, record.MACS: macs_j, record.FLOPS_FVCORE: int(macs_j * 1.05),
            record.LATENCY_P50: latency, record.LATENCY_P90: latency * 1.1, record.LATENCY_CV: 0.02,
            record.LATENCY_NOISY: False, record.LATENCY_PROTOCOL: protocol, record.DEVICE: "bench-cpu",
            record.PEAK_MEMORY: params * 4, record.ACCURACY: accuracy, record.ACCURACY_SOURCE: "proxy-train:3ep",
            record.VAL_CURVE: [accuracy - 0.1, accuracy - 0.03, accuracy], record.LOSS_CURVE: [1.5, 0.6, 0.3],
            record.TRAIN_SECONDS: 3.0, record.PROFILE_SECONDS: 0.2, record.IMAGES_PER_SECOND: 1200.0,
            record.STATUS: "rejected" if violation > 0 else "complete",
            record.REASON: f"macs {macs_j} over budget {MAX_MACS:g}" if violation > 0 else None,
            record.REUSED_FROM: None, record.WORKBENCH_VERSION: __version__, record.KNOBS: knobs,
        }
        trials.append(optuna.trial.create_trial(
            state=TrialState.COMPLETE, values=[accuracy, macs_j], params=knobs, distributions=distributions,
            user_attrs=attrs, constraints={record.CONSTRAINT_MACS: violation}))
    study.add_trials(trials)
    return study


def _time(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _app_render(storage: str, study_name: str) -> tuple[float, float, float, int]:
    """Seconds of the AppTest first render (cold caches), of the script's own time to its
    first chart within it, and of a rerun after a budget change (warm caches)."""
    from streamlit.testing.v1 import AppTest

    os.environ["WORKBENCH_STORAGE"] = storage
    os.environ["WORKBENCH_STUDY"] = study_name
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"the app raised: {at.exception[0].value}")
    first_chart = at.session_state["_timings"]["first_chart_s"]
    _app_render.timings = {k: round(v, 3) for k, v in at.session_state["_timings"].items()}
    at.number_input(key=f"budget_max_macs::{study_name}").set_value(MAX_MACS * 0.6)
    started = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - started
    return first, first_chart, rerun, len(at.get("plotly_chart"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--db", type=Path, help="keep the study in this SQLite file and reuse it on the next run "
                                                 "(writing 1,000 trials through Optuna's ORM takes ~40 s)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # tmpfs where there is one: writing the study is set-up, not what is measured
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-dashboard-") as tmp:
        db = args.db.resolve() if args.db else Path(tmp) / "bench.db"
        storage = f"sqlite:///{db}"
        started = time.perf_counter()
        reuse = db.exists() and STUDY in optuna.get_all_study_names(storage) and \
            len(results.load_study(STUDY, storage).get_trials(deepcopy=False)) == args.trials
        if not reuse:
            db.unlink(missing_ok=True)
            make_large_study(storage, args.trials)
        write_s = time.perf_counter() - started

        study = results.load_study(STUDY, storage)
        objectives = results.study_objectives(study)
        frame_s, frame = _time(lambda: results.trials_frame(results.load_study(STUDY, storage)), args.repeats)
        budgets = results.study_info(study).budgets
        pareto_s, front = _time(lambda: results.pareto_front(frame, objectives, budgets), args.repeats)
        pareto_fig_s, _ = _time(lambda: figures.pareto_figure(frame, objectives, record.MACS, budgets, "knob_width"), args.repeats)
        history_s, history = _time(lambda: results.hypervolume_history(frame, objectives), args.repeats)
        other_figs_s, _ = _time(lambda: (figures.hypervolume_figure(history), figures.macs_latency_figure(frame)), args.repeats)
        first_s, first_chart_s, rerun_s, charts = _app_render(storage, STUDY)
        first_timings = _app_render.timings

    report = {
        "benchmark": "dashboard",
        "trials": args.trials,
        "pareto_trials": int(len(front)),
        "seconds": {
            "write_study" if not reuse else "reuse_study": round(write_s, 3),
            "trials_frame_with_load": round(frame_s, 3),
            "pareto_front": round(pareto_s, 4),
            "pareto_figure": round(pareto_fig_s, 3),
            "hypervolume_history": round(history_s, 3),
            "hypervolume_and_macs_latency_figures": round(other_figs_s, 3),
            "app_first_chart_in_first_render": round(first_chart_s, 3),
            "app_first_render_all_tabs": round(first_s, 3),
            "app_rerun_after_budget_change": round(rerun_s, 3),
        },
        "charts_rendered": charts,
        "target": "first chart within 3 s for 1,000 trials",
        "meets_target": first_chart_s < 3.0,
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "app_timings_first_render": first_timings,
        "optuna": optuna.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dashboard.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Dashboard benchmark", "",
        f"{args.trials}-trial study ({report['pareto_trials']} on the Pareto front under the budget), "
        f"median of {args.repeats}; AppTest runs once. Command: `.venv/bin/python benchmarks/bench_dashboard.py`.", "",
        "| step | seconds |", "| --- | ---: |",
        *[f"| {name.replace('_', ' ')} | {value} |" for name, value in report["seconds"].items()], "",
        f"Target: {report['target']} — {'met' if report['meets_target'] else 'NOT met'}: the script reaches its "
        f"Pareto chart {report['seconds']['app_first_chart_in_first_render']} s into the first run (cold caches; "
        f"Streamlit sends each element as it is made); the whole page, every tab, takes "
        f"{report['seconds']['app_first_render_all_tabs']} s. Python imports (torch, streamlit) are not counted: "
        "AppTest runs in an already started process, as a running server does.",
        "", "Inside the first render (s): " + ", ".join(f"{k} {v}" for k, v in first_timings.items()) + ".",
        "", f"Machine: {report['machine']['platform']}, {report['machine']['cpus']} CPUs, Python {report['machine']['python']}, "
        f"1-min load average {report['machine']['load_average_1min_at_end']} at the end (other jobs share the CPUs).",
    ]
    (args.out / "dashboard.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
