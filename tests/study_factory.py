"""Small real Optuna studies for tests of the readers (results, dashboard, report, export).

The trials carry the real fixed record (`workbench.record`) of real architectures: the
parameters and MACs are counted, the accuracies are made up but plausible. Studies written
by a real `workbench search` are covered by the search tests.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import statistics

import optuna

from workbench import __version__, record
from workbench.config.io import to_plain
from workbench.models import build_model, get_preset
from workbench.profiling.counting import count_model
from workbench.search.dedupe import arch_hash

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
    """Write (to an in-memory storage when `storage` is None) a study with `trials` complete trials
    (infeasible over `max_macs`) and `failed` failed trials to `storage`; return it."""
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
        arch_json, digest = arch_hash(arch)  # what a search stores for the architecture
        attrs = {
            record.ARCH_JSON: arch_json,
            record.ARCH_HASH: digest,
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


# --- studies whose accuracy carries its uncertainty (issue: honest accuracy) -------------------

@dataclasses.dataclass(frozen=True)
class Spec:
    """One hand-written trial of `make_scored_study`.

    `status` is "complete", "reused" (a copy of trial `reused_from`: same architecture and
    figures), "rejected" (over a budget, never scored; `legacy=True` stores the old 0.0
    accuracy instead of None) or "failed" (state FAIL after profiling: costs, no accuracy).
    `ci` is stored as given; `samples` are the seeds' accuracies (their mean is the accuracy
    when `accuracy` is None)."""

    ratio: int
    dw_size: int
    width: float
    accuracy: float | None = None
    status: str = "complete"
    latency: float = 4.0
    val_size: int | None = None
    ci: tuple[float, float] | None = None
    samples: tuple[float, ...] | None = None
    reused_from: int | None = None
    legacy: bool = False


def make_scored_study(
    storage: str | None,
    specs: tuple[Spec, ...],
    name: str = "scored-study",
    objectives: tuple[str, ...] = ("accuracy", "macs"),
    max_macs: float | None = None,
    noise_sd: float | None = None,
    fidelity: dict | None = None,
    confirmations: dict[int, dict] | None = None,
) -> optuna.Study:
    """Write a study whose trials follow `specs` exactly (trial n is specs[n]), with the
    record's uncertainty keys, the study's seed noise sd (`noise_sd`), fidelity tau
    (`fidelity`) and `confirm:<n>` attributes (`confirmations`) as given; return it."""
    directions = [record.OBJECTIVES[o].direction for o in objectives]
    study = optuna.create_study(study_name=name, storage=optuna.storages.InMemoryStorage(), directions=directions)
    study.set_metric_names(list(objectives))
    study.set_user_attr(record.STUDY_OBJECTIVES, list(objectives))
    study.set_user_attr(record.STUDY_DATASET, "digits")
    study.set_user_attr(record.STUDY_DEVICE, "test-cpu")
    study.set_user_attr(record.STUDY_BUDGETS, {"max_params": None, "max_macs": max_macs, "max_latency_ms": None})
    if noise_sd is not None:
        study.set_user_attr(record.STUDY_NOISE_SD, noise_sd)
        study.set_user_attr(record.STUDY_NOISE, {"sd": noise_sd, "trials": 4, "seeds": 3, "samples": []})
    if fidelity is not None:
        study.set_user_attr(record.STUDY_FIDELITY_TAU, fidelity)
    for number, confirmation in (confirmations or {}).items():
        study.set_user_attr(f"{record.STUDY_CONFIRM_PREFIX}{number}", confirmation)
    stored: list[tuple[dict, dict, list[float] | None]] = []
    for spec in specs:
        trial = study.ask()
        trial.suggest_int("ratio", 2, 5)
        trial.suggest_categorical("dw_size", [1, 3, 5, 7])
        trial.suggest_float("width", 0.35, 1.0)
        if spec.status == "reused":
            attrs, constraints, values = (dict(x) if isinstance(x, dict) else x for x in stored[spec.reused_from])
            attrs.update({record.STATUS: "reused", record.REUSED_FROM: spec.reused_from,
                          record.REASON: f"same architecture as trial {spec.reused_from}"})
        else:
            attrs, constraints = _spec_record(spec, max_macs)
            values = None if spec.status == "failed" else [
                (0.0 if attrs[record.ACCURACY] is None else attrs[record.ACCURACY]) if o == "accuracy"
                else attrs[record.OBJECTIVES[o].column] for o in objectives]
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        if values is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, values)
        stored.append((attrs, constraints, values))
    if storage is None:
        return study
    optuna.copy_study(from_study_name=name, from_storage=study._storage, to_storage=storage)
    return optuna.load_study(study_name=name, storage=storage)


def _spec_record(spec: Spec, max_macs: float | None) -> tuple[dict, dict]:
    arch = arch_for(spec.ratio, spec.dw_size, spec.width)
    counts = _counts(spec.ratio, spec.dw_size, spec.width)
    arch_json = json.dumps(to_plain(arch), sort_keys=True)
    samples = list(spec.samples) if spec.samples else None
    accuracy = spec.accuracy if spec.accuracy is not None or not samples else sum(samples) / len(samples)
    scored = spec.status == "complete"
    attrs = {
        record.ARCH_JSON: arch_json, record.ARCH_HASH: hashlib.sha256(arch_json.encode()).hexdigest(),
        record.PARAMS: counts.params, record.MACS: counts.macs, record.FLOPS_FVCORE: int(counts.macs * 1.05),
        record.LATENCY_P50: spec.latency, record.LATENCY_P90: spec.latency * 1.1, record.LATENCY_CV: 0.02,
        record.DEVICE: "test-cpu", record.ACCURACY_SOURCE: "proxy-train:3ep", record.STATUS: spec.status,
        record.REASON: None, record.REUSED_FROM: None, record.WORKBENCH_VERSION: __version__,
        record.KNOBS: {"ratio": spec.ratio, "dw_size": spec.dw_size, "width": spec.width},
        record.ACCURACY: accuracy if scored else (0.0 if spec.legacy else None),
        record.ACCURACY_CI_LOW: spec.ci[0] if scored and spec.ci else None,
        record.ACCURACY_CI_HIGH: spec.ci[1] if scored and spec.ci else None,
        record.ACCURACY_SD: statistics.stdev(samples) if scored and samples and len(samples) > 1 else None,
        record.ACCURACY_SAMPLES: (samples or [accuracy]) if scored else None,
        record.VAL_SIZE: spec.val_size,
    }
    violation = -1.0
    if spec.status == "rejected":
        attrs[record.REASON] = f"macs {counts.macs} over budget"
        violation = float(counts.macs - max_macs) if max_macs is not None else 1.0
    elif spec.status == "failed":
        attrs[record.REASON] = "training diverged: test failure"
    return attrs, {record.CONSTRAINT_MACS: violation}


# The readers' shared fixture: trial n is HONEST_SPECS[n]. MACs grow with width at ratio 2,
# dw 3 (0.35: 6.7M < 0.5: 12.2M < 0.75: 25.7M). On 1000 validation images 0.950 and 0.945 are
# a tie (band 0.0195), 0.900 is not; trial 2 (rejected) stores an old study's 0.0 and is the
# cheapest of all; trial 3 is a reused copy of trial 0.
HONEST_SPECS: tuple[Spec, ...] = (
    Spec(2, 3, 0.5, 0.950, latency=3.0, val_size=1000, ci=(0.9358, 0.9611)),
    Spec(2, 3, 0.35, 0.945, latency=2.2, val_size=1000, ci=(0.9294, 0.9578)),
    Spec(5, 7, 0.35, status="rejected", latency=1.9, legacy=True),
    Spec(2, 3, 0.5, status="reused", reused_from=0),
    Spec(2, 3, 0.75, 0.900, latency=5.1, val_size=1000, ci=(0.8797, 0.9171)),
    Spec(3, 3, 0.5, status="failed", latency=2.8),
)
HONEST_CONFIRMED: dict[int, dict] = {
    0: {"accuracy": 0.93, "sd": 0.01, "epochs": 15.0, "samples": [0.92, 0.93, 0.94], "seeds": [0, 1000, 2000]},
    4: {"accuracy": 0.97, "sd": 0.004, "epochs": 15.0, "samples": [0.966, 0.97, 0.974], "seeds": [4, 1004, 2004]},
}
HONEST_FIDELITY: dict = {"tau": 0.62, "low": 0.31, "high": 0.85, "n": 12, "epochs": 15.0, "seeds": 3}


def make_honest_study(storage: str | None, name: str = "honest", confirmed: bool = True, noise_sd: float | None = None,
                      fidelity: dict | None = None) -> optuna.Study:
    """The HONEST_SPECS study (with HONEST_CONFIRMED unless `confirmed=False`)."""
    return make_scored_study(storage, HONEST_SPECS, name=name, confirmations=HONEST_CONFIRMED if confirmed else None,
                             noise_sd=noise_sd, fidelity=fidelity)
