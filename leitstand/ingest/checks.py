"""Whether a message's readings fit: the checks ingest applies before it stores anything."""

from __future__ import annotations

import math
from datetime import datetime

from leitstand.devicetypes.spec import DeviceTypeSpec, MetricKind
from leitstand.ingest.message import LIVE_BACKFILL, BackfillPolicy, Reading, ReadingStatus, RejectReason


class Rejection(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# Timestamps outside a source's window around "now" (its BackfillPolicy) are refused: a
# device with a dead RTC must not write into 1970 or 2099 and poison rollups and retention.
def plausible_times(now: datetime, backfill: BackfillPolicy = LIVE_BACKFILL) -> tuple[datetime, datetime]:
    """The earliest and latest timestamp a reading received at `now` may carry under `backfill`."""
    return backfill.window(now)


MEASURED = ReadingStatus.measured
STATUSES = frozenset(ReadingStatus)


def check_reading(spec: DeviceTypeSpec, reading: Reading, times: tuple[datetime, datetime]) -> None:
    """Raise Rejection unless the reading fits its device type and a plausible time (`plausible_times`)."""
    key = spec.telemetry_by_key.get(reading.key)
    if key is None:
        raise Rejection(RejectReason.unknown_key, f"{spec.key} has no telemetry key {reading.key!r}")
    if not (times[0] <= reading.at <= times[1]):
        raise Rejection(RejectReason.bad_timestamp, f"timestamp {reading.at.isoformat()} is implausible")
    if reading.status is not MEASURED or reading.interval_end is not None:
        _check_batch_fields(reading, times)  # batch sources only: live readings skip it in one comparison
    value = reading.value
    if key.kind == MetricKind.state:
        if not isinstance(value, str) or (key.states and value not in key.states):
            raise Rejection(RejectReason.bad_value, f"{reading.key} must be one of {key.states}")
        return
    if key.kind == MetricKind.flag:
        if not isinstance(value, bool):
            raise Rejection(RejectReason.bad_value, f"{reading.key} must be true or false")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejection(RejectReason.bad_value, f"{reading.key} must be a number")
    if not math.isfinite(value):
        raise Rejection(RejectReason.bad_value, f"{reading.key} is not a finite number")
    if (key.minimum is not None and value < key.minimum) or (key.maximum is not None and value > key.maximum):
        raise Rejection(RejectReason.bad_value, f"{reading.key}={value} outside [{key.minimum}, {key.maximum}]")


def _check_batch_fields(reading: Reading, times: tuple[datetime, datetime]) -> None:
    if reading.status not in STATUSES:
        raise Rejection(RejectReason.bad_value, f"{reading.key}: unknown value status {reading.status!r}")
    end = reading.interval_end
    if end is None:
        return
    if not isinstance(end, datetime) or end.tzinfo is None or end.utcoffset() is None:
        raise Rejection(RejectReason.bad_timestamp, f"{reading.key}: the interval end needs a UTC offset")
    if not (reading.at < end <= times[1]):
        raise Rejection(RejectReason.bad_timestamp,
                        f"{reading.key}: interval {reading.at.isoformat()} to {end.isoformat()} is implausible")
