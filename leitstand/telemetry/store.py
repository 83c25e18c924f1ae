"""Writing time series: points in batches, rollups kept up to date as they arrive or a moment later.

A *point* is one value of one telemetry key of one device at one instant. A batch
of points goes through a temporary staging table into `telemetry` with
`INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`, so a point already stored
(same device, key and timestamp) is skipped and only the points really inserted
reach the rollups. A message delivered twice (MQTT QoS 1 redelivery, an HTTP retry)
therefore changes nothing.

*Rollups* are count, sum, min, max and the last value per device, key and bucket:
hours in UTC, days and months as calendar buckets in the tenant's time zone. A
bucket's `bucket_start` is the local midnight (or first of the month) converted to
UTC, so a local day is 23 or 25 hours long across a daylight-saving change. Only
numbers and booleans (as 0/1) are rolled up; text values are stored raw only.

*Deferred rollups* (PostgreSQL, `write_points(..., defer_rollups=True)`, which ingest
uses unless `telemetry_rollups = "immediate"`): the insert statement appends the new
numeric points to `telemetry_rollup_queue`, in the same transaction, instead of
upserting three rollup rows per point; a duplicate never gets there. A
`RollupDrainer` (leitstand.telemetry.drainer, in every process on PostgreSQL) calls
`drain_rollup_queue` every `rollup_drain_seconds`: one process at a time (an advisory
lock) removes queued points and merges them with one upsert per bucket. So the
aggregates of the last few seconds lag the raw data by up to `rollup_drain_seconds`
(plus the drain's own time); raw points and live state are immediate. The queue is a
logged table: pending work survives a crash. On SQLite rollups are always immediate.

On PostgreSQL `telemetry` is partitioned by month (`telemetry_YYYY_MM`, UTC month
boundaries); `ensure_partitions` creates the partitions a batch needs.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from sqlalchemy import Connection, delete, text
from sqlalchemy.exc import DBAPIError

from leitstand.ingest.message import ReadingStatus
from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup, TelemetryRollupQueue

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 64
MAX_TEXT_LENGTH = 200
STAGING = "telemetry_staging"
DEFAULT_PARTITION = "telemetry_default"
# Partitions are made for plausible months only; anything else lands in the default partition.
PARTITION_YEARS = range(2000, 2200)
# Creating a partition needs an exclusive lock on `telemetry`; ingest must not queue behind it for long.
PARTITION_LOCK_TIMEOUT = "2s"

Value = float | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one key of one device at one instant.

    at: timezone-aware; stored as UTC. For a value over an interval, the interval's start.
    time_zone: the IANA zone of the device's tenant; it decides the day and month buckets.
    status: a ReadingStatus; interval_end: the interval's end, timezone-aware, or None.
    """

    device_id: int
    key: str
    at: datetime
    value: Value
    time_zone: str
    status: str = ReadingStatus.measured
    interval_end: datetime | None = None


class Period:
    hour = "hour"
    day = "day"
    month = "month"


PERIODS = (Period.hour, Period.day, Period.month)


# --- buckets ------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@lru_cache(maxsize=8192)
def _local_midnight(zone_name: str, year: int, month: int, day: int) -> datetime:
    # fold=0: where midnight is skipped (a DST gap) this yields the gap's start, which is
    # where the local day really begins; where it repeats, the first of the two.
    return datetime(year, month, day, tzinfo=zone(zone_name)).astimezone(UTC)


def local_midnight(day: date, zone_name: str) -> datetime:
    """The UTC instant at which a local calendar day begins."""
    return _local_midnight(zone_name, day.year, day.month, day.day)


def day_start(at: datetime, zone_name: str) -> datetime:
    """The UTC instant at which the local calendar day containing `at` begins."""
    local = at.astimezone(zone(zone_name))
    return _local_midnight(zone_name, local.year, local.month, local.day)


