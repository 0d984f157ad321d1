"""What every figure of a study shares: the plotly template, a note on an empty figure and the
hover text of a trial (its sentences come from `workbench.results.text`)."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd
import plotly.graph_objects as go

from workbench import record
from workbench.results import KNOB_PREFIX, accuracy_text, confirmed_text, human, label, protocol_text

TEMPLATE = "plotly_white"


def _knob_text(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def hover_texts(frame: pd.DataFrame, protocol: Mapping[str, Any] | None = None) -> list[str]:
    """One hover text per row: trial number and status, the accuracy with its interval (or
    that it was never scored), the confirmation, every cost figure, the knobs, the reason a
    trial was rejected, and the latency protocol."""
    knobs = [c for c in frame.columns if c.startswith(KNOB_PREFIX)]
    protocol_line = f"protocol: {protocol_text(protocol)}" if protocol else ""
    texts = []
    for row in frame.to_dict("records"):
        get = row.get
        lines = [
            f"<b>trial {int(get('number'))}</b> ({get('status')})",
            f"accuracy {accuracy_text(row)}",
            f"MACs {human(get(record.MACS))} · params {human(get(record.PARAMS))} · "
            f"fvcore FLOPs {human(get(record.FLOPS_FVCORE))}",
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
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font={"size": 16, "color": "#666"})
