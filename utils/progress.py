"""How long long work has left: the estimate in the trainer's and the search's log lines."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """``seconds`` as ``45s``, ``12m05s`` or ``3h07m`` (``?`` when unknown: NaN, infinite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def remaining_seconds(done: float, total: float, seconds_spent: float) -> float:
    """Seconds until ``total`` units are done at the pace so far (``done`` units in
    ``seconds_spent``); NaN before any unit is done."""
    if done <= 0:
        return math.nan
    return max(total - done, 0) * seconds_spent / done
