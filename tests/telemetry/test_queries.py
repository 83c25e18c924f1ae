"""Reading series through scoped sessions: raw ranges, aggregates, latest values, sites."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from leitstand.devices.models import Device
from leitstand.telemetry import queries
from leitstand.telemetry.models import TelemetryPoint
from leitstand.telemetry.queries import Interval
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session

BERLIN = "Europe/Berlin"
T0 = datetime(2026, 3, 27, tzinfo=UTC)


@contextmanager
def scoped(session_factory, scope: AccessScope) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    db = bind_scope(session_factory(), scope)
    try:
        yield db
    finally:
        db.close()


def alpha_scope(world) -> AccessScope:  # type: ignore[no-untyped-def]
    return AccessScope(tenant_paths=frozenset({world.alpha.customer.path}))


def beta_scope(world) -> AccessScope:  # type: ignore[no-untyped-def]
    return AccessScope(tenant_paths=frozenset({world.beta.customer.path}))


def write(session_factory, points) -> int:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test writes telemetry") as db:
        written = write_points(db.connection(), points)
        db.commit()
    return written


def series(device_id: int, key: str, start: datetime, end: datetime, step: timedelta, value=lambda i: float(i)):  # type: ignore[no-untyped-def]
    points, at, i = [], start, 0
    while at < end:
        points.append(Point(device_id, key, at, value(i), BERLIN))
        at, i = at + step, i + 1
    return points


@pytest.fixture
def fleet(world, session_factory):  # type: ignore[no-untyped-def]
    """Four days of 15-minute values around the spring DST change for Alpha's and Beta's devices."""
    alpha, beta = world.alpha, world.beta
    end = T0 + timedelta(days=4)
    write(session_factory,
          series(alpha.thermostat.id, "temperature", T0, end, timedelta(minutes=15))
          + series(alpha.thermostat.id, "valve_opening", T0, end, timedelta(hours=1), value=lambda i: 50.0)
          + series(alpha.barrier.id, "cycles", T0, end, timedelta(hours=1))
          + [Point(alpha.barrier.id, "position", T0 + timedelta(hours=5), "open", BERLIN),
             Point(alpha.barrier.id, "position", T0 + timedelta(hours=7), "closed", BERLIN)]
          + series(beta.thermostat.id, "temperature", T0, end, timedelta(minutes=15)))
    return world


# --- raw ----------------------------------------------------------------------------------


def test_raw_range_of_one_device_includes_from_and_excludes_to(fleet, session_factory):
    device = fleet.alpha.thermostat.id
    with scoped(session_factory, alpha_scope(fleet)) as db:
        points = queries.raw_points(db, [device], ["temperature"], T0 + timedelta(hours=1), T0 + timedelta(hours=2))

    assert [p.at for p in points] == [T0 + timedelta(hours=1, minutes=15 * i) for i in range(4)]
    assert [p.value for p in points] == [4.0, 5.0, 6.0, 7.0]
    assert {(p.device_id, p.key) for p in points} == {(device, "temperature")}


def test_raw_range_of_several_devices_and_keys_with_text_and_limit(fleet, session_factory):
    alpha = fleet.alpha
    start, end = T0 + timedelta(hours=4), T0 + timedelta(hours=8)
    with scoped(session_factory, alpha_scope(fleet)) as db:
        points = queries.raw_points(db, [alpha.barrier.id, alpha.thermostat.id], ["position", "valve_opening"], start, end)
        everything = queries.raw_points(db, [alpha.barrier.id, alpha.thermostat.id], None, start, end)
        limited = queries.raw_points(db, [alpha.barrier.id, alpha.thermostat.id], None, start, end, limit=3)

    assert [(p.device_id, p.key, p.value) for p in points if p.key == "position"] == [
        (alpha.barrier.id, "position", "open"), (alpha.barrier.id, "position", "closed")]
    assert len([p for p in points if p.key == "valve_opening"]) == 4
    assert {p.key for p in everything} == {"position", "cycles", "temperature", "valve_opening"}
    assert limited == everything[:3]


def test_another_tenant_sees_nothing_even_when_naming_the_devices(fleet, session_factory):
    alpha_devices = [fleet.alpha.barrier.id, fleet.alpha.thermostat.id]
    start, end = T0, T0 + timedelta(days=4)
    with scoped(session_factory, beta_scope(fleet)) as db:
        assert queries.raw_points(db, alpha_devices, None, start, end) == []
        assert list(queries.iter_raw_points(db, alpha_devices, None, start, end)) == []
        for interval in ("15m", "hour", "day", "month"):
            assert queries.aggregate(db, alpha_devices, None, start, end, interval, BERLIN) == []
        assert queries.latest_values(db, alpha_devices) == []
        own = queries.raw_points(db, [fleet.beta.thermostat.id], None, start, end)
    assert len(own) == 4 * 96


# --- aggregates ---------------------------------------------------------------------------


def test_day_buckets_start_at_local_midnight_with_the_tenants_offset(fleet, session_factory):
    device = fleet.alpha.thermostat.id
    with scoped(session_factory, alpha_scope(fleet)) as db:
        days = queries.aggregate(db, [device], ["temperature"], datetime(2026, 3, 28, 12, tzinfo=UTC),
                                 datetime(2026, 3, 30, 12, tzinfo=UTC), "day", BERLIN)

    # The range starts mid-day: the whole overlapping day is included.
    assert [d.start.isoformat() for d in days] == [
        "2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"]
    assert [d.count for d in days] == [96, 92, 96]  # the 29th has 23 hours
    first = (datetime(2026, 3, 27, 23, tzinfo=UTC) - T0) // timedelta(minutes=15)
    assert days[0].sum == sum(range(first, first + 96))
    assert days[0].min == first and days[0].max == first + 95 and days[0].last == first + 95
    assert days[1].avg == pytest.approx(days[1].sum / 92)


def test_hour_day_and_month_read_the_rollups_only(fleet, session_factory):
    device = fleet.alpha.thermostat.id
    start, end = T0, T0 + timedelta(days=4)
    with scoped(session_factory, alpha_scope(fleet)) as db:
        before = {i: queries.aggregate(db, [device], None, start, end, i, BERLIN) for i in ("hour", "day", "month")}
    with system_session(session_factory, reason="test drops raw points") as db:
        db.execute(delete(TelemetryPoint))
        db.commit()
    with scoped(session_factory, alpha_scope(fleet)) as db:
        after = {i: queries.aggregate(db, [device], None, start, end, i, BERLIN) for i in ("hour", "day", "month")}
        assert queries.aggregate(db, [device], None, start, end, "15m", BERLIN) == []

    assert after == before
    assert len(before["hour"]) == 2 * 96  # two keys, 96 hours
    month = [b for b in before["month"] if b.key == "temperature"]
    assert [(b.start.isoformat(), b.count) for b in month] == [
        ("2026-03-01T00:00:00+01:00", 4 * 96)]  # 27-31 March, all in the March bucket


@pytest.mark.parametrize("interval, first, sums", [
    ("5m", timedelta(hours=2, minutes=15), [9.0, 10.0, 11.0]),  # 02:05 and 02:10 hold no point
    ("15m", timedelta(hours=2), [8.0, 9.0, 10.0, 11.0]),  # 02:07 lies in the 02:00 bucket, which is included whole
])
def test_sub_hour_buckets_are_computed_from_raw_points(fleet, session_factory, interval, first, sums):
    device = fleet.alpha.thermostat.id
    start = T0 + timedelta(hours=2, minutes=7)
    with scoped(session_factory, alpha_scope(fleet)) as db:
        buckets = queries.aggregate(db, [device], ["temperature"], start, T0 + timedelta(hours=3), interval, BERLIN)

    assert buckets[0].start == T0 + first
    assert buckets[0].start.utcoffset() == timedelta(hours=1)  # presented in Berlin time
    assert [b.sum for b in buckets] == sums
    assert all(b.count == 1 and b.last == b.min == b.max == b.sum for b in buckets)  # 15-minute data


def test_fifteen_minute_buckets_aggregate_several_points(session_factory, world):
    device = world.alpha.thermostat.id
    write(session_factory, series(device, "temperature", T0, T0 + timedelta(minutes=30), timedelta(minutes=5),
                                  value=lambda i: [3.0, 1.0, 2.0, 10.0, 30.0, 20.0][i]))
    with scoped(session_factory, alpha_scope(world)) as db:
        buckets = queries.aggregate(db, [device], None, T0, T0 + timedelta(minutes=30), "15m", BERLIN)

    assert [(b.count, b.sum, b.min, b.max, b.last, b.avg) for b in buckets] == [
        (3, 6.0, 1.0, 3.0, 2.0, 2.0), (3, 60.0, 10.0, 30.0, 20.0, 20.0)]
    assert buckets[1].last_at == T0 + timedelta(minutes=25)


@pytest.mark.parametrize("span, expected", [
    (timedelta(hours=6), Interval.minutes_5), (timedelta(days=7), Interval.minutes_15),
    (timedelta(days=31), Interval.hour), (timedelta(days=365), Interval.day), (timedelta(days=3650), Interval.month),
])
def test_auto_picks_an_interval_by_range_length(span, expected):
    assert queries.resolve_interval("auto", T0, T0 + span) == expected
    assert queries.resolve_interval("day", T0, T0 + span) == Interval.day


def test_auto_aggregates_like_the_interval_it_picks(fleet, session_factory):
    device = fleet.alpha.thermostat.id
    with scoped(session_factory, alpha_scope(fleet)) as db:
        auto = queries.aggregate(db, [device], None, T0, T0 + timedelta(days=30), "auto", BERLIN)
        hours = queries.aggregate(db, [device], None, T0, T0 + timedelta(days=30), "hour", BERLIN)
    assert auto == hours


# --- latest -------------------------------------------------------------------------------


def test_latest_value_per_key_and_device(fleet, session_factory):
    alpha = fleet.alpha
    last = T0 + timedelta(days=4)
    with scoped(session_factory, alpha_scope(fleet)) as db:
        latest = queries.latest_values(db, [alpha.barrier.id, alpha.thermostat.id])
        only = queries.latest_values(db, [alpha.thermostat.id], ["valve_opening", "nonexistent"])

    assert [(v.device_id, v.key, v.at, v.value) for v in latest] == [
        (alpha.barrier.id, "cycles", last - timedelta(hours=1), 95.0),
        (alpha.barrier.id, "position", T0 + timedelta(hours=7), "closed"),
        (alpha.thermostat.id, "temperature", last - timedelta(minutes=15), 383.0),
        (alpha.thermostat.id, "valve_opening", last - timedelta(hours=1), 50.0),
    ]
    assert [(v.key, v.value) for v in only] == [("valve_opening", 50.0)]


# --- sites --------------------------------------------------------------------------------


def test_a_site_query_covers_every_device_below_the_site(fleet, session_factory):
    alpha = fleet.alpha
    with system_session(session_factory, reason="test adds a device in another building") as db:
        extra = Device(tenant_id=alpha.customer.id, type_key="thermostat", serial_number="ALPHA-THM-0002",
                       name="Alpha Thermostat 2", site_id=alpha.building.id)
        db.add(extra)
        db.commit()
        extra_id = extra.id
    write(session_factory, series(extra_id, "temperature", T0, T0 + timedelta(days=4), timedelta(hours=1),
                                  value=lambda i: 1000.0))

    with scoped(session_factory, alpha_scope(fleet)) as db:
        site = db.get(type(alpha.site), alpha.site.id)
        device_ids = queries.site_device_ids(db, site)
        buckets = queries.aggregate(db, device_ids, ["temperature"], T0, T0 + timedelta(days=4), "day", BERLIN)
        room = queries.site_device_ids(db, db.get(type(alpha.room), alpha.room.id))

    assert device_ids == sorted([alpha.barrier.id, alpha.thermostat.id, extra_id])
    assert sorted(room) == sorted([alpha.barrier.id, alpha.thermostat.id])
    assert {b.device_id for b in buckets} == {alpha.thermostat.id, extra_id}
    total = queries.combine(buckets)
    assert [b.device_id for b in total] == [None] * len(total)
    for day in total:
        parts = [b for b in buckets if b.start == day.start]
        assert day.count == sum(b.count for b in parts)
        assert day.sum == sum(b.sum for b in parts)
        assert day.max == 1000.0 and day.min == min(b.min for b in parts)
        newest = max(parts, key=lambda b: b.last_at)
        assert (day.last, day.last_at) == (newest.last, newest.last_at)


def test_a_site_grant_sees_only_the_devices_at_its_site(fleet, session_factory):
    alpha = fleet.alpha
    with system_session(session_factory, reason="test adds a device elsewhere") as db:
        elsewhere = Device(tenant_id=alpha.customer.id, type_key="thermostat", serial_number="ALPHA-THM-0003",
                           name="Alpha Thermostat 3", site_id=None)
        db.add(elsewhere)
        db.commit()
        elsewhere_id = elsewhere.id
    write(session_factory, series(elsewhere_id, "temperature", T0, T0 + timedelta(hours=1), timedelta(minutes=15)))

    with scoped(session_factory, AccessScope(site_paths=frozenset({alpha.site.path}))) as db:
        seen = {p.device_id for p in queries.raw_points(db, [alpha.thermostat.id, elsewhere_id], None, T0, T0 + timedelta(hours=1))}
    assert seen == {alpha.thermostat.id}
