"""Small real Optuna studies for tests of the readers (results, dashboard, report, export).

The trials carry the real fixed record (`workbench.record`) of real architectures: the
parameters and MACs are counted, the accuracies are made up but plausible. Studies written
by a real `workbench search` are covered by the search tests.
"""

from __future__ import annotations

import optuna

from workbench import __version__, record
from workbench.config.io import to_plain
from workbench.models import build_model, get_preset
from workbench.profiling.counting import count_model

import functools
import hashlib
import json

# (ratio, dw_size, width, accuracy, latency_ms) per trial; one is over the MAC budget.
DEFAULT_TRIALS: tuple[tuple[int, int, float, float, float], ...] = (
    (2, 3, 0.5, 0.95, 4.0),
    (3, 3, 0.5, 0.93, 3.1),
    (4, 5, 0.35, 0.90, 2.2),
    (2, 1, 0.75, 0.97, 6.5),
    (5, 7, 0.35, 0.85, 2.0),
    (2, 3, 1.0, 0.98, 9.0),
    (3, 5, 0.75, 0.94, 5.9),
    (4, 3, 0.5, 0.91, 3.0),
)


def arch_for(ratio: int, dw_size: int, width: float):
    """A CIFAR-style GhostNet for the digits data (10 classes, 32x32, 3 channels)."""
    return get_preset("ghostnet_cifar_050", ratio=ratio, dw_size=dw_size, width=width)


@functools.lru_cache(maxsize=None)
def _counts(ratio: int, dw_size: int, width: float):
    arch = arch_for(ratio, dw_size, width)
    return count_model(build_model(arch), arch)


def make_study(
    storage: str | None,
    name: str = "test-study",
    objectives: tuple[str, ...] = ("accuracy", "macs"),
    trials: tuple[tuple[int, int, float, float, float], ...] = DEFAULT_TRIALS,
    max_macs: float | None = 2.5e7,
    failed: int = 1,
) -> optuna.Study:
    """Write (to an in-memory storage when `storage` is None) a study with `trials` complete trials (infeasible over `max_macs`) and
    `failed` failed trials to `storage`; return it."""
    directions = [record.OBJECTIVES[o].direction for o in objectives]
    # Built in memory and copied in one go: SQLite commits each attribute separately otherwise.
    study = optuna.create_study(study_name=name, storage=optuna.storages.InMemoryStorage(), directions=directions)
    study.set_metric_names(list(objectives))
    study.set_user_attr(record.STUDY_OBJECTIVES, list(objectives))
    study.set_user_attr(record.STUDY_DATASET, "digits")
    study.set_user_attr(record.STUDY_DEVICE, "test-cpu")
    study.set_user_attr(record.STUDY_SPACE_FILE, "search_spaces/digits.yaml")
    study.set_user_attr(record.STUDY_BUDGETS, {"max_params": None, "max_macs": max_macs, "max_latency_ms": None})
    protocol = {"device": "cpu", "device_name": "test-cpu", "mode": "deploy", "dtype": "fp32", "batch_size": 1}
    study.set_user_attr(record.STUDY_LATENCY_PROTOCOL, protocol)
    for ratio, dw_size, width, accuracy, latency in trials:
        trial = study.ask()
        trial.suggest_int("ratio", 2, 5)
        trial.suggest_categorical("dw_size", [1, 3, 5, 7])
        trial.suggest_float("width", 0.35, 1.0)
        arch = arch_for(ratio, dw_size, width)
        counts = _counts(ratio, dw_size, width)
        arch_json = json.dumps(to_plain(arch), sort_keys=True)
        attrs = {
            record.ARCH_JSON: arch_json,
            record.ARCH_HASH: hashlib.sha256(arch_json.encode()).hexdigest(),
            record.PARAMS: counts.params, record.MACS: counts.macs, record.FLOPS_FVCORE: int(counts.macs * 1.05),
            record.LATENCY_P50: latency, record.LATENCY_P90: latency * 1.1, record.LATENCY_CV: 0.02,
            record.LATENCY_NOISY: False, record.LATENCY_PROTOCOL: protocol, record.DEVICE: "test-cpu",
            record.PEAK_MEMORY: counts.params * 4, record.ACCURACY: accuracy,
            record.ACCURACY_SOURCE: "proxy-train:3ep", record.VAL_CURVE: [accuracy - 0.1, accuracy - 0.03, accuracy],
            record.LOSS_CURVE: [1.5, 0.6, 0.3], record.TRAIN_SECONDS: 3.0, record.PROFILE_SECONDS: 0.2,
            record.IMAGES_PER_SECOND: 1200.0, record.STATUS: "complete", record.REASON: None,
            record.REUSED_FROM: None, record.WORKBENCH_VERSION: __version__,
            record.KNOBS: {"ratio": ratio, "dw_size": dw_size, "width": width},
        }
        violation = 0.0 if max_macs is None else float(counts.macs - max_macs)
        if violation > 0:
            attrs[record.STATUS] = "rejected"
            attrs[record.REASON] = f"macs {counts.macs} over budget {max_macs:g}"
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        trial.set_constraint(record.CONSTRAINT_MACS, violation)
        values = [attrs[record.OBJECTIVES[o].column] for o in objectives]
        study.tell(trial, values)
    for _ in range(failed):
        trial = study.ask()
        trial.set_user_attr(record.STATUS, "failed")
        trial.set_user_attr(record.REASON, "config cannot be built: test failure")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    if storage is None:
        return study
    optuna.copy_study(from_study_name=name, from_storage=study._storage, to_storage=storage)
    return optuna.load_study(study_name=name, storage=storage)
