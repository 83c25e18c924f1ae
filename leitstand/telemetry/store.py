"""Writing time series: points in batches, rollups kept up to date as they arrive.

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

On PostgreSQL `telemetry` is partitioned by month (`telemetry_YYYY_MM`, UTC month
boundaries); `ensure_partitions` creates the partitions a batch needs.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Integer, String, text
from sqlalchemy.exc import DBAPIError

from leitstand.db.base import UtcDateTime
from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup

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

    at: timezone-aware; stored as UTC.
    time_zone: the IANA zone of the device's tenant; it decides the day and month buckets.
    """

    device_id: int
    key: str
    at: datetime
    value: Value
    time_zone: str


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


def _stored_columns(point: Point) -> tuple[float | None, str | None]:
    """(num, txt) for a point; raises ValueError for what must never reach the store."""
    if not isinstance(point.key, str) or not 0 < len(point.key) <= MAX_KEY_LENGTH or "\x00" in point.key:
        raise ValueError(f"telemetry key {point.key!r} must be 1 to {MAX_KEY_LENGTH} characters without NUL")
    if not isinstance(point.at, datetime) or point.at.tzinfo is None or point.at.utcoffset() is None:
        raise ValueError(f"point {point.key!r} needs a timezone-aware timestamp, got {point.at!r}")
    try:
        zone(point.time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"point {point.key!r} has an unknown time zone {point.time_zone!r}") from error
    value = point.value
    if isinstance(value, bool):
        return (1.0 if value else 0.0), None
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"point {point.key!r} has a non-finite value {value!r}")
        return number, None
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH or "\x00" in value:
            raise ValueError(f"text value of {point.key!r} must be at most {MAX_TEXT_LENGTH} characters without NUL")
        return None, value
    raise ValueError(f"point {point.key!r} has an unsupported value type {type(value).__name__}")


# --- writing ------------------------------------------------------------------------------


def write_points(connection: Connection, points: Sequence[Point]) -> int:
    """Store a batch of points in the caller's transaction and roll up the new ones.

    Returns how many points were newly inserted; points already stored are skipped
    and leave the rollups untouched. Raises ValueError (before writing anything) for
    a non-finite number, a naive timestamp, an unknown time zone or an oversized value.
    The caller commits.
    """
    staged: dict[tuple[int, str, datetime], tuple[Point, float | None, str | None]] = {}
    for point in points:
        num, txt = _stored_columns(point)
        at = point.at.astimezone(UTC)
        # The first of two identical (device, key, time) points in one batch wins, as in the table.
        staged.setdefault((point.device_id, point.key, at), (point, num, txt))
    if not staged:
        return 0
    if connection.dialect.name == "postgresql":
        ensure_partitions(connection, {(at.year, at.month) for _, _, at in staged})
        # The database rolls up what it inserted, in the same statement: far cheaper than
        # returning every row to Python and sending the buckets back.
        return _insert_and_roll_up_postgresql(connection, staged)
    inserted = _insert_sqlite(connection, staged)
    _upsert_rollups(connection, [staged[key] for key in inserted])
    return len(inserted)


_INSERT_FROM_STAGING = (
    f"INSERT INTO telemetry (device_id, key, ts, num, txt)"
    f" SELECT device_id, key, ts, num, txt FROM {STAGING} WHERE true"  # WHERE: SQLite's upsert parsing needs it
    f" ON CONFLICT DO NOTHING RETURNING device_id, key, ts"
)


