"""What every figure and page of a study shares: display names, readable numbers, the
latency protocol, the study's noise facts and the hover text of a trial.

Example:
    >>> human(12_345_678), human(0.95, "accuracy"), label("knob_width")
    ('12.3 M', '0.9500', 'width')
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench import record, results

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
}
ACCURACY_COLUMNS = (record.ACCURACY, record.CONFIRMED_ACCURACY, record.ACCURACY_CI_LOW, record.ACCURACY_CI_HIGH)
TEMPLATE = "plotly_white"


def label(column: str) -> str:
    """The display name of a trials-frame column (`knob_width` -> `width`)."""
    if column.startswith(results.KNOB_PREFIX):
        return column[len(results.KNOB_PREFIX):]
    return LABELS.get(column, column)


def human(value: Any, column: str = "") -> str:
    """A short, readable number: 12.3 M MACs, 0.9512 accuracy, 4.21 ms; '–' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return str(value)
    value = float(value)
    if column in ACCURACY_COLUMNS:
        return f"{value:.4f}"
    if column in (record.LATENCY_P50, record.LATENCY_P90):
        return f"{value:.3g} ms"
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.4g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        return None
    return float(value)


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


def noise_text(info: results.StudyInfo) -> str:
    """The study's seed noise: 'sd 0.0083 (0.83 points) over 4 trials × 3 seeds', or why not.

    Example:
        >>> from workbench.results import Budgets, StudyInfo
        >>> info = StudyInfo("s", [], 0, {}, None, None, None, Budgets(), None, noise_sd=0.0083,
        ...                  noise={"trials": 4, "seeds": 3})
        >>> noise_text(info)
        'sd 0.0083 (0.83 points) over 4 trials × 3 seeds'
    """
    if info.noise_sd is None:
        return "not measured (set `noise: {trials: T, seeds: S}` in the space)"
    noise = info.noise or {}
    how = f" over {noise['trials']} trials × {noise['seeds']} seeds" if noise.get("trials") and noise.get("seeds") else ""
    return f"sd {info.noise_sd:.4f} ({100 * info.noise_sd:.2f} points){how}"


def fidelity_text(info: results.StudyInfo) -> str:
    """The proxy-to-confirmed Kendall tau with its interval, or how to measure it.

    Example:
        >>> from workbench.results import Budgets, StudyInfo
        >>> info = StudyInfo("s", [], 0, {}, None, None, None, Budgets(), None,
        ...                  fidelity={"tau": 0.62, "low": 0.31, "high": 0.85, "n": 12, "epochs": 15, "seeds": 3})
        >>> fidelity_text(info)
        'Kendall tau 0.62 (95% bootstrap interval 0.31 to 0.85), n = 12 trials re-scored at 15 epochs × 3 seeds'
    """
    fidelity = info.fidelity
    if not fidelity:
        return f"not measured (run `workbench confirm --study {info.name}`)"
    low, high = _number(fidelity.get("low")), _number(fidelity.get("high"))
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
    if not bool(get(results.SCORED, True)) or _number(get(record.ACCURACY)) is None:
        return f"never scored ({get('status')})"
    text = human(get(record.ACCURACY), record.ACCURACY)
    low, high = _number(get(record.ACCURACY_CI_LOW)), _number(get(record.ACCURACY_CI_HIGH))
    if low is not None and high is not None:
        text += f" [{low:.4f}, {high:.4f}]"
    sd, samples = _number(get(record.ACCURACY_SD)), get(record.ACCURACY_SAMPLES)
    if sd is not None:
        text += f", sd {sd:.4f} over {len(samples) if isinstance(samples, list) else '?'} seeds"
    return text


def confirmed_text(row: Mapping[str, Any]) -> str | None:
    """'0.9630 ± 0.0031 (sd), 15 epochs × 3 seeds', or None when not confirmed."""
    accuracy = _number(row.get(record.CONFIRMED_ACCURACY))
    if accuracy is None:
        return None
    sd, epochs, samples = _number(row.get(record.CONFIRMED_SD)), _number(row.get(record.CONFIRMED_EPOCHS)), row.get(record.CONFIRMED_SAMPLES)
    text = f"{accuracy:.4f}" + (f" ± {sd:.4f} (sd)" if sd is not None else "")
    parts = [f"{epochs:g} epochs" if epochs is not None else None,
             f"{len(samples)} seeds" if isinstance(samples, list) and samples else None]
    return text + (", " + " × ".join(p for p in parts if p) if any(parts) else "")


def _knob_text(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def hover_texts(frame: pd.DataFrame, protocol: Mapping[str, Any] | None = None) -> list[str]:
    """One hover text per row: trial number and status, the accuracy with its interval (or
    that it was never scored), the confirmation, every cost figure, the knobs, the reason a
    trial was rejected, and the latency protocol."""
    knobs = [c for c in frame.columns if c.startswith(results.KNOB_PREFIX)]
    protocol_line = f"protocol: {protocol_text(protocol)}" if protocol else ""
    texts = []
    for row in frame.to_dict("records"):
        get = row.get
        lines = [
            f"<b>trial {int(get('number'))}</b> ({get('status')})",
            f"accuracy {accuracy_text(row)}",
            f"MACs {human(get(record.MACS))} · params {human(get(record.PARAMS))} · fvcore FLOPs {human(get(record.FLOPS_FVCORE))}",
            f"latency p50 {human(get(record.LATENCY_P50), record.LATENCY_P50)} · p90 "
            f"{human(get(record.LATENCY_P90), record.LATENCY_P90)} · CV {human(get(record.LATENCY_CV))}"
            f" · peak memory {human(get(record.PEAK_MEMORY))}B",
        ]
        confirmed = confirmed_text(row)
        if confirmed:
            lines.insert(2, f"confirmed {confirmed}")
        if knobs:
            lines.append("knobs: " + ", ".join(f"{label(k)}={_knob_text(get(k))}" for k in knobs))
        if isinstance(get("reason"), str) and get("reason"):
            lines.append(f"reason: {get('reason')}")
        device = get(record.DEVICE)
        lines.append(protocol_line or (f"device: {device}" if device else "protocol: not recorded"))
        texts.append("<br>".join(lines))
    return texts


def note(fig: go.Figure, text: str) -> None:
    """A grey message in the middle of an empty figure."""
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16, "color": "#666"})
