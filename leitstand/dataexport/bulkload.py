"""PostgreSQL: an import's telemetry by COPY, and its rollups computed per group of devices.

The imported devices are new, so their points cannot clash with stored ones and need no
`ON CONFLICT`: the telemetry files go by COPY straight into `telemetry`. Their monthly
partitions are made first, from the first and last time the manifest gives per file,
in a short transaction of their own (creating a partition locks `telemetry`; inside the
import's long transaction that lock would stall ingest until the import commits). An
older export without those times goes through this loader's own temporary table, in
chunks, with the partitions made per chunk. A point that occurs twice (only a crafted
file can hold one) is a unique violation, reported as ImportRefused; the caller rolls
everything back.

Rollups, with the store's buckets (leitstand.telemetry.store), for a group of devices
right after its points are in (still in the buffer cache): one statement computes the
hour buckets from `telemetry` (one GROUP BY over an index range), from those the day
buckets and from the days the months. Hours add up to days only where every local
midnight falls on a full UTC hour: a zone whose offsets are whole hours over the data's
time span (checked with zoneinfo); for any other zone the days come from the points. The
last value of a bucket is the value at its latest time: the maximum of [time as epoch
seconds, value] arrays, in the same pass (exact to the microsecond for times before 2255).
Hours are `date_bin` (PostgreSQL 14 or later), cheaper than `date_trunc` with a zone.
The rows the export carries (telemetry_rollups.csv, see manifest) are written last, over
the computed ones: an exported row wins, as it also counts the points that retention
deleted before the export. (Loading them first and computing with ON CONFLICT DO NOTHING
ends the same, but the conflict check per computed row cost a quarter of the rollup time.)
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from leitstand.dataexport import manifest as fmt
from leitstand.telemetry.store import ensure_partitions, months_between, zone

READ_BYTES = 1 << 20
STAGING = "import_telemetry"  # this loader's own; only for exports without first/last per file
QUOTED = "import_quoted_points"
ROLLUPS = "import_rollups"
STAGING_CHUNK_POINTS = 500_000
# Points per rollup statement: rolled up while they are still in the buffer cache, with the
# statement's sorts and hash tables within ROLLUP_WORK_MEM.
ROLLUP_GROUP_POINTS = 250_000
ROLLUP_WORK_MEM = "64MB"


class LoadRefused(Exception):
    """The telemetry cannot be loaded as it is (a point twice, a malformed value); nothing stays."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def months_spanned(first: datetime, last: datetime) -> list[tuple[int, int]]:
    """Every UTC (year, month) from `first` to `last`: the partitions a file needs."""
    return months_between(first.astimezone(UTC).date(), last.astimezone(UTC).date())


@lru_cache(maxsize=256)
def _whole_hours_in_year(zone_name: str, year: int) -> bool:
    tz = zone(zone_name)
    at, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    while at < end:
        offset = at.astimezone(tz).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        at += timedelta(hours=1)
    return True


def whole_hour_offsets(zone_name: str, first: datetime, last: datetime) -> bool:
    """Whether the zone's UTC offset is a whole number of hours throughout [first, last]
    (checked at every hour of the years spanned): then each local day is a run of UTC hours."""
    return all(_whole_hours_in_year(zone_name, year) for year in range(first.astimezone(UTC).year,
                                                                       last.astimezone(UTC).year + 1))


def _stream_lines(copy: Any, handle: Any, first: bytes, prefix: bytes) -> int:
    """Writes the rest of an open telemetry file (`first` is its first chunk after the header)
    into a COPY, `prefix` in front of every line; returns the lines written."""
    joiner = b"\n" + prefix
    rows = 0
    rest, chunk = b"", first
    while chunk:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if lines:
            copy.write(prefix + joiner.join(lines) + b"\n")
            rows += len(lines)
        chunk = handle.read(READ_BYTES)
    if rest:
        copy.write(prefix + rest + b"\n")
        rows += 1
    return rows


def _rollup_statement(from_hours: bool) -> str:
    """Hours from the points, days from the hours (or from the points), months from the days.

    Parameters: the group's devices, their lowest and highest id (an index range on
    `telemetry`, whatever the planner knows of the new rows) and their zone. The devices are
    new and nothing else writes their rollups: no conflicts. Each level reads the rows of the
    level below as inserted (RETURNING), so nothing is read twice.
    """
    last = "(max(ARRAY[date_part('epoch', {ts}), {value}]))[2]"
    insert = ("INSERT INTO telemetry_rollups (device_id, key, period, bucket_start, count, sum, min, max, last_value,"
              " last_ts) ")
    done = " RETURNING *"
    points = ("FROM telemetry t WHERE t.device_id BETWEEN %(low)s AND %(high)s AND t.device_id = ANY(%(devices)s::int[])"
              " AND t.num IS NOT NULL")

    def from_points(period: str, bucket: str) -> str:
        return (insert + f"SELECT t.device_id, t.key, '{period}', {bucket} AS bucket, count(*), sum(t.num),"
                " min(t.num), max(t.num), " + last.format(ts="t.ts", value="t.num") + ", max(t.ts) "
                + points + " GROUP BY t.device_id, t.key, bucket ORDER BY t.device_id, t.key, bucket" + done)

    def from_below(period: str, source: str) -> str:
        return (insert + f"SELECT s.device_id, s.key, '{period}', date_trunc('{period}', s.bucket_start, %(zone)s)"
                " AS bucket, sum(s.count), sum(s.sum), min(s.min), max(s.max), "
                + last.format(ts="s.last_ts", value="s.last_value") + ", max(s.last_ts)"
                f" FROM {source} s GROUP BY s.device_id, s.key, bucket" + done)

    hours = from_points("hour", "date_bin('1 hour', t.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')")
    days = from_below("day", "hours") if from_hours else from_points("day", "date_trunc('day', t.ts, %(zone)s)")
    return (f"WITH hours AS ({hours}), days AS ({days}), months AS ({from_below('month', 'days')})"
            " SELECT (SELECT count(*) FROM hours), (SELECT count(*) FROM days), (SELECT count(*) FROM months)")