def month_start(at: datetime, zone_name: str) -> datetime:
    """The UTC instant at which the local calendar month containing `at` begins."""
    local = at.astimezone(zone(zone_name))
    return _local_midnight(zone_name, local.year, local.month, 1)


def bucket_start(period: str, at: datetime, zone_name: str) -> datetime:
    if period == Period.hour:
        return hour_start(at)
    if period == Period.day:
        return day_start(at, zone_name)
    if period == Period.month:
        return month_start(at, zone_name)
    raise ValueError(f"unknown period {period!r}")


def next_bucket_start(period: str, start: datetime, zone_name: str) -> datetime:
    """The start of the bucket after the one starting at `start`."""
    if period == Period.hour:
        return start + timedelta(hours=1)
    local = start.astimezone(zone(zone_name))
    if period == Period.day:
        following = local.date() + timedelta(days=1)
        return _local_midnight(zone_name, following.year, following.month, following.day)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return _local_midnight(zone_name, year, month, 1)


# --- validation ---------------------------------------------------------------------------


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or "\x00" in key:
        raise ValueError(f"telemetry key {key!r} must be 1 to {MAX_KEY_LENGTH} characters without NUL")


def _check_zone(point: Point) -> None:
    try:
        zone(point.time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"point {point.key!r} has an unknown time zone {point.time_zone!r}") from error


def _utc(point: Point) -> datetime:
    at = point.at
    if at.__class__ is datetime and at.tzinfo is UTC:
        return at  # the common case: ingest parses timestamps as UTC
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"point {point.key!r} needs a timezone-aware timestamp, got {at!r}")
    return at.astimezone(UTC)


def _value_columns(point: Point) -> tuple[float | None, str | None]:
    """(num, txt) for a point's value; raises ValueError for what must never reach the store."""
    value = point.value
    if isinstance(value, bool):
        return (1.0 if value else 0.0), None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ValueError(f"point {point.key!r} has a non-finite value {value!r}")
        return number, None
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH or "\x00" in value:
            raise ValueError(f"text value of {point.key!r} must be at most {MAX_TEXT_LENGTH} characters without NUL")
        return None, value
    raise ValueError(f"point {point.key!r} has an unsupported value type {type(value).__name__}")


# (device_id, key, ts in UTC, num, txt, zone): a point as the staging table holds it.
Row = tuple[int, str, datetime, float | None, str | None, str]
Slot = tuple[int, str, datetime]  # (device_id, key, ts in UTC)
# (status, interval end in UTC) of a point that is not a plain measured value at an instant.
Extra = tuple[str, datetime | None]
PLAIN: Extra = (ReadingStatus.measured.value, None)
MEASURED = ReadingStatus.measured
STATUSES = frozenset(ReadingStatus)


class Staged(NamedTuple):
    rows: dict[Slot, Row]  # by (device_id, key, ts)
    months: set[tuple[int, int]]  # (year, month) in UTC
    zones: set[str]
    # Status and interval end by slot, for the few points (from batch sources) that have them:
    # a batch without any is written exactly as before these columns existed.
    extras: dict[Slot, Extra]


def _staged_rows(points: Iterable[Point]) -> Staged:
    """The batch validated, in UTC, without repeats, with the UTC months and zones it touches.

    The first of two points with the same device, key and instant wins, as in the table.
    Raises ValueError for a bad point. This runs for every point of every message: keys
    and zones are checked once per batch, and a UTC timestamp and a plain float (most
    points) take the shortest way.
    """
    staged: dict[Slot, Row] = {}
    extras: dict[Slot, Extra] = {}
    months: set[tuple[int, int]] = set()
    keys: set[str] = set()
    zones: set[str] = set()
    isfinite = math.isfinite
    previous: object = staged  # anything that is no point's timestamp
    at = datetime.min
    for point in points:
        key, value, zone_name = point.key, point.value, point.time_zone
        if key not in keys:
            _check_key(key)
            keys.add(key)
        if zone_name not in zones:
            _check_zone(point)
            zones.add(zone_name)
        if point.at is not previous:  # the readings of one message share their timestamp
            previous, at = point.at, _utc(point)
            months.add((at.year, at.month))
        if value.__class__ is float and isfinite(value):
            num, txt = value, None
        else:
            num, txt = _value_columns(point)
        slot = (point.device_id, key, at)
        if slot not in staged:
            staged[slot] = (point.device_id, key, at, num, txt, zone_name)
            if point.status is not MEASURED or point.interval_end is not None:
                extra = _extra(point)
                if extra != PLAIN:
                    extras[slot] = extra
    return Staged(staged, months, zones, extras)


