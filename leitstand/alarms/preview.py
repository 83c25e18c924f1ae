"""Where a threshold rule would have fired on stored telemetry: the rule builder's preview.

Mirrors `Evaluation.threshold_value` (duration and hysteresis included) on a series of
readings, without touching any rule state, so the preview shows what the engine would do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from leitstand.alarms.rules import Threshold


def is_beyond(threshold: Threshold, value: float) -> bool:
    return value > threshold.value if threshold.operator == ">" else value < threshold.value


def firing_times(readings: Iterable[tuple[datetime, float]], threshold: Threshold) -> list[datetime]:
    """The moments the rule would have raised an alarm, for readings in time order."""
    fired: list[datetime] = []
    raised, pending_since = False, None
    for at, value in readings:
        if raised:
            recovered = (value <= threshold.value - threshold.hysteresis if threshold.operator == ">"
                         else value >= threshold.value + threshold.hysteresis)
            if recovered:
                raised, pending_since = False, None
            continue
        if not is_beyond(threshold, value):
            pending_since = None
            continue
        pending_since = pending_since or at
        if at - pending_since >= timedelta(seconds=threshold.duration_seconds):
            raised = True
            fired.append(at)
    return fired