# A file without status and interval end leaves them to the defaults: measured, none.
_EXTRA_COLUMNS = " status varchar(12) NOT NULL DEFAULT 'measured', interval_end timestamptz"
_ALL_COLUMNS = "device_id, key, ts, num, txt, status, interval_end"


def _columns(header: bytes) -> str:
    """The `telemetry` columns a file's lines fill, with the device and key put in front."""
    return _ALL_COLUMNS if header == fmt.MARKED_TELEMETRY_HEADER else "device_id, key, ts, num, txt"


class TelemetryLoader:
    """Loads one import's telemetry files and rollups through the import's connection."""

    def __init__(self, connection: Connection, archive: zipfile.ZipFile) -> None:
        self.connection, self.archive = connection, archive
        self.driver: Any = connection.connection.driver_connection
        self.staged = 0
        self.tables: set[str] = set()
        self.span: tuple[datetime, datetime] | None = None  # staging path: first and last time loaded
        self.enable_sort: str | None = None  # the setting before the rollups change it

    # --- points -----------------------------------------------------------------------------

    def make_partitions(self, months: set[tuple[int, int]]) -> None:
        """Creates the partitions in a transaction of its own (empty partitions are harmless
        should the import fail), so the import itself never holds the lock that takes."""
        with self.connection.engine.begin() as own:
            ensure_partitions(own, months)

    def copy_files(self, files: list[tuple[str, int, str, bool]], *, direct: bool) -> list[int]:
        """COPY telemetry files (member, device id, key, quoted) into `telemetry` (direct) or the
        staging table; returns the points read per file.

        Consecutive files share one COPY: each line gets its device and key put in front, with
        bytes operations on whole chunks (no Python object per point). A file with a quote
        character may hold a quoted line break, which a line split would cut: such a file goes
        through a temporary table of its own.
        """
        target = "telemetry" if direct else self._table(STAGING)
        counts: list[int] = []
        with self._refusing("telemetry"), self.driver.cursor() as cursor, ExitStack() as open_copy:
            copy, copy_header = None, b""
            for member, device_id, key, quoted in files:
                with self.archive.open(member) as handle:
                    header = handle.readline()
                    if header not in fmt.TELEMETRY_HEADERS:
                        raise LoadRefused(f"{member}: unexpected header {header[:60]!r}")
                    first = handle.read(READ_BYTES)
                    if quoted or b'"' in first:
                        open_copy.close()
                        copy = None
                        counts.append(self._copy_quoted(cursor, member, target, device_id, key, header))
                        continue
                    if copy is not None and header != copy_header:  # one COPY per run of files with the same columns
                        open_copy.close()
                        copy = None
                    if copy is None:
                        copy = open_copy.enter_context(
                            cursor.copy(f"COPY {target} ({_columns(header)}) FROM STDIN (FORMAT csv)"))
                        copy_header = header
                    counts.append(_stream_lines(copy, handle, first, f"{device_id},{fmt.csv_field(key)},".encode()))
        if not direct:
            self.staged += sum(counts)
            if self.staged >= STAGING_CHUNK_POINTS:
                self.flush()
        return counts

    def _copy_quoted(self, cursor: Any, member: str, target: str, device_id: int, key: str,
                     header: bytes = fmt.TELEMETRY_HEADER) -> int:
        table = self._table(QUOTED, columns="ts timestamptz, num double precision, txt varchar(200)," + _EXTRA_COLUMNS)
        cursor.execute(f"TRUNCATE {table}")
        file_columns = _columns(header).removeprefix("device_id, key, ")
        with self.archive.open(member) as handle, \
                cursor.copy(f"COPY {table} ({file_columns}) FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while chunk := handle.read(READ_BYTES):
                copy.write(chunk)
        cursor.execute(f"INSERT INTO {target} ({_ALL_COLUMNS})"
                       f" SELECT %s, %s, ts, num, txt, status, interval_end FROM {table}", (device_id, key))
        return max(cursor.rowcount, 0)

    def flush(self) -> None:
        """Staging path: the staged points into `telemetry`, after making their partitions."""
        if not self.staged:
            return
        with self.driver.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT extract(year FROM ts AT TIME ZONE 'UTC')::int,"
                           f" extract(month FROM ts AT TIME ZONE 'UTC')::int FROM {STAGING}")
            months = {(year, month) for year, month in cursor.fetchall()}
            cursor.execute(f"SELECT min(ts), max(ts) FROM {STAGING}")
            first, last = cursor.fetchone()
        # In the import's transaction: it has written to `telemetry` already, so another one
        # would wait for it. The partition lock is then held until the import commits.
        ensure_partitions(self.connection, months)
        with self._refusing("telemetry"), self.driver.cursor() as cursor:
            cursor.execute(f"INSERT INTO telemetry ({_ALL_COLUMNS}) SELECT {_ALL_COLUMNS} FROM {STAGING}")
            cursor.execute(f"TRUNCATE {STAGING}")
        self.staged = 0
        self.span = (min(first, self.span[0]), max(last, self.span[1])) if self.span else (first, last)

    # --- rollups ----------------------------------------------------------------------------

    def load_rollups(self, member: str, devices_by_serial: dict[str, int]) -> int:
        """The exported rollup rows, over any computed row of the same bucket; devices found by
        serial number. Returns the rows stored."""
        table = self._table(ROLLUPS, columns="serial text, key text, period text, bucket_start timestamptz,"
                                             " count integer, sum double precision, min double precision,"
                                             " max double precision, last_value double precision,"
                                             " last_ts timestamptz")
        with self._refusing(member), self.driver.cursor() as cursor:
            with self.archive.open(member) as handle, \
                    cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                while chunk := handle.read(READ_BYTES):
                    copy.write(chunk)
            cursor.execute(
                "INSERT INTO telemetry_rollups (device_id, key, period, bucket_start, count, sum, min, max, last_value,"
                " last_ts) SELECT m.device_id, r.key, r.period, r.bucket_start, r.count, r.sum, r.min, r.max,"
                f" r.last_value, r.last_ts FROM {table} r JOIN unnest(%s::text[], %s::int[]) AS m (serial, device_id)"
                " USING (serial) WHERE r.period IN ('hour', 'day', 'month')"
                " ON CONFLICT (device_id, key, period, bucket_start) DO UPDATE SET count = excluded.count,"
                " sum = excluded.sum, min = excluded.min, max = excluded.max, last_value = excluded.last_value,"
                " last_ts = excluded.last_ts",
                (list(devices_by_serial), list(devices_by_serial.values())))
            stored = max(cursor.rowcount, 0)
            cursor.execute(f"DROP TABLE {table}")
        self.tables.discard(ROLLUPS)
        return stored

    def roll_up(self, device_ids: list[int], zone_name: str, span: tuple[datetime, datetime] | None) -> None:
        """Computes the rollups of a group of imported devices of one zone, once all their points
        are loaded. span: the first and last time of the group's points, or None for the
        staging path (then those of everything loaded so far)."""
        self.flush()
        span = span or self.span
        if span is None:
            return  # nothing loaded
        with self.driver.cursor() as cursor:
            if self.enable_sort is None:  # once per import: for the rest of its transaction
                cursor.execute(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'")
                cursor.execute("SHOW enable_sort")
                self.enable_sort = str(cursor.fetchone()[0])
            # The new rows have no statistics yet, and the planner would sort all the group's points
            # to group them. Without sorting it reads them in key order from the partitions' indexes
            # and sorts only within each series, or hashes them; either way the buckets come out in
            # key order (ORDER BY), which is where they go into the rollups' index: at its end.
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(_rollup_statement(whole_hour_offsets(zone_name, *span)),
                           {"devices": device_ids, "low": min(device_ids), "high": max(device_ids), "zone": zone_name})
            cursor.execute("SELECT set_config('enable_sort', %s, true)", (self.enable_sort,))

    # --- helpers ----------------------------------------------------------------------------

    def _table(self, name: str, columns: str = "device_id integer, key varchar(64), ts timestamptz,"
                                               " num double precision, txt varchar(200)," + _EXTRA_COLUMNS) -> str:
        if name not in self.tables:
            with self.driver.cursor() as cursor:
                cursor.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
            self.tables.add(name)
        return name

    @contextmanager
    def _refusing(self, what: str) -> Iterator[None]:
        """A database error from bad data becomes LoadRefused (the transaction is lost anyway)."""
        from psycopg import errors

        try:
            yield
        except errors.UniqueViolation as error:
            detail = error.diag.message_detail or ""
            raise LoadRefused(f"{what}: the same device, key and time occur twice ({detail})") from error
        except errors.CardinalityViolation as error:  # ON CONFLICT DO UPDATE meeting a row twice
            raise LoadRefused(f"{what}: the same device, key, period and bucket occur twice") from error
        except (errors.DataError, errors.IntegrityError) as error:
            raise LoadRefused(f"{what}: {str(error).strip().splitlines()[0]}") from error