def _extra(point: Point) -> Extra:
    status, end = point.status, point.interval_end
    if status not in STATUSES:
        raise ValueError(f"point {point.key!r} has an unknown status {status!r}")
    if end is not None:
        if not isinstance(end, datetime) or end.tzinfo is None or end.utcoffset() is None:
            raise ValueError(f"point {point.key!r} needs a timezone-aware interval end, got {end!r}")
        end = end.astimezone(UTC)
    return str(status), end


# --- writing ------------------------------------------------------------------------------


def write_points(connection: Connection, points: Sequence[Point], *, defer_rollups: bool = False) -> int:
    """Store a batch of points in the caller's transaction and roll up the new ones.

    Returns how many points were newly inserted; points already stored are skipped
    and never reach the rollups. Raises ValueError (before writing anything) for a
    non-finite number, a naive timestamp, an unknown time zone or an oversized value.
    The caller commits.

    defer_rollups: on PostgreSQL, the new numeric points go to `telemetry_rollup_queue`
    instead of the rollups (see `drain_rollup_queue`). Ignored on SQLite, which has one
    writer anyway and rolls up at once.
    """
    staged, months, zones, extras = _staged_rows(points)
    if not staged:
        return 0
    if connection.dialect.name == "postgresql":
        ensure_partitions(connection, months)
        if defer_rollups:
            _check_zones_on_server(connection, zones)
            copied = _copy_new_points_postgresql(connection, staged.values(), extras)
            if copied is not None:
                return copied
        # The database rolls up (or queues) what it inserted, in the same statement: far
        # cheaper than returning every row to Python and sending the buckets back.
        follow_up = _PG_QUEUE_FROM_INSERTED if defer_rollups else _PG_ROLLUP_FROM_INSERTED
        return _insert_postgresql(connection, staged.values(), follow_up, extras)
    inserted = _insert_sqlite(connection, staged, extras)
    _upsert_rollups(connection, [staged[slot] for slot in inserted])
    return len(inserted)


# A batch without status or interval end leaves those columns to their defaults.
_COLUMNS = "device_id, key, ts, num, txt"
_EXTRA_COLUMNS = "status, interval_end"
_COLUMNS_WITH_EXTRAS = f"{_COLUMNS}, {_EXTRA_COLUMNS}"


def _insert_from_staging(extras: bool) -> str:
    columns = _COLUMNS_WITH_EXTRAS if extras else _COLUMNS
    return (f"INSERT INTO telemetry ({columns})"
            f" SELECT {columns} FROM {STAGING} WHERE true"  # WHERE: SQLite's upsert parsing needs it
            f" ON CONFLICT DO NOTHING RETURNING device_id, key, ts")


