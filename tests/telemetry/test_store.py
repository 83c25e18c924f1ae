"""The point store: batches, redelivery, rollups, DST-correct calendar buckets, partitions."""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from leitstand.tenancy.scope import system_session
from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup
from leitstand.telemetry.store import (
    Point,
    bucket_start,
    ensure_partitions,
    forget_known_partitions,
    months_between,
    write_points,
)

BERLIN = "Europe/Berlin"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def write(session_factory, points) -> int:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test writes telemetry") as db:
        written = write_points(db.connection(), points)
        db.commit()
    return written


def every(start: datetime, end: datetime, step: timedelta, key: str = "temperature", device_id: int = 1,
          value=lambda i: 20.0 + (i % 11) * 0.5):  # type: ignore[no-untyped-def]
    points, at, i = [], start, 0
    while at < end:
        points.append(Point(device_id, key, at, value(i), BERLIN))
        at += step
        i += 1
    return points


def rollups(session_factory, period: str) -> dict:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test reads rollups") as db:
        rows = db.scalars(select(TelemetryRollup).where(TelemetryRollup.period == period))
        return {(r.device_id, r.key, r.bucket_start): (r.count, r.sum, r.min, r.max, r.last_value, r.last_ts) for r in rows}


def raw_rows(session_factory) -> list:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test reads points") as db:
        return db.execute(select(TelemetryPoint.device_id, TelemetryPoint.key, TelemetryPoint.ts, TelemetryPoint.num,
                                 TelemetryPoint.txt).order_by(TelemetryPoint.ts)).all()


# --- redelivery ---------------------------------------------------------------------------


def test_a_batch_delivered_twice_is_stored_once_and_rolled_up_once(session_factory):
    points = every(T0, T0 + timedelta(hours=6), timedelta(minutes=15))
    assert write(session_factory, points) == 24
    before = {period: rollups(session_factory, period) for period in ("hour", "day", "month")}

    assert write(session_factory, points) == 0
    assert write(session_factory, list(reversed(points[:5]))) == 0

    assert len(raw_rows(session_factory)) == 24
    assert {period: rollups(session_factory, period) for period in ("hour", "day", "month")} == before


def test_only_the_new_points_of_an_overlapping_batch_reach_the_rollups(session_factory):
    write(session_factory, every(T0, T0 + timedelta(hours=1), timedelta(minutes=15), value=lambda i: 1.0))
    overlapping = every(T0 + timedelta(minutes=30), T0 + timedelta(hours=2), timedelta(minutes=15), value=lambda i: 1.0)

    assert write(session_factory, overlapping) == 4

    hours = rollups(session_factory, "hour")
    assert hours[(1, "temperature", T0)][:2] == (4, 4.0)
    assert hours[(1, "temperature", T0 + timedelta(hours=1))][:2] == (4, 4.0)
    assert rollups(session_factory, "day")[(1, "temperature", datetime(2026, 2, 28, 23, tzinfo=UTC))][:2] == (8, 8.0)


def test_duplicates_inside_one_batch_keep_the_first(session_factory):
    first = Point(1, "temperature", T0, 10.0, BERLIN)
    again = Point(1, "temperature", T0.astimezone(timezone(timedelta(hours=5))), 99.0, BERLIN)  # the same instant

    assert write(session_factory, [first, again]) == 1

    assert [row.num for row in raw_rows(session_factory)] == [10.0]
    assert rollups(session_factory, "hour")[(1, "temperature", T0)][:2] == (1, 10.0)



# --- status and interval end --------------------------------------------------------------


def stored_extras(session_factory) -> list:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test reads points") as db:
        return [tuple(row) for row in db.execute(select(TelemetryPoint.ts, TelemetryPoint.num, TelemetryPoint.status,
                                                        TelemetryPoint.interval_end).order_by(TelemetryPoint.ts))]


@pytest.mark.parametrize("defer_rollups", [False, True])
def test_status_and_interval_end_are_stored_beside_plain_points(session_factory, defer_rollups):
    quarter = timedelta(minutes=15)
    berlin_end = (T0 + quarter).astimezone(timezone(timedelta(hours=1)))  # any offset: stored as UTC
    points = [Point(1, "energy", T0, 1.0, BERLIN, "substitute", berlin_end),
              Point(1, "energy", T0 + quarter, 2.0, BERLIN, "provisional"),
              Point(1, "energy", T0 + 2 * quarter, 3.0, BERLIN)]
    with system_session(session_factory, reason="test writes telemetry") as db:
        assert write_points(db.connection(), points, defer_rollups=defer_rollups) == 3
        # A redelivery with one new point: on PostgreSQL the COPY fails and the ON CONFLICT way is taken.
        again = [*points, Point(1, "energy", T0 + 3 * quarter, 4.0, BERLIN, "estimated", T0 + 4 * quarter)]
        assert write_points(db.connection(), again, defer_rollups=defer_rollups) == 1
        db.commit()

    assert stored_extras(session_factory) == [
        (T0, 1.0, "substitute", T0 + quarter), (T0 + quarter, 2.0, "provisional", None),
        (T0 + 2 * quarter, 3.0, "measured", None), (T0 + 3 * quarter, 4.0, "estimated", T0 + 4 * quarter)]


