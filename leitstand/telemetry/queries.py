"""Reading time series: raw ranges, aggregates by interval, latest values, whole sites.

Every function takes a scoped session: the scope mechanism (leitstand.tenancy.scope)
adds the tenant criteria to each query, so a device the caller cannot see simply
has no data here.

Aggregates come in *buckets*: 5 or 15 minutes (computed from raw points), hours
(UTC), and calendar days and months in the tenant's time zone (read from the
rollups only, never from raw points, so a year of data is a few hundred rows). A
bucket belongs to a result if it overlaps the requested range, and it is always
whole. Bucket starts are returned as aware datetimes in the tenant's time zone,
e.g. 2026-03-29T00:00:00+01:00 for the 23-hour day of the spring DST change.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from leitstand.access.rules import path_within
from leitstand.ingest.message import ReadingStatus
from leitstand.devices.models import Device
from leitstand.sites.models import Site
from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup
from leitstand.telemetry.store import Period, bucket_start, zone

RAW_BATCH = 5000
MEASURED = ReadingStatus.measured.value


class Interval(enum.StrEnum):
    minutes_5 = "5m"
    minutes_15 = "15m"
    hour = "hour"
    day = "day"
    month = "month"
    auto = "auto"


SUB_HOUR_SECONDS = {Interval.minutes_5: 300, Interval.minutes_15: 900}
ROLLUP_PERIODS = {Interval.hour: Period.hour, Interval.day: Period.day, Interval.month: Period.month}

# `auto`: the finest interval that keeps a series at a few thousand buckets at most.
AUTO_STEPS: tuple[tuple[timedelta, Interval], ...] = (
    (timedelta(days=2), Interval.minutes_5),
    (timedelta(days=10), Interval.minutes_15),
    (timedelta(days=93), Interval.hour),
    (timedelta(days=3 * 366), Interval.day),
)


def pick_interval(start: datetime, end: datetime) -> Interval:
    span = end - start
    for longest, interval in AUTO_STEPS:
        if span <= longest:
            return interval
    return Interval.month


def resolve_interval(interval: Interval | str, start: datetime, end: datetime) -> Interval:
    interval = Interval(interval)
    return pick_interval(start, end) if interval == Interval.auto else interval


class RawValue(NamedTuple):
    """One stored point: a number (booleans read back as 0/1), or a text.

    status: measured, or what a batch source said (substitute, provisional, estimated);
    interval_end: the end of the interval the value covers (from `at`), if it covers one.
    A named tuple rather than a dataclass: a week of a building is 100 000s of them.
    """

    device_id: int
    key: str
    at: datetime
    value: float | str | None
    status: str = "measured"
    interval_end: datetime | None = None


class Bucket(NamedTuple):
    """Aggregates of one key of one device (None: of several devices) over one bucket."""

    device_id: int | None
    key: str
    start: datetime
    count: int
    sum: float
    min: float
    max: float
    last: float
    last_at: datetime

    @property
    def avg(self) -> float:
        return self.sum / self.count


def _value(num: float | None, txt: str | None) -> float | str | None:
    return num if num is not None else txt


# --- raw ----------------------------------------------------------------------------------


def _raw_statement(device_ids: Sequence[int], keys: Sequence[str] | None, start: datetime, end: datetime) -> Select:  # type: ignore[type-arg]
    point = TelemetryPoint
    statement = (
        select(point.device_id, point.key, point.ts, point.num, point.txt, point.status, point.interval_end)
        .where(point.device_id.in_(list(device_ids)), point.ts >= start, point.ts < end)
        .order_by(point.device_id, point.key, point.ts)
    )
    if keys:
        statement = statement.where(point.key.in_(list(keys)))
    return statement


def raw_points(
    db: Session, device_ids: Sequence[int], keys: Sequence[str] | None, start: datetime, end: datetime,
    limit: int | None = None,
) -> list[RawValue]:
    """Stored points with start <= at < end, ordered by device, key and time; all keys if keys is None."""
    statement = _raw_statement(device_ids, keys, start, end)
    if limit is not None:
        statement = statement.limit(limit)
    return [RawValue(d, k, ts, txt if num is None else num, status, until)
            for d, k, ts, num, txt, status, until in db.execute(statement)]


def unmeasured_points(db: Session, device_id: int, key: str, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """(at, status) of the points with start <= at < end that are not measured values (a batch
    source's substitute, provisional or estimated ones), oldest first. Rollups do not carry a
    status, so a chart of buckets asks here which of them hold such values."""
    point = TelemetryPoint
    return [(at, status) for at, status in db.execute(
        select(point.ts, point.status)
        .where(point.device_id == device_id, point.key == key, point.ts >= start, point.ts < end,
               point.status != MEASURED)
        .order_by(point.ts))]


def iter_raw_points(
    db: Session, device_ids: Sequence[int], keys: Sequence[str] | None, start: datetime, end: datetime,
) -> Iterator[RawValue]:
    """Like raw_points, fetched in batches: for exports of any length."""
    statement = _raw_statement(device_ids, keys, start, end).execution_options(yield_per=RAW_BATCH)
    for d, k, ts, num, txt, status, until in db.execute(statement):
        yield RawValue(d, k, ts, _value(num, txt), status, until)


# --- aggregates ---------------------------------------------------------------------------


def aggregate(
    db: Session, device_ids: Sequence[int], keys: Sequence[str] | None, start: datetime, end: datetime,
    interval: Interval | str, time_zone: str,
) -> list[Bucket]:
    """Numeric aggregates per device, key and bucket over every bucket overlapping [start, end).

    hour, day and month read the rollups only; 5m and 15m aggregate raw points. Text
    values have no aggregates. `time_zone` (the tenant's) places day and month
    boundaries and is the zone the bucket starts are returned in.
    """
    interval = resolve_interval(interval, start, end)
    if not device_ids:
        return []
    if interval in SUB_HOUR_SECONDS:
        buckets = _from_raw(db, device_ids, keys, start, end, SUB_HOUR_SECONDS[interval])
    else:
        buckets = _from_rollups(db, device_ids, keys, start, end, ROLLUP_PERIODS[interval], time_zone)
    local = zone(time_zone)
    return [bucket._replace(start=bucket.start.astimezone(local)) for bucket in buckets]


def _from_rollups(
    db: Session, device_ids: Sequence[int], keys: Sequence[str] | None, start: datetime, end: datetime,
    period: str, time_zone: str,
) -> Iterator[Bucket]:
    rollup = TelemetryRollup
    statement = (
        select(rollup.device_id, rollup.key, rollup.bucket_start, rollup.count, rollup.sum, rollup.min, rollup.max,
               rollup.last_value, rollup.last_ts)
        .where(
            rollup.device_id.in_(list(device_ids)),
            rollup.period == period,
            rollup.bucket_start >= bucket_start(period, start, time_zone),
            rollup.bucket_start < end,
        )
        .order_by(rollup.device_id, rollup.key, rollup.bucket_start)
    )
    if keys:
        statement = statement.where(rollup.key.in_(list(keys)))
    for row in db.execute(statement):
        yield Bucket(*row)


def _from_raw(
    db: Session, device_ids: Sequence[int], keys: Sequence[str] | None, start: datetime, end: datetime, width: int,
) -> Iterator[Bucket]:
    lower = _floor(start, width)
    upper = _floor(end, width)
    if upper < end:
        upper += timedelta(seconds=width)
    statement = _raw_statement(device_ids, keys, lower, upper).where(TelemetryPoint.num.is_not(None))
    current: list = []  # type: ignore[type-arg]
    for device_id, key, ts, num, *_ in db.execute(statement.execution_options(yield_per=RAW_BATCH)):
        bucket = _floor(ts, width)
        if current and (current[0], current[1], current[2]) == (device_id, key, bucket):
            current[3] += 1
            current[4] += num
            current[5] = min(current[5], num)
            current[6] = max(current[6], num)
            current[7], current[8] = num, ts  # rows come in time order
            continue
        if current:
            yield Bucket(*current)
        current = [device_id, key, bucket, 1, num, num, num, num, ts]
    if current:
        yield Bucket(*current)


def _floor(at: datetime, width: int) -> datetime:
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % width, UTC)


def combine(buckets: Iterable[Bucket]) -> list[Bucket]:
    """Merge buckets of several devices into one series per key: counts and sums add up,
    min and max over all, last from the device that reported last. avg = sum / count."""
    merged: dict[tuple[str, datetime], Bucket] = {}
    for bucket in buckets:
        slot = (bucket.key, bucket.start)
        seen = merged.get(slot)
        if seen is None:
            merged[slot] = Bucket(None, bucket.key, bucket.start, bucket.count, bucket.sum, bucket.min, bucket.max,
                                  bucket.last, bucket.last_at)
            continue
        newer = bucket if bucket.last_at > seen.last_at else seen
        merged[slot] = Bucket(None, bucket.key, seen.start, seen.count + bucket.count, seen.sum + bucket.sum,
                              min(seen.min, bucket.min), max(seen.max, bucket.max), newer.last, newer.last_at)
    return [merged[slot] for slot in sorted(merged)]


# --- latest -------------------------------------------------------------------------------


def latest_values(db: Session, device_ids: Sequence[int], keys: Sequence[str] | None = None) -> list[RawValue]:
    """The newest stored value of each key of each device, ordered by device and key.

    Each lookup is an index seek on (device_id, key, ts): the keys of a device are
    found by skipping through the index key by key rather than scanning its history.
    """
    point = TelemetryPoint
    latest: list[RawValue] = []
    for device_id in device_ids:
        for key in sorted(set(keys)) if keys else _keys_of(db, device_id):
            row = db.execute(
                select(point.ts, point.num, point.txt, point.status, point.interval_end)
                .where(point.device_id == device_id, point.key == key)
                .order_by(point.ts.desc())
                .limit(1)
            ).first()
            if row is not None:
                latest.append(RawValue(device_id, key, row.ts, _value(row.num, row.txt), row.status, row.interval_end))
    return latest


def _keys_of(db: Session, device_id: int) -> Iterator[str]:
    point = TelemetryPoint
    key = db.scalar(select(func.min(point.key)).where(point.device_id == device_id))
    while key is not None:
        yield key
        key = db.scalar(select(func.min(point.key)).where(point.device_id == device_id, point.key > key))


# --- sites --------------------------------------------------------------------------------


def site_device_ids(db: Session, site: Site) -> list[int]:
    """Every visible device at the site or anywhere below it (buildings, areas, rooms)."""
    below = select(Site.id).where(path_within(Site.path, site.path))
    return list(db.scalars(select(Device.id).where(Device.site_id.in_(below)).order_by(Device.id)))
