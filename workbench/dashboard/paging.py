"""The trial table on the server side: filter, sort and cut one page, so the browser receives
fifty rows of a 10,000-trial study rather than all of them.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"number": range(7), "state": ["COMPLETE"] * 6 + ["FAIL"], "reason": [None] * 7})
    >>> shown = filter_trials(frame, states=["COMPLETE"])
    >>> page(shown, sort="number", descending=True, number=2, size=4)["number"].tolist()
    [1, 0]
    >>> pages(len(shown), 4)
    2
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

# Columns the free-text filter searches (knob columns are added): what a person types for.
TEXT_COLUMNS = ("number", "state", "status", "reason", "device")


def search_text(frame: pd.DataFrame) -> pd.Series:
    """One lower-case string per row from its number, state, status, reason, device and knobs:
    what the text filter matches against (worth caching per read of the study)."""
    columns = [c for c in frame.columns if c in TEXT_COLUMNS or c.startswith("knob_")]
    if frame.empty or not columns:
        return pd.Series("", index=frame.index, dtype=object)
    text = _strings(frame[columns[0]])
    for column in columns[1:]:
        text = text + " " + column.removeprefix("knob_") + "=" + _strings(frame[column])
    return text.str.lower()


def _strings(column: pd.Series) -> pd.Series:
    """Each value as text, missing ones as '' (pandas' `astype(str)` keeps them missing)."""
    return column.map(lambda v: "" if pd.isna(v) is True else str(v)).astype(object)


def filter_trials(frame: pd.DataFrame, states: Sequence[str] = (), statuses: Sequence[str] = (), text: str = "",
                  haystack: pd.Series | None = None) -> pd.DataFrame:
    """The rows whose state is one of `states` and status one of `statuses` (empty: any) and
    whose `search_text` contains `text` (case-insensitive)."""
    keep = pd.Series(True, index=frame.index)
    if states:
        keep &= frame["state"].isin(states)
    if statuses:
        keep &= frame["status"].astype(str).isin(statuses)
    if text.strip():
        haystack = search_text(frame) if haystack is None else haystack
        keep &= haystack.reindex(frame.index).str.contains(text.strip().lower(), regex=False)
    return frame[keep]


def pages(n_rows: int, size: int) -> int:
    """How many pages `n_rows` fill (at least one)."""
    return max(1, math.ceil(n_rows / size))


def page(frame: pd.DataFrame, sort: str = "number", descending: bool = False, number: int = 1,
         size: int = 50) -> pd.DataFrame:
    """Page `number` (from 1; clamped to the last) of `frame` sorted by `sort` (missing values
    last, ties by trial number)."""
    keys = [sort] if sort == "number" or "number" not in frame else [sort, "number"]
    ordered = frame.sort_values(keys, ascending=[not descending] + [True] * (len(keys) - 1), na_position="last",
                                kind="stable")
    number = min(max(1, number), pages(len(frame), size))
    return ordered.iloc[(number - 1) * size: number * size]