def test_an_unknown_status_is_refused_before_anything_is_written(session_factory):
    with pytest.raises(ValueError, match="unknown status"):
        write(session_factory, [Point(1, "energy", T0, 1.0, BERLIN),
                                Point(1, "energy", T0 + timedelta(minutes=15), 1.0, BERLIN, "guessed")])
    assert raw_rows(session_factory) == []

# --- rollups against raw ------------------------------------------------------------------


def expected_from_raw(rows, period: str) -> dict:  # type: ignore[no-untyped-def]
    grouped = defaultdict(list)
    for device_id, key, ts, num, _ in rows:
        if num is not None:
            grouped[(device_id, key, bucket_start(period, ts, BERLIN))].append((ts, num))
    expected = {}
    for slot, values in grouped.items():
        numbers = [num for _, num in values]
        last_ts, last_value = max(values)
        expected[slot] = (len(numbers), math.fsum(numbers), min(numbers), max(numbers), last_value, last_ts)
    return expected


def test_rollups_equal_aggregates_computed_from_raw(session_factory):
    rng = random.Random(7)
    points = []
    for device_id in (1, 2):
        for key in ("temperature", "valve_opening"):
            points += [Point(device_id, key, T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 70)),
                             round(rng.uniform(-20, 60), 3), BERLIN) for _ in range(400)]
    rng.shuffle(points)
    # Written in uneven batches and out of time order, with some redelivered.
    for start in range(0, len(points), 237):
        write(session_factory, points[start:start + 237])
    write(session_factory, points[100:300])

    rows = raw_rows(session_factory)
    for period in ("hour", "day", "month"):
        stored = rollups(session_factory, period)
        expected = expected_from_raw(rows, period)
        assert stored.keys() == expected.keys(), period
        for slot, (count, total, low, high, last_value, last_ts) in expected.items():
            assert stored[slot] == (count, pytest.approx(total), low, high, last_value, last_ts), (period, slot)


# --- calendar buckets across DST ----------------------------------------------------------


