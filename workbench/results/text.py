"""Every sentence the search summary, the report and the dashboard share, written once: display
names, readable numbers, the latency protocol, the study's noise facts, a trial's accuracy with
its uncertainty, the best trial and the trials tied with it within noise.

Example:
    >>> human(12_345_678), human(0.95, "accuracy"), label("knob_width")
    ('12.3 M', '0.9500', 'width')
    >>> tie_text([3, 7, 5], 5)
    'tied with 2 others within noise (trials 3, 7); the cheapest of the tie is named'
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench import record
from workbench.errors import WorkbenchError
from workbench.record import Budgets, finite_number
from workbench.results.frame import KNOB_PREFIX, SCORED, status_counts
from workbench.results.picks import indistinguishable_from_best
from workbench.results.studies import StudyInfo

# Axis and hover names of the figures a trial carries (the DESIGN's naming: MACs are
# conv/linear multiply-accumulates, "fvcore FLOPs" is fvcore's total).
LABELS: dict[str, str] = {
    record.ACCURACY: "accuracy",
    record.CONFIRMED_ACCURACY: "confirmed accuracy",
    record.MACS: "MACs",
    record.PARAMS: "params",
    record.FLOPS_FVCORE: "fvcore FLOPs",
    record.LATENCY_P50: "latency p50 (ms)",
    record.LATENCY_P90: "latency p90 (ms)",
    record.LATENCY_CV: "latency CV",
    record.PEAK_MEMORY: "peak memory (bytes)",
    record.TRAIN_SECONDS: "train seconds",
    record.IMAGES_PER_SECOND: "images/s",
    "int8_accuracy": "int8 accuracy",
    "int8_drop": "int8 accuracy drop",
}
ACCURACY_COLUMNS = (record.ACCURACY, record.CONFIRMED_ACCURACY, record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH,
                    *record.INT8_COLUMNS)


def label(column: str) -> str:
    """The display name of a trials-frame column (`knob_width` -> `width`,
    `latency_p50_ms:ort-int8` -> `latency p50 (ms) on ort-int8`)."""
    if column.startswith(KNOB_PREFIX):
        return column[len(KNOB_PREFIX):]
    base, target = record.split_target(column)
    if target is not None and base in LABELS:
        return f"{LABELS[base]} on {target}"
    return LABELS.get(column, column)


def frame_label(frame: Any) -> Callable[[str], str]:
    """`label`, except that a predicted target's figures say so: `latency p50 (ms) on pi
    (predicted for pi5, not measured)` (the frame's `predicted_targets`).

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame()
        >>> frame.attrs["predicted_targets"] = {"pi": "pi5"}
        >>> frame_label(frame)("latency_p50_ms:pi")
        'latency p50 (ms) on pi (predicted for pi5, not measured)'
    """
    predicted = dict(getattr(frame, "attrs", {}).get("predicted_targets") or {})

    def name(column: str) -> str:
        target = record.split_target(column)[1]
        if target in predicted:
            return f"{label(column)} (predicted for {predicted[target]}, not measured)"
        return label(column)

    return name


def human(value: Any, column: str = "") -> str:
    """A short, readable number: 12.3 M MACs, 0.9512 accuracy, 4.21 ms; '–' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return str(value)
    value = float(value)
    if column in ACCURACY_COLUMNS:
        return f"{value:.4f}"
    if record.split_target(column)[0] in (record.LATENCY_P50, record.LATENCY_P90):
        return f"{value:.3g} ms"
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.4g}"


def protocol_text(protocol: Mapping[str, Any] | None) -> str:
    """'cpu (test-cpu), deploy, fp32, batch 1, 4 threads' from a recorded latency protocol."""
    if not protocol:
        return "not recorded"
    device = protocol.get("device", "?")
    name = protocol.get("device_name")
    parts = [f"{device} ({name})" if name and name != device else str(device)]
    for key, fmt in (("mode", "{}"), ("dtype", "{}"), ("batch_size", "batch {}"), ("threads", "{} threads"),
                     ("input_size", "{} px")):
        if protocol.get(key) is not None:
            parts.append(fmt.format(protocol[key]))
    return ", ".join(parts)


def noise_text(info: StudyInfo) -> str:
    """The study's seed noise: 'sd 0.0083 (0.83 points) over 4 trials × 3 seeds', or why not.

    Example:
        >>> from workbench.record import Budgets
        >>> info = StudyInfo("s", [], 0, {}, None, None, None, Budgets(), None, noise_sd=0.0083,
        ...                  noise={"trials": 4, "seeds": 3})
        >>> noise_text(info)
        'sd 0.0083 (0.83 points) over 4 trials × 3 seeds'
    """
    if info.noise_sd is None:
        return "not measured (set `noise: {trials: T, seeds: S}` in the space)"
    noise = info.noise or {}
    how = f" over {noise['trials']} trials × {noise['seeds']} seeds" if noise.get("trials") and noise.get("seeds") \
        else ""
    return f"sd {info.noise_sd:.4f} ({100 * info.noise_sd:.2f} points){how}"


def fidelity_text(info: StudyInfo) -> str:
    """The proxy-to-confirmed Kendall tau with its interval, or how to measure it.

    Example:
        >>> from workbench.record import Budgets
        >>> info = StudyInfo("s", [], 0, {}, None, None, None, Budgets(), None,
        ...                  fidelity={"tau": 0.62, "low": 0.31, "high": 0.85, "n": 12, "epochs": 15, "seeds": 3})
        >>> fidelity_text(info)
        'Kendall tau 0.62 (95% bootstrap interval 0.31 to 0.85), n = 12 trials re-scored at 15 epochs × 3 seeds'
    """
    fidelity = info.fidelity
    if not fidelity:
        return f"not measured (run `workbench confirm --study {info.name}`)"
    low, high = finite_number(fidelity.get("low")), finite_number(fidelity.get("high"))
    text = f"Kendall tau {float(fidelity['tau']):.2f}"
    if low is not None and high is not None:
        text += f" (95% bootstrap interval {low:.2f} to {high:.2f})"
    if fidelity.get("n"):
        text += f", n = {fidelity['n']} trials"
    if fidelity.get("epochs") and fidelity.get("seeds"):
        text += f" re-scored at {fidelity['epochs']:g} epochs × {fidelity['seeds']} seeds"
    return text


def accuracy_text(row: Mapping[str, Any]) -> str:
    """'0.9512 [0.9431, 0.9580], sd 0.0040 over 3 seeds' for a scored trial;
    'never scored (rejected)' for one that was not."""
    get = row.get
    if not bool(get(SCORED, True)) or finite_number(get(record.ACCURACY)) is None:
        return f"never scored ({get('status')})"
    text = human(get(record.ACCURACY), record.ACCURACY)
    low, high = finite_number(get(record.ACCURACY_CI_LOW)), finite_number(get(record.ACCURACY_CI_HIGH))
    if low is not None and high is not None:
        text += f" [{low:.4f}, {high:.4f}]"
    sd, samples = finite_number(get(record.ACCURACY_SD)), get(record.ACCURACY_SAMPLES)
    if sd is not None:
        text += f", sd {sd:.4f} over {len(samples) if isinstance(samples, list) else '?'} seeds"
    return text


def confirmed_text(row: Mapping[str, Any]) -> str | None:
    """'0.9630 ± 0.0031 (sd), 15 epochs × 3 seeds', or None when not confirmed."""
    accuracy = finite_number(row.get(record.CONFIRMED_ACCURACY))
    if accuracy is None:
        return None
    sd, epochs = finite_number(row.get(record.CONFIRMED_SD)), finite_number(row.get(record.CONFIRMED_EPOCHS))
    samples = row.get(record.CONFIRMED_SAMPLES)
    text = f"{accuracy:.4f}" + (f" ± {sd:.4f} (sd)" if sd is not None else "")
    parts = [f"{epochs:g} epochs" if epochs is not None else None,
             f"{len(samples)} seeds" if isinstance(samples, list) and samples else None]
    return text + (", " + " × ".join(p for p in parts if p) if any(parts) else "")


def latency_text(row: Mapping[str, Any], target: str | None = None) -> str:
    """The headline latency of a trial, naming its target: 'latency p50 0.31 ms on ort-cpu'
    (the plain first-target figure, unnamed, for a study without targets).

    Example:
        >>> latency_text({"latency_p50_ms": 3.0, "latency_p50_ms:ort-cpu": 0.31}, "ort-cpu")
        'latency p50 0.31 ms on ort-cpu'
    """
    if not target:
        return f"latency p50 {human(row.get(record.LATENCY_P50), record.LATENCY_P50)}"
    column = record.target_column(record.LATENCY_P50, target)
    return f"latency p50 {human(row.get(column), record.LATENCY_P50)} on {target}"


def trial_text(row: Mapping[str, Any], target: str | None = None) -> str:
    """One trial in a line of the report: 'trial 1: accuracy 0.9450 [0.9294, 0.9578], 6.7 M MACs,
    ...' (with its confirmation when it has one); the latency is `target`'s (`latency_text`).

    Example:
        >>> trial_text({"number": 3, "accuracy": 0.95, "macs": 6.7e6, "params": 4.5e4, "latency_p50_ms": 3.0})
        'trial 3: accuracy 0.9500, 6.7 M MACs, 45 k params, latency p50 3 ms'
    """
    confirmed = confirmed_text(row)
    return (f"trial {int(row['number'])}: accuracy {accuracy_text(row)}"
            + (f" (confirmed {confirmed})" if confirmed else "")
            + f", {human(row.get(record.MACS))} MACs, {human(row.get(record.PARAMS))} params, "
            + latency_text(row, target))


def pick_text(row: Mapping[str, Any], by: str = "proxy", target: str | None = None) -> str:
    """A picked trial as the dashboard names it: 'trial 1 — accuracy 0.9450 [...], MACs 6.7 M, ...';
    with `by="confirmed"` the confirmed accuracy leads; the latency is `target`'s.

    Example:
        >>> pick_text({"number": 3, "accuracy": 0.95, "macs": 6.7e6, "params": 4.5e4, "latency_p50_ms": 3.0})
        'trial 3 — accuracy 0.9500, MACs 6.7 M, params 45 k, latency p50 3 ms'
    """
    accuracy = accuracy_text(row)
    if by == "confirmed":
        accuracy = f"confirmed {confirmed_text(row)} (proxy {accuracy})"
    return (f"trial {int(row['number'])} — accuracy {accuracy}, "
            f"MACs {human(row.get(record.MACS))}, params {human(row.get(record.PARAMS))}, "
            + latency_text(row, target))


def tie_text(tied: Sequence[int], number: int) -> str:
    """The one sentence for a best trial tied within noise: 'tied with 2 others within noise
    (trials 3, 7); the cheapest of the tie is named', '' when `number` is tied with nobody.

    Example:
        >>> tie_text([1, 0], 1), tie_text([1], 1)
        ('tied with 1 other within noise (trial 0); the cheapest of the tie is named', '')
    """
    others = sorted(int(n) for n in tied if int(n) != number)
    if not others:
        return ""
    plural = "s" if len(others) > 1 else ""
    return (f"tied with {len(others)} other{plural} within noise (trial{plural} {', '.join(map(str, others))}); "
            "the cheapest of the tie is named")


def tie_note(frame: pd.DataFrame, budgets: Budgets | None, number: int, by: str = "proxy") -> str:
    """`tie_text` for trial `number`, the best under `budgets` ('' when nothing can be ranked)."""
    try:
        tied = indistinguishable_from_best(frame, budgets, by=by)
    except WorkbenchError:
        return ""
    return tie_text(tied["number"].tolist(), number)


def best_text(row: Mapping[str, Any] | None, note: str, target: str | None = None) -> str:
    """The best trial and its tie note (`trial_text; tie_text`), or why there is none."""
    if row is None:
        return note
    return trial_text(row, target) + (f"; {note}" if note else "")


def statuses_text(frame: pd.DataFrame) -> str:
    """'6 complete, 1 reused, 2 rejected (never scored)' or 'no trials'.

    Example:
        >>> statuses_text(pd.DataFrame({"status": ["complete", "rejected"], "scored": [True, False]}))
        '1 complete, 1 rejected (never scored)'
    """
    return ", ".join(f"{n} {name}" for name, n in status_counts(frame).items()) or "no trials"


def progress_text(best: Mapping[str, Any]) -> str:
    """The best trial so far, as the search's progress bar shows it.

    Example:
        >>> progress_text({"number": 7, "accuracy": 0.9312, "macs": 1.19e6, "latency_ms": 2.87,
        ...                "latency_target": "ort-cpu"})
        'best acc=0.9312 (#7) macs=1.19M lat=2.87ms (ort-cpu)'
    """
    parts = [f"best acc={best['accuracy']:.4g} (#{best['number']})"]
    if best.get("macs") is not None:
        parts.append(f"macs={best['macs'] / 1e6:.2f}M")
    if best.get("latency_ms") is not None:
        target = best.get("latency_target")
        parts.append(f"lat={best['latency_ms']:.2f}ms" + (f" ({target})" if target else ""))
    return " ".join(parts)
