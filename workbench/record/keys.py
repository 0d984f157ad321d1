"""The fixed trial record's keys: the user-attribute names every trial and study carries.

Only the `workbench.record` package names these strings and only it reads or writes the
attributes (`TrialRecord`, `write_record`, `StudyRecord`); other modules use the constants as
frame column names and go through the package for the values.
"""

from __future__ import annotations

from typing import Literal

# --- trial user attributes -------------------------------------------------------------
ARCH_JSON = "arch_json"            # the ArchConfig as JSON text
ARCH_HASH = "arch_hash"            # sha256 of the canonical ArchConfig JSON (dedupe key)
PARAMS = "params"
MACS = "macs"
FLOPS_FVCORE = "flops_fvcore"
ACTIVATIONS = "activations"
UNSUPPORTED_OPS = "unsupported_ops"
LATENCY_P50 = "latency_p50_ms"
LATENCY_P90 = "latency_p90_ms"
LATENCY_CV = "latency_cv"
LATENCY_NOISY = "latency_noisy"
LATENCY_PROTOCOL = "latency_protocol"  # dict: device, device_name, mode, dtype, batch size, threads, ...
DEVICE = "device"                  # human-readable device name the trial was measured on
PEAK_MEMORY = "peak_memory_bytes"
ACCURACY = "accuracy"              # validation accuracy in [0, 1] or a zero-cost score
ACCURACY_SOURCE = "accuracy_source"  # "proxy-train:<epochs>ep", "zero-cost:<name>" or "supernet-inherited:<file> ..."
VAL_CURVE = "val_curve"            # list of per-epoch validation accuracies
LOSS_CURVE = "loss_curve"
TRAIN_SECONDS = "train_seconds"
PROFILE_SECONDS = "profile_seconds"
IMAGES_PER_SECOND = "images_per_second"
STATUS = "status"                  # one of TRIAL_STATUSES
REASON = "reason"                  # why a trial was rejected, failed or pruned; None otherwise
REUSED_FROM = "reused_from"        # trial number whose figures were reused, or None
WORKBENCH_VERSION = "workbench_version"
KNOBS = "knobs"                    # dict of the sampled knob values, by knob name
# Uncertainty of the accuracy (issue: honest accuracy). None on a trial that was never scored.
ACCURACY_CI_LOW = "accuracy_ci_low"    # binomial (Wilson, 95%) interval from the validation size
ACCURACY_CI_HIGH = "accuracy_ci_high"
ACCURACY_SD = "accuracy_sd"            # seed sd when the space asks for `repeats` > 1, else None
ACCURACY_SAMPLES = "accuracy_samples"  # every seed's accuracy (one item without repeats)
VAL_SIZE = "val_size"                  # validation images behind the accuracy
# Written by `workbench confirm` onto the same trials (absent until confirmed).
CONFIRMED_ACCURACY = "confirmed_accuracy"  # mean over the confirmation seeds
CONFIRMED_SD = "confirmed_sd"
CONFIRMED_EPOCHS = "confirmed_epochs"
CONFIRMED_SAMPLES = "confirmed_samples"    # every seed's accuracy
# Fidelity ladder and zero-cost pre-screen (None on a trial of a space without them).
ACCURACY_BY_RUNG = "accuracy_by_rung"  # {"<rung>": accuracy at that rung}, e.g. {"1": 0.71, "3": 0.86}
RUNG = "rung"                          # the highest rung the trial was scored on (epochs or train fraction)
PRESCREEN_SCORE = "prescreen_score"    # the zero-cost proxy's score the pre-screen ranked it by
RUN_ID = "run_id"                      # which `workbench search` command ran the trial (host:pid:start:nonce)
TORCH_THREADS = "torch_threads"        # {"intra_op": n, "inter_op": m}: the worker's torch thread counts
# Every latency target of the space, by target name: {"p50_ms", "p90_ms", "cv", "noisy", "available",
# "reason", "protocol"}; the first target's figures are also the LATENCY_* keys above.
LATENCY_TARGETS = "latency_targets"
# The int8 model's accuracy on the validation split (spaces with an int8 target): {"accuracy",
# "ci_low", "ci_high", "fp32_accuracy", "drop", "drop_ci_low", "drop_ci_high", "val_size", "seed",
# "target", "calibration_images", "available", "reason"}.
INT8 = "int8"