def test_day_buckets_in_berlin_are_23_and_25_hours_long_across_dst(session_factory):
    spring = every(datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC), timedelta(minutes=15))
    autumn = every(datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC), timedelta(minutes=15))
    write(session_factory, spring + autumn)
    days = rollups(session_factory, "day")
    rows = raw_rows(session_factory)

    def points_between(start: datetime, end: datetime) -> list:  # type: ignore[type-arg]
        return [row for row in rows if start <= row.ts < end]

    # 29 March 2026: 00:00 CET (23:00 UTC the day before) to 00:00 CEST (22:00 UTC): 23 hours.
    spring_day = (datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    # 25 October 2026: 00:00 CEST (22:00 UTC the day before) to 00:00 CET (23:00 UTC): 25 hours.
    autumn_day = (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
    for (start, end), hours in ((spring_day, 23), (autumn_day, 25)):
        inside = points_between(start, end)
        assert len(inside) == hours * 4
        count, total, *_ , last_ts = days[(1, "temperature", start)]
        assert count == hours * 4
        assert total == pytest.approx(sum(row.num for row in inside))
        assert last_ts == end - timedelta(minutes=15)
        # The neighbours start exactly where these end and before they begin.
        assert (1, "temperature", end) in days
    # Every day bucket starts at a Berlin midnight.
    from zoneinfo import ZoneInfo

    for (_, _, start) in days:
        local = start.astimezone(ZoneInfo(BERLIN))
        assert (local.hour, local.minute) == (0, 0)
    assert sum(count for count, *_ in days.values()) == len(rows)


def test_month_buckets_in_berlin_follow_local_month_boundaries(session_factory):
    points = every(datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC), timedelta(hours=1),
                   value=lambda i: 1.0)
    write(session_factory, points)
    months = rollups(session_factory, "month")

    march = datetime(2026, 2, 28, 23, tzinfo=UTC)  # 1 March 00:00 CET
    april = datetime(2026, 3, 31, 22, tzinfo=UTC)  # 1 April 00:00 CEST
    october = datetime(2026, 9, 30, 22, tzinfo=UTC)  # 1 October 00:00 CEST
    november = datetime(2026, 10, 31, 23, tzinfo=UTC)  # 1 November 00:00 CET
    assert months[(1, "temperature", march)][0] == 31 * 24 - 1  # loses the hour of the spring change
    assert months[(1, "temperature", october)][0] == 31 * 24 + 1  # gains the repeated hour
    assert (1, "temperature", april) in months and (1, "temperature", november) in months
    assert sum(count for count, *_ in months.values()) == len(points)


def test_hour_buckets_are_utc_hours(session_factory):
    write(session_factory, [Point(1, "temperature", datetime(2026, 10, 25, 0, 59, tzinfo=UTC), 1.0, BERLIN),
                            Point(1, "temperature", datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 2.0, BERLIN)])

    assert set(rollups(session_factory, "hour")) == {
        (1, "temperature", datetime(2026, 10, 25, 0, tzinfo=UTC)), (1, "temperature", datetime(2026, 10, 25, 1, tzinfo=UTC)),
    }


def test_day_buckets_follow_each_points_time_zone(session_factory):
    at = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 2 June in Berlin, still 1 June in New York
    write(session_factory, [Point(1, "t", at, 1.0, "Europe/Berlin"), Point(2, "t", at, 1.0, "America/New_York")])

    starts = {device: start for device, _, start in rollups(session_factory, "day")}
    assert starts == {1: datetime(2026, 6, 1, 22, tzinfo=UTC), 2: datetime(2026, 6, 1, 4, tzinfo=UTC)}


# --- kinds of values ----------------------------------------------------------------------


def test_text_is_stored_but_not_rolled_up_and_booleans_count_as_0_and_1(session_factory):
    written = write(session_factory, [
        Point(1, "state", T0, "open", BERLIN),
        Point(1, "window_open", T0, True, BERLIN),
        Point(1, "window_open", T0 + timedelta(minutes=1), False, BERLIN),
        Point(1, "window_open", T0 + timedelta(minutes=2), True, BERLIN),
        Point(1, "cycles", T0, 41, BERLIN),
    ])

    assert written == 5
    stored = {(row.key, row.ts): (row.num, row.txt) for row in raw_rows(session_factory)}
    assert stored[("state", T0)] == (None, "open")
    assert stored[("window_open", T0)] == (1.0, None)
    assert stored[("cycles", T0)] == (41.0, None)
    hours = rollups(session_factory, "hour")
    assert (1, "state", T0) not in hours
    assert hours[(1, "window_open", T0)][:5] == (3, 2.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_and_nothing_is_written(session_factory, bad):
    batch = [Point(1, "temperature", T0, 20.0, BERLIN), Point(1, "temperature", T0 + timedelta(minutes=1), bad, BERLIN)]

    with pytest.raises(ValueError, match="non-finite"):
        write(session_factory, batch)

    assert raw_rows(session_factory) == []
    assert rollups(session_factory, "hour") == {}


@pytest.mark.parametrize("point, message", [
    (Point(1, "temperature", datetime(2026, 3, 1), 1.0, BERLIN), "timezone-aware"),
    (Point(1, "", T0, 1.0, BERLIN), "key"),
    (Point(1, "k" * 65, T0, 1.0, BERLIN), "key"),
    (Point(1, "state", T0, "x" * 201, BERLIN), "text value"),
    (Point(1, "state", T0, "a\x00b", BERLIN), "text value"),
    (Point(1, "temperature", T0, None, BERLIN), "unsupported"),  # type: ignore[arg-type]
])
def test_malformed_points_are_refused(session_factory, point, message):
    with pytest.raises(ValueError, match=message):
        write(session_factory, [point])


def test_an_unknown_time_zone_is_refused(session_factory):
    with pytest.raises(ValueError, match="time zone"):
        write(session_factory, [Point(1, "temperature", T0, 1.0, "Mars/Olympus_Mons")])
    assert raw_rows(session_factory) == []


def test_the_callers_rollback_undoes_points_and_rollups(session_factory):
    with system_session(session_factory, reason="test") as db:
        assert write_points(db.connection(), every(T0, T0 + timedelta(hours=1), timedelta(minutes=15))) == 4
        db.rollback()

    assert raw_rows(session_factory) == []
    assert rollups(session_factory, "hour") == {}
    # ... and the same points can be written afterwards.
    assert write(session_factory, every(T0, T0 + timedelta(hours=1), timedelta(minutes=15))) == 4


def test_two_batches_in_one_transaction(session_factory):
    with system_session(session_factory, reason="test") as db:
        first = write_points(db.connection(), every(T0, T0 + timedelta(hours=1), timedelta(minutes=15)))
        second = write_points(db.connection(), every(T0, T0 + timedelta(hours=2), timedelta(minutes=15)))
        db.commit()

    assert (first, second) == (4, 4)
    assert rollups(session_factory, "hour")[(1, "temperature", T0)][0] == 4


# --- PostgreSQL partitions ----------------------------------------------------------------


def partitions(session_factory) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Partition name -> rows stored in it."""
    with system_session(session_factory, reason="test inspects partitions") as db:
        names = db.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'telemetry'::regclass"
        )).scalars().all()
        return {name: db.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() for name in names}


@pytest.fixture
def postgresql_only(backend):  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")


def test_monthly_partitions_are_created_and_points_land_in_them(session_factory, postgresql_only):
    points = every(datetime(2026, 1, 31, 23, tzinfo=UTC), datetime(2026, 2, 1, 1, tzinfo=UTC), timedelta(minutes=30))
    points.append(Point(1, "temperature", datetime(2027, 7, 15, tzinfo=UTC), 1.0, BERLIN))

    write(session_factory, points)

    stored = partitions(session_factory)
    assert stored["telemetry_2026_01"] == 2  # 23:00 and 23:30 UTC on 31 January
    assert stored["telemetry_2026_02"] == 2
    assert stored["telemetry_2027_07"] == 1
    assert stored["telemetry_default"] == 0


def test_ensure_partitions_creates_months_ahead_once(session_factory, postgresql_only):
    months = months_between(datetime(2029, 11, 5).date(), datetime(2030, 2, 1).date())
    assert months == [(2029, 11), (2029, 12), (2030, 1), (2030, 2)]
    with system_session(session_factory, reason="test") as db:
        created = ensure_partitions(db.connection(), months)
        db.commit()
    forget_known_partitions()
    with system_session(session_factory, reason="test") as db:
        again = ensure_partitions(db.connection(), months)
        db.commit()

    assert set(created) <= {"telemetry_2029_11", "telemetry_2029_12", "telemetry_2030_01", "telemetry_2030_02"}
    assert again == []
    assert {"telemetry_2029_11", "telemetry_2029_12", "telemetry_2030_01", "telemetry_2030_02"} <= set(partitions(session_factory))


def test_a_month_with_rows_in_the_default_partition_stays_there(session_factory, postgresql_only, caplog):
    at = datetime(2033, 5, 10, tzinfo=UTC)
    with system_session(session_factory, reason="test") as db:
        # Rows that arrived while the month had no partition of its own.
        db.execute(text("INSERT INTO telemetry_default (device_id, key, ts, num) VALUES (1, 'temperature', :at, 1)"),
                   {"at": at})
        db.commit()
    forget_known_partitions()

    with caplog.at_level(logging.WARNING, logger="leitstand.telemetry.store"):
        assert write(session_factory, [Point(1, "temperature", at + timedelta(hours=1), 2.0, BERLIN)]) == 1

    stored = partitions(session_factory)
    assert "telemetry_2033_05" not in stored
    assert stored["telemetry_default"] == 2
    assert "telemetry_default" in caplog.text
    forget_known_partitions()


def test_a_partition_created_in_a_rolled_back_transaction_is_created_again(session_factory, postgresql_only):
    at = datetime(2034, 2, 3, tzinfo=UTC)
    forget_known_partitions()
    with system_session(session_factory, reason="test") as db:
        write_points(db.connection(), [Point(1, "temperature", at, 1.0, BERLIN)])
        db.rollback()
    assert "telemetry_2034_02" not in partitions(session_factory)

    write(session_factory, [Point(1, "temperature", at, 1.0, BERLIN)])

    assert partitions(session_factory)["telemetry_2034_02"] == 1


def test_when_the_table_is_busy_points_wait_in_the_default_partition(session_factory, postgresql_only, monkeypatch, caplog):
    """Creating a partition needs an exclusive lock; ingest does not queue behind a long reader for it."""
    from leitstand.telemetry import store

    monkeypatch.setattr(store, "PARTITION_LOCK_TIMEOUT", "50ms")
    forget_known_partitions()
    at = datetime(2035, 6, 1, tzinfo=UTC)
    with system_session(session_factory, reason="a long report") as reader:
        reader.execute(text("LOCK TABLE telemetry IN ACCESS SHARE MODE"))
        with caplog.at_level(logging.WARNING, logger="leitstand.telemetry.store"):
            assert write(session_factory, [Point(1, "temperature", at, 1.0, BERLIN)]) == 1
        reader.rollback()

    stored = partitions(session_factory)
    assert "telemetry_2035_06" not in stored
    assert stored["telemetry_default"] == 1
    assert "could not create partition telemetry_2035_06" in caplog.text
    forget_known_partitions()