def _insert_and_roll_up_postgresql(connection: Connection, staged: dict[tuple[int, str, datetime], Any]) -> int:
    driver = connection.connection.driver_connection  # psycopg 3, inside the caller's transaction
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        # Session-local and emptied at every commit; created once per database connection.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (device_id integer, key varchar(64),"
            f" ts timestamptz, num double precision, txt varchar(200), zone varchar(64)) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"DELETE FROM {STAGING}")  # a second batch in the same transaction
        with cursor.copy(f"COPY {STAGING} (device_id, key, ts, num, txt, zone) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "varchar", "timestamptz", "float8", "varchar", "varchar"])
            for (device_id, key, at), (point, num, txt) in staged.items():
                copy.write_row((device_id, key, at, num, txt, point.time_zone))
        cursor.execute(
            f"WITH inserted AS (INSERT INTO telemetry (device_id, key, ts, num, txt)"
            f" SELECT device_id, key, ts, num, txt FROM {STAGING}"
            f" ON CONFLICT DO NOTHING RETURNING device_id, key, ts, num), "
            + _PG_ROLLUP_FROM_INSERTED
            + " SELECT count(*) FROM inserted"
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def _insert_sqlite(connection: Connection, staged: dict[tuple[int, str, datetime], Any]) -> list[tuple[int, str, datetime]]:
    # The exact text form SQLAlchemy writes, so stored times compare correctly as strings.
    dialect = connection.dialect
    to_db = TelemetryPoint.__table__.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_db is not None
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (device_id INTEGER, key TEXT, ts TEXT,"
        f" num REAL, txt TEXT)"
    )
    connection.exec_driver_sql(f"DELETE FROM {STAGING}")
    connection.exec_driver_sql(
        f"INSERT INTO {STAGING} (device_id, key, ts, num, txt) VALUES (?, ?, ?, ?, ?)",
        [(device_id, key, to_db(at), num, txt) for (device_id, key, at), (_, num, txt) in staged.items()],
    )
    returned = text(_INSERT_FROM_STAGING).columns(device_id=Integer, key=String, ts=UtcDateTime)
    rows = connection.execute(returned).all()
    connection.exec_driver_sql(f"DELETE FROM {STAGING}")
    return [(device_id, key, ts) for device_id, key, ts in rows]


# --- rollups ------------------------------------------------------------------------------


def _aggregate_rollups(points: Iterable[tuple[Point, float | None, str | None]]) -> dict[tuple[int, str, str, datetime], list[Any]]:
    """Per (device, key, period, bucket_start): [count, sum, min, max, last_ts, last_value]."""
    buckets: dict[tuple[int, str, str, datetime], list[Any]] = {}
    # A batch from many devices shares few timestamps: compute each one's buckets once.
    starts_of: dict[tuple[datetime, str], tuple[tuple[str, datetime], ...]] = {}
    for point, num, _ in points:
        if num is None:
            continue  # text values are not rolled up
        at = point.at.astimezone(UTC)
        starts = starts_of.get((at, point.time_zone))
        if starts is None:
            starts = tuple((period, bucket_start(period, at, point.time_zone)) for period in PERIODS)
            starts_of[(at, point.time_zone)] = starts
        for period, start in starts:
            key = (point.device_id, point.key, period, start)
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = [1, num, num, num, at, num]
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


# Buckets as `bucket_start` defines them: UTC hours, calendar days and months in the tenant's
# zone (date_trunc with a zone gives the local midnight as an instant, DST included).
_PG_ROLLUP_FROM_INSERTED = (
    "rolled AS ("
    " INSERT INTO telemetry_rollups (device_id, key, period, bucket_start, count, sum, min, max, last_value, last_ts)"
    " SELECT device_id, key, period, bucket_start, count(*), sum(num), min(num), max(num),"
    " (array_agg(num ORDER BY ts DESC))[1], max(ts)"
    " FROM (SELECT inserted.device_id, inserted.key, inserted.ts, inserted.num, periods.period,"
    " CASE periods.period WHEN 'hour' THEN date_trunc('hour', inserted.ts, 'UTC')"
    " WHEN 'day' THEN date_trunc('day', inserted.ts, staged.zone)"
    " ELSE date_trunc('month', inserted.ts, staged.zone) END AS bucket_start"
    f" FROM inserted JOIN {STAGING} AS staged USING (device_id, key, ts)"
    " CROSS JOIN (VALUES ('hour'), ('day'), ('month')) AS periods (period)"
    " WHERE inserted.num IS NOT NULL) AS points"
    " GROUP BY device_id, key, period, bucket_start"
    # Sorted by primary key: two workers upserting overlapping buckets lock them in the same order.
    " ORDER BY device_id, key, period, bucket_start"
    + _ROLLUP_MERGE + ")"
)


def _upsert_rollups(connection: Connection, inserted: list[tuple[Point, float | None, str | None]]) -> None:
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
    dialect = connection.dialect
    to_db = TelemetryRollup.__table__.c.bucket_start.type.dialect_impl(dialect).bind_processor(dialect)
    assert to_db is not None
    connection.exec_driver_sql(
        f"INSERT INTO telemetry_rollups ({_ROLLUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + _ROLLUP_MERGE,
        [(d, k, p, to_db(start), c, s, lo, hi, lv, to_db(lt)) for d, k, p, start, c, s, lo, hi, lv, lt in rows],
    )


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
    """Remove a device's points and rollups (the telemetry tables carry no foreign keys)."""
    from sqlalchemy import delete

    from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup

    for model in (TelemetryPoint, TelemetryRollup):
        db.execute(delete(model).where(model.device_id == device_id))