TRIAL_KEYS: tuple[str, ...] = (
    ARCH_JSON, ARCH_HASH, PARAMS, MACS, FLOPS_FVCORE, ACTIVATIONS, UNSUPPORTED_OPS,
    LATENCY_P50, LATENCY_P90, LATENCY_CV, LATENCY_NOISY, LATENCY_PROTOCOL, DEVICE, PEAK_MEMORY,
    ACCURACY, ACCURACY_SOURCE, VAL_CURVE, LOSS_CURVE, TRAIN_SECONDS, PROFILE_SECONDS,
    IMAGES_PER_SECOND, STATUS, REASON, REUSED_FROM, WORKBENCH_VERSION, KNOBS,
    ACCURACY_CI_LOW, ACCURACY_CI_HIGH, ACCURACY_SD, ACCURACY_SAMPLES, VAL_SIZE,
    ACCURACY_BY_RUNG, RUNG, PRESCREEN_SCORE, RUN_ID, TORCH_THREADS, LATENCY_TARGETS, INT8,
)
# Statuses whose trials carry a measured accuracy; every other trial was never scored.
SCORED_STATUSES: tuple[str, ...] = ("complete", "reused")

# "stopped": scored on a lower rung of the ladder and not promoted; "screened": left out by the
# zero-cost pre-screen. Both end PRUNED in Optuna; neither has a full-fidelity accuracy.
TrialStatus = Literal["complete", "reused", "rejected", "failed", "pruned", "running", "stopped", "screened"]
TRIAL_STATUSES: tuple[str, ...] = ("complete", "reused", "rejected", "failed", "pruned", "running", "stopped",
                                   "screened")

# --- study user attributes ---------------------------------------------------------------
STUDY_SPACE_FILE = "space_file"
STUDY_SPACE_HASH = "space_hash"
STUDY_SPACE = "space"              # the validated SearchSpace as a dict
STUDY_DATASET = "dataset"
STUDY_DEVICE = "device"
STUDY_OBJECTIVES = "objectives"    # list of objective names, in the order of trial values
STUDY_BUDGETS = "budgets"          # dict: max_params, max_macs, max_latency_ms (None = unbounded)
STUDY_LATENCY_PROTOCOL = "latency_protocol"
STUDY_LATENCY_TARGETS = "latency_targets"     # {target name: its settings}, in the space's order
STUDY_WORKBENCH_VERSION = "workbench_version"
STUDY_NOISE_SD = "accuracy_noise_sd"          # pooled seed sd of the proxy accuracy (float)
STUDY_NOISE = "accuracy_noise"                # how it was measured: {"sd", "trials", "seeds", "samples"}
STUDY_FIDELITY_TAU = "fidelity_kendall_tau"   # {"tau", "low", "high", "n", "epochs", "seeds"} from confirm
# Study attr `confirm:<trial number>`: that trial's confirmation (Optuna refuses writes to finished trials).
STUDY_CONFIRM_PREFIX = "confirm:"
STUDY_RUNS = "workbench_runs"                 # run indices drawn so far (each run's sampler seed differs)

# A figure of one latency target as a frame column / objective / budget: "<name>:<target>".
TARGET_SEP = ":"
# Per-target figures: frame column -> key inside a LATENCY_TARGETS entry.
TARGET_FIGURES: dict[str, str] = {LATENCY_P50: "p50_ms", LATENCY_P90: "p90_ms", LATENCY_CV: "cv",
                                  LATENCY_NOISY: "noisy"}
# int8 figures as frame columns -> key inside the INT8 record.
INT8_COLUMNS: dict[str, str] = {
    "int8_accuracy": "accuracy", "int8_ci_low": "ci_low", "int8_ci_high": "ci_high",
    "int8_fp32_accuracy": "fp32_accuracy", "int8_drop": "drop", "int8_drop_ci_low": "drop_ci_low",
    "int8_drop_ci_high": "drop_ci_high",
}

# Constraint names passed to `trial.set_constraint` (value <= 0 means the budget holds).
CONSTRAINT_PARAMS = "max_params"
CONSTRAINT_MACS = "max_macs"
CONSTRAINT_LATENCY = "max_latency_ms"