_PG_CREATE_STAGING = (
    # Session-local and emptied at every commit; created once per database connection.
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (device_id integer, key varchar(64),"
    f" ts timestamptz, num double precision, txt varchar(200), zone varchar(64),"
    f" status varchar(12) NOT NULL DEFAULT 'measured', interval_end timestamptz) ON COMMIT DELETE ROWS;"
    f" DELETE FROM {STAGING}"  # a second batch in the same transaction
)
_PG_COPY_STAGING = f"COPY {STAGING} (device_id, key, ts, num, txt, zone) FROM STDIN (FORMAT BINARY)"
_PG_COPY_STAGING_WITH_EXTRAS = (f"COPY {STAGING} (device_id, key, ts, num, txt, zone, {_EXTRA_COLUMNS})"
                                " FROM STDIN (FORMAT BINARY)")
_PG_COPY_TYPES = ["int4", "varchar", "timestamptz", "float8", "varchar", "varchar"]
_PG_EXTRA_TYPES = ["varchar", "timestamptz"]


_PG_COPY_TELEMETRY = f"COPY telemetry ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_PG_COPY_TELEMETRY_WITH_EXTRAS = f"COPY telemetry ({_COLUMNS_WITH_EXTRAS}) FROM STDIN (FORMAT BINARY)"
_PG_COPY_QUEUE = "COPY telemetry_rollup_queue (device_id, key, ts, num, zone) FROM STDIN (FORMAT BINARY)"
_PG_COPY_POINT_TYPES = ["int4", "varchar", "timestamptz", "float8", "varchar"]


def _copy_new_points_postgresql(connection: Connection, rows: Collection[Row],
                                extras: dict[Slot, Extra] | None = None) -> int | None:
    """Deferred rollups: COPY the batch straight into `telemetry` and the queue.

    Nearly every batch is new points, and two COPYs cost PostgreSQL about 40 % less than
    staging plus INSERT … ON CONFLICT. A point stored before (a redelivery after a crash)
    makes the COPY fail on the primary key: then the savepoint is rolled back, nothing of
    the attempt remains, and None tells the caller to take the ON CONFLICT way.
    """
    driver = connection.connection.driver_connection  # psycopg 3, inside the caller's transaction
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute("SAVEPOINT telemetry_copy")
        try:
            if extras:
                with cursor.copy(_PG_COPY_TELEMETRY_WITH_EXTRAS) as copy:
                    copy.set_types(_PG_COPY_POINT_TYPES + _PG_EXTRA_TYPES)
                    for device_id, key, at, num, txt, _zone in rows:
                        copy.write_row((device_id, key, at, num, txt, *extras.get((device_id, key, at), PLAIN)))
            else:
                with cursor.copy(_PG_COPY_TELEMETRY) as copy:
                    copy.set_types(_PG_COPY_POINT_TYPES)
                    write_row = copy.write_row
                    for device_id, key, at, num, txt, _zone in rows:
                        write_row((device_id, key, at, num, txt))
            with cursor.copy(_PG_COPY_QUEUE) as copy:
                copy.set_types(_PG_COPY_POINT_TYPES)
                write_row = copy.write_row
                for device_id, key, at, num, _txt, zone_name in rows:
                    if num is not None:
                        write_row((device_id, key, at, num, zone_name))
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT telemetry_copy")
            log.debug("batch holds points stored before; inserting it with ON CONFLICT")
            return None
        cursor.execute("RELEASE SAVEPOINT telemetry_copy")
        return len(rows)


def _insert_postgresql(connection: Connection, rows: Iterable[Row], follow_up: str,
                       extras: dict[Slot, Extra] | None = None) -> int:
    """COPY the rows into staging, then one statement: insert into `telemetry`, skipping what
    is stored, and hand the inserted rows (the CTE `inserted`) to `follow_up`."""
    driver = connection.connection.driver_connection  # psycopg 3, inside the caller's transaction
    columns = _COLUMNS_WITH_EXTRAS if extras else _COLUMNS
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_PG_CREATE_STAGING)
        if extras:
            with cursor.copy(_PG_COPY_STAGING_WITH_EXTRAS) as copy:
                copy.set_types(_PG_COPY_TYPES + _PG_EXTRA_TYPES)
                for row in rows:
                    copy.write_row((*row, *extras.get((row[0], row[1], row[2]), PLAIN)))
        else:
            with cursor.copy(_PG_COPY_STAGING) as copy:
                copy.set_types(_PG_COPY_TYPES)
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        cursor.execute(
            f"WITH inserted AS (INSERT INTO telemetry ({columns})"
            f" SELECT {columns} FROM {STAGING}"
            f" ON CONFLICT DO NOTHING RETURNING device_id, key, ts, num), "
            + follow_up
            + " SELECT count(*) FROM inserted"
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def _sqlite_times(connection: Connection) -> Callable[[datetime], str]:
    """The exact text form SQLAlchemy writes for a UTC time on SQLite (stored times compare
    correctly as strings), memoised for one batch: its points share timestamps and its
    rollup rows share bucket starts, and each conversion costs microseconds."""
    dialect = connection.dialect
    convert = TelemetryPoint.__table__.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
    assert convert is not None
    texts: dict[datetime, str] = {}

    def text_of(at: datetime) -> str:
        found = texts.get(at)
        if found is None:
            found = texts[at] = convert(at)
        return found

    return text_of


def _insert_sqlite(connection: Connection, staged: dict[Slot, Row],
                   extras: dict[Slot, Extra] | None = None) -> list[Slot]:
    text_of = _sqlite_times(connection)
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (device_id INTEGER, key TEXT, ts TEXT,"
        f" num REAL, txt TEXT, status TEXT NOT NULL DEFAULT 'measured', interval_end TEXT)"
    )
    connection.exec_driver_sql(f"DELETE FROM {STAGING}")
    times: dict[str, datetime] = {}
    rows: list[tuple[Any, ...]] = []
    for device_id, key, at, num, txt, _ in staged.values():
        stamp = text_of(at)
        times[stamp] = at
        rows.append((device_id, key, stamp, num, txt))
    if extras:
        rows = [(*row, *_sqlite_extra(extras.get((row[0], row[1], times[row[2]]), PLAIN), text_of)) for row in rows]
        connection.exec_driver_sql(f"INSERT INTO {STAGING} ({_COLUMNS_WITH_EXTRAS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    else:
        connection.exec_driver_sql(f"INSERT INTO {STAGING} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows)
    inserted = connection.exec_driver_sql(_insert_from_staging(bool(extras))).all()
    connection.exec_driver_sql(f"DELETE FROM {STAGING}")
    return [(device_id, key, times[stamp]) for device_id, key, stamp in inserted]


def _sqlite_extra(extra: Extra, text_of: Callable[[datetime], str]) -> tuple[str, str | None]:
    status, end = extra
    return status, None if end is None else text_of(end)


# --- rollups ------------------------------------------------------------------------------


def _aggregate_rollups(rows: Iterable[Row]) -> dict[tuple[int, str, str, datetime], list[Any]]:
    """Per (device, key, period, bucket_start): [count, sum, min, max, last_ts, last_value]."""
    buckets: dict[tuple[int, str, str, datetime], list[Any]] = {}
    # A batch from many devices shares few timestamps: compute each one's buckets once.
    starts_of: dict[tuple[datetime, str], tuple[tuple[str, datetime], ...]] = {}
    for device_id, key, at, num, _, zone_name in rows:
        if num is None:
            continue  # text values are not rolled up
        starts = starts_of.get((at, zone_name))
        if starts is None:
            starts = tuple((period, bucket_start(period, at, zone_name)) for period in PERIODS)
            starts_of[(at, zone_name)] = starts
        for period, start in starts:
            slot = (device_id, key, period, start)
            bucket = buckets.get(slot)
            if bucket is None:
                buckets[slot] = [1, num, num, num, at, num]
                continue
            bucket[0] += 1
            bucket[1] += num
            if num < bucket[2]:
                bucket[2] = num
            if num > bucket[3]:
                bucket[3] = num
            if at > bucket[4]:
                bucket[4], bucket[5] = at, num
    return buckets


_ROLLUP_COLUMNS = "device_id, key, period, bucket_start, count, sum, min, max, last_value, last_ts"
_ROLLUP_MERGE = (
    " ON CONFLICT (device_id, key, period, bucket_start) DO UPDATE SET"
    " count = telemetry_rollups.count + excluded.count,"
    " sum = telemetry_rollups.sum + excluded.sum,"
    " min = CASE WHEN excluded.min < telemetry_rollups.min THEN excluded.min ELSE telemetry_rollups.min END,"
    " max = CASE WHEN excluded.max > telemetry_rollups.max THEN excluded.max ELSE telemetry_rollups.max END,"
    " last_value = CASE WHEN excluded.last_ts > telemetry_rollups.last_ts"
    " THEN excluded.last_value ELSE telemetry_rollups.last_value END,"
    " last_ts = CASE WHEN excluded.last_ts > telemetry_rollups.last_ts"
    " THEN excluded.last_ts ELSE telemetry_rollups.last_ts END"
)


def _pg_roll_up(name: str, points: str) -> str:
    """CTEs `{name}_bins` and `name` that merge `points` (a FROM item with device_id, key,
    ts, num and zone, numbers only) into the rollups, one upsert per bucket.

    Buckets as `bucket_start` defines them: UTC hours, calendar days and months in the
    tenant's zone (date_trunc with a zone gives the local midnight as an instant, DST included).

    Two steps, because grouping each point three times (once per period) and sorting for
    the last value cost the drain most of its time: the points are first hashed into
    quarter hours (every zone's UTC offset is a whole number of quarter hours, so a
    quarter hour never straddles a local midnight), and the periods are made from those.
    The last value is the number of the greatest [epoch, number] pair, which a hash
    aggregate keeps without sorting; float8 epochs resolve microseconds until the year 2200.
    """
    return (
        f"{name}_bins AS ("
        " SELECT device_id, key, zone, date_bin('15 minutes', ts, timestamptz '2000-01-01 00:00+00') AS bin,"
        " count(*) AS count, sum(num) AS sum, min(num) AS min, max(num) AS max,"
        " max(ARRAY[date_part('epoch', ts), num]) AS last, max(ts) AS last_ts"
        f" FROM {points} GROUP BY device_id, key, zone, bin), "
        f"{name} AS ("
        f" INSERT INTO telemetry_rollups ({_ROLLUP_COLUMNS})"
        " SELECT device_id, key, period, bucket_start, sum(count), sum(sum), min(min), max(max),"
        " (max(last))[2], max(last_ts)"
        " FROM (SELECT bins.*, periods.period,"
        " CASE periods.period WHEN 'hour' THEN date_trunc('hour', bins.bin, 'UTC')"
        " WHEN 'day' THEN date_trunc('day', bins.bin, bins.zone)"
        " ELSE date_trunc('month', bins.bin, bins.zone) END AS bucket_start"
        f" FROM {name}_bins AS bins"
        " CROSS JOIN (VALUES ('hour'), ('day'), ('month')) AS periods (period)) AS bucketed"
        " GROUP BY device_id, key, period, bucket_start"
        # Sorted by primary key: two writers upserting overlapping buckets lock them in the same order.
        " ORDER BY device_id, key, period, bucket_start"
        + _ROLLUP_MERGE + ")"
    )


# The new numeric points of a batch with the zone they were staged with (RETURNING can
# only name columns of `telemetry`, hence the join back to staging). The queue keeps the
# zone rather than the drain joining devices and tenants: the join here costs well under
# a microsecond per point, and the drain then rolls up exactly as ingest would have,
# in the zone the point came with, whatever happened to its device since.
_PG_NEW_NUMBERS = (
    "(SELECT inserted.device_id, inserted.key, inserted.ts, inserted.num, staged.zone"
    f" FROM inserted JOIN {STAGING} AS staged USING (device_id, key, ts)"
    " WHERE inserted.num IS NOT NULL) AS points"
)
_PG_ROLLUP_FROM_INSERTED = _pg_roll_up("rolled", _PG_NEW_NUMBERS)
_PG_QUEUE_FROM_INSERTED = (
    "queued AS (INSERT INTO telemetry_rollup_queue (device_id, key, ts, num, zone)"
    f" SELECT device_id, key, ts, num, zone FROM {_PG_NEW_NUMBERS})"
)


def _upsert_rollups(connection: Connection, inserted: list[Row]) -> None:
    buckets = _aggregate_rollups(inserted)
    if not buckets:
        return
    # Sorted by primary key: two workers upserting overlapping buckets lock them in the same order.
    rows = [
        (device_id, key, period, start, count, total, low, high, last_value, last_ts)
        for (device_id, key, period, start), (count, total, low, high, last_ts, last_value) in sorted(buckets.items())
    ]
    _upsert_rollups_sqlite(connection, rows)


def _upsert_rollups_sqlite(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    to_db = _sqlite_times(connection)
    connection.exec_driver_sql(
        f"INSERT INTO telemetry_rollups ({_ROLLUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + _ROLLUP_MERGE,
        [(d, k, p, to_db(start), c, s, lo, hi, lv, to_db(lt)) for d, k, p, start, c, s, lo, hi, lv, lt in rows],
    )


# --- deferred rollups (PostgreSQL) --------------------------------------------------------

DRAIN_LIMIT = 200_000
# One drainer at a time across all processes; transaction-scoped, so it cannot outlive a crash.
_DRAIN_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('leitstand.telemetry_rollup_queue'))"
# The queue has no index: the drain takes up to `limit` rows, in no particular order (merging
# does not care), by their physical address (a TID scan). Queue rows are never updated, and
# one deleted meanwhile (a device deleted) is simply skipped.
_PG_DRAIN = (
    "WITH drained AS (DELETE FROM telemetry_rollup_queue"
    " WHERE ctid = ANY (ARRAY(SELECT ctid FROM telemetry_rollup_queue LIMIT %(limit)s))"
    " RETURNING device_id, key, ts, num, zone), "
    + _pg_roll_up("merged", "drained AS points")
    + " SELECT count(*) FROM drained"
)


def drain_rollup_queue(connection: Connection, *, limit: int = DRAIN_LIMIT) -> int:
    """Move up to `limit` queued points into the rollups, in the caller's transaction.

    Returns how many points were drained: 0 if the queue is empty or another process is
    draining right now (an advisory lock, held until the caller commits or rolls back).
    Merging is order-free (count, sum, min, max, and last by timestamp), so the result is
    the same as rolling the points up at ingest. A no-op on SQLite. The caller commits;
    until then `work_mem` stays raised for the drain's sort.
    """
    if connection.dialect.name != "postgresql":
        return 0
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_DRAIN_LOCK)
        locked = cursor.fetchone()
        if not (locked and locked[0]):
            return 0
        # Sorting and grouping a large drain in memory rather than in temporary files.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_PG_DRAIN, {"limit": limit})
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def pending_rollups(connection: Connection) -> int:
    """How many points wait in the queue (a full count: for checks and tests, not for hot paths)."""
    return int(connection.execute(text("SELECT count(*) FROM telemetry_rollup_queue")).scalar_one())


# Zones the server knows, per database: a zone Python knows but PostgreSQL does not would
# otherwise fail every later drain; refused at ingest instead, as the immediate path would.
_server_zones: dict[str, set[str]] = {}


def _check_zones_on_server(connection: Connection, zones: set[str]) -> None:
    database = _database_key(connection)
    with _known_lock:
        known = _server_zones.setdefault(database, set())
        unknown = zones - known
    if not unknown:
        return
    for name in sorted(unknown):
        try:
            with connection.begin_nested():  # an error must not end the caller's transaction
                connection.execute(text("SELECT date_trunc('day', now(), :zone)"), {"zone": name})
        except DBAPIError as error:
            raise ValueError(f"the database does not know the time zone {name!r}") from error
    with _known_lock:
        known.update(unknown)


# --- PostgreSQL partitions ----------------------------------------------------------------

# Months known to have their own partition (or to stay in the default one), per database.
_known_months: dict[str, set[tuple[int, int]]] = {}
_known_lock = threading.Lock()


def partition_name(year: int, month: int) -> str:
    return f"telemetry_{year:04d}_{month:02d}"


def _database_key(connection: Connection) -> str:
    return connection.engine.url.render_as_string(hide_password=True)


def forget_known_partitions() -> None:
    """Drop the per-process cache (after dropping partitions or the database)."""
    with _known_lock:
        _known_months.clear()


def ensure_partitions(connection: Connection, months: Iterable[tuple[int, int] | date]) -> list[str]:
    """Make sure each (year, month) has its monthly partition of `telemetry`; returns those created.

    PostgreSQL only (a no-op elsewhere). Runs in the caller's transaction, each creation
    in a savepoint: if the lock cannot be had quickly or another worker races us, the
    batch simply lands in the default partition and the next batch tries again. If
    rows of a month already sit in the default partition, that month stays there
    (moving them would lock the table); this is logged.
    """
    if connection.dialect.name != "postgresql":
        return []
    wanted = sorted({(m.year, m.month) if isinstance(m, date) else (int(m[0]), int(m[1])) for m in months})
    database = _database_key(connection)
    with _known_lock:
        known = _known_months.setdefault(database, set())
        missing = [month for month in wanted if month not in known and month[0] in PARTITION_YEARS]
    created = []
    for year, month in missing:
        name = partition_name(year, month)
        if connection.exec_driver_sql(f"SELECT to_regclass('{name}')").scalar() is not None:
            # Only a partition seen from a later call is cached: one created in this
            # transaction would be gone again if the caller rolled back.
            with _known_lock:
                known.add((year, month))
            continue
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        if _default_holds(connection, start, end):
            log.warning("telemetry for %04d-%02d already sits in %s; that month stays there", year, month,
                        DEFAULT_PARTITION)
            with _known_lock:
                known.add((year, month))
            continue
        if _create_partition(connection, name, start, end):
            created.append(name)
    return created


def _default_holds(connection: Connection, start: datetime, end: datetime) -> bool:
    found = connection.execute(
        text(f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE ts >= :start AND ts < :end LIMIT 1"),
        {"start": start, "end": end},
    ).first()
    return found is not None


def _create_partition(connection: Connection, name: str, start: datetime, end: datetime) -> bool:
    previous = connection.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar()
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
            # Serialises workers creating the same month; held until the transaction ends.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
            connection.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF telemetry"
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
    except DBAPIError as error:
        log.warning("could not create partition %s now (%s); its rows go to %s for the moment",
                    name, str(error.orig).strip().splitlines()[0], DEFAULT_PARTITION)
        return False
    finally:
        connection.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": previous})
    log.info("created telemetry partition %s", name)
    return True


def months_between(start: date, end: date) -> list[tuple[int, int]]:
    """Every (year, month) from start's month to end's month, inclusive: for a scheduler
    that creates partitions ahead, e.g. `ensure_partitions(conn, months_between(today, today + 62 days))`."""
    months, (year, month) = [], (start.year, start.month)
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def delete_telemetry(db: Any, device_id: int) -> None:
    """Remove a device's points, rollups and queued rollup work (the telemetry tables carry
    no foreign keys). A drain running meanwhile either took the queued rows first, and then
    its rollups are deleted here after it commits, or finds them gone."""
    for model in (TelemetryPoint, TelemetryRollupQueue, TelemetryRollup):
        db.execute(delete(model).where(model.device_id == device_id))
