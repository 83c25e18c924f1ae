"""Deferred rollups: ingest queues new points, the drain merges them into exactly the rollups
ingest would have written itself; one drainer at a time, and a drainer thread that keeps going."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, text

from leitstand.telemetry.drainer import RollupDrainer
from leitstand.telemetry.models import TelemetryRollup
from leitstand.telemetry.store import (
    PERIODS,
    Point,
    bucket_start,
    delete_telemetry,
    drain_rollup_queue,
    pending_rollups,
    write_points,
)
from leitstand.tenancy.scope import system_session

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
WAIT = 20  # seconds a drainer thread may take at most, on a busy machine


@pytest.fixture
def postgresql_only(backend):  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("rollups are deferred on PostgreSQL only")


@pytest.fixture
def engine(session_factory):  # type: ignore[no-untyped-def]
    return session_factory.kw["bind"]


def write(session_factory, points, *, defer: bool) -> int:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test writes telemetry") as db:
        written = write_points(db.connection(), points, defer_rollups=defer)
        db.commit()
    return written


def drain(engine, limit: int = 50_000) -> int:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        return drain_rollup_queue(connection, limit=limit)


def queued(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return pending_rollups(connection)


def all_rollups(session_factory) -> dict:  # type: ignore[no-untyped-def]
    with system_session(session_factory, reason="test reads rollups") as db:
        return {(r.device_id, r.key, r.period, r.bucket_start): (r.count, r.sum, r.min, r.max, r.last_value, r.last_ts)
                for r in db.scalars(select(TelemetryRollup))}


def forget_telemetry(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM telemetry"))
        connection.execute(text("DELETE FROM telemetry_rollups"))
        connection.execute(text("DELETE FROM telemetry_rollup_queue"))


def series(device_id: int, key: str, zone: str, start: datetime, hours: int, step: timedelta,
           value=lambda i: (i % 13) * 0.25 - 1.0):  # type: ignore[no-untyped-def]
    """Values are multiples of 1/4, so sums are exact in any order of addition."""
    points, at, i = [], start, 0
    while at < start + timedelta(hours=hours):
        points.append(Point(device_id, key, at, value(i), zone))
        at += step
        i += 1
    return points


def mixed_batches() -> list[list[Point]]:
    """Several devices in two tenants' zones, across Berlin's spring DST day (29 March 2026)
    and New York's (8 March 2026), with a text key, booleans, and batches sent again."""
    spring = datetime(2026, 3, 28, 20, tzinfo=UTC)
    points = (
        series(1, "temperature", BERLIN, spring, 30, timedelta(minutes=20))
        + series(2, "temperature", BERLIN, spring, 30, timedelta(minutes=45), value=lambda i: 40.0 - i * 0.5)
        + series(3, "temperature", NEW_YORK, datetime(2026, 3, 7, 22, tzinfo=UTC), 36, timedelta(minutes=30))
        + series(3, "valve", NEW_YORK, datetime(2026, 3, 31, 20, tzinfo=UTC), 8, timedelta(hours=1),
                 value=lambda i: i % 2 == 0)
        + [Point(1, "state", spring + timedelta(hours=h), "open" if h % 2 else "closed", BERLIN) for h in range(10)]
    )
    batches = [points[start:start + 97] for start in range(0, len(points), 97)]
    # Redelivered: a whole batch again, and a batch overlapping two earlier ones.
    return batches + [batches[1], points[150:260]]


# --- deferring ----------------------------------------------------------------------------


def test_deferred_writes_fill_the_queue_and_leave_the_rollups_alone(session_factory, engine, postgresql_only):
    immediate = series(1, "temperature", BERLIN, datetime(2026, 5, 1, tzinfo=UTC), 2, timedelta(minutes=30))
    write(session_factory, immediate, defer=False)
    before = all_rollups(session_factory)

    deferred = series(1, "temperature", BERLIN, datetime(2026, 5, 1, 2, tzinfo=UTC), 2, timedelta(minutes=30))
    texts = [Point(1, "state", datetime(2026, 5, 1, 2, tzinfo=UTC), "open", BERLIN)]
    assert write(session_factory, deferred + texts, defer=True) == 5

    assert all_rollups(session_factory) == before
    assert queued(engine) == 4  # text values are stored, never queued
    # A duplicate of a stored point is not queued again, whichever path stored it.
    assert write(session_factory, deferred + immediate, defer=True) == 0
    assert queued(engine) == 4


def test_a_drain_yields_exactly_the_rollups_of_immediate_ingest(session_factory, engine, postgresql_only):
    batches = mixed_batches()
    for batch in batches:
        write(session_factory, batch, defer=False)
    expected = all_rollups(session_factory)
    assert {period for _, _, period, _ in expected} == {"hour", "day", "month"}
    assert not any(key == "state" for _, key, _, _ in expected)
    forget_telemetry(engine)

    half = len(batches) // 2
    for batch in batches[:half]:
        write(session_factory, batch, defer=True)
    first = drain(engine)  # min, max and last must merge across two drains
    for batch in batches[half:]:
        write(session_factory, batch, defer=True)
    second = drain(engine, limit=100)  # and across several transactions of one drain
    while (more := drain(engine, limit=100)) == 100:
        second += more
    second += more

    numbers = sum(1 for batch in batches for point in batch if not isinstance(point.value, str))
    assert 0 < first < numbers and first + second < numbers  # the redelivered points were never queued
    assert queued(engine) == 0
    assert all_rollups(session_factory) == expected



def test_a_drain_rolls_up_a_quarter_hour_zone_and_microseconds_as_python_does(session_factory, engine,
                                                                            postgresql_only):
    """The drain groups points into quarter hours first: Kathmandu (UTC+5:45) has its local
    midnight at 18:15 UTC, inside a UTC hour, and the last value must be told from one
    written a microsecond earlier."""
    kathmandu = "Asia/Kathmandu"
    start = datetime(2026, 5, 1, 17, 2, tzinfo=UTC)
    points = series(7, "temperature", kathmandu, start, 3, timedelta(minutes=7, seconds=30))
    last_at = start + timedelta(hours=3, seconds=1)
    points += [Point(7, "temperature", last_at - timedelta(microseconds=1), 99.0, kathmandu),
               Point(7, "temperature", last_at, -5.5, kathmandu)]
    expected: dict = {}
    for point in points:
        for period in PERIODS:
            slot = (7, "temperature", period, bucket_start(period, point.at, kathmandu))
            count, total, low, high, last_value, last_ts = expected.get(slot, (0, 0.0, None, None, None, None))
            later = last_ts is None or point.at > last_ts
            expected[slot] = (count + 1, total + point.value, point.value if low is None else min(low, point.value),
                              point.value if high is None else max(high, point.value),
                              point.value if later else last_value, point.at if later else last_ts)
    days = {slot[3] for slot in expected if slot[2] == "day"}
    assert days == {datetime(2026, 4, 30, 18, 15, tzinfo=UTC), datetime(2026, 5, 1, 18, 15, tzinfo=UTC)}

    write(session_factory, points, defer=True)
    drain(engine)

    assert all_rollups(session_factory) == expected
    assert expected[(7, "temperature", "hour", datetime(2026, 5, 1, 20, tzinfo=UTC))][4:] == (-5.5, last_at)

def test_the_dst_day_has_its_local_length_after_a_drain(session_factory, engine, postgresql_only):
    points = series(1, "temperature", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC), 48, timedelta(minutes=15))
    write(session_factory, points, defer=True)
    drain(engine)

    days = {start: count for (_, _, period, start), (count, *_) in all_rollups(session_factory).items()
            if period == "day"}
    assert days[datetime(2026, 3, 28, 23, tzinfo=UTC)] == 23 * 4  # 29 March in Berlin: 23 hours


def test_sqlite_ignores_the_deferral_and_rolls_up_at_once(session_factory, engine, backend):
    if backend != "sqlite":
        pytest.skip("the SQLite half")
    points = series(1, "temperature", BERLIN, datetime(2026, 5, 1, tzinfo=UTC), 1, timedelta(minutes=15))

    assert write(session_factory, points, defer=True) == 4

    assert all_rollups(session_factory)[(1, "temperature", "hour", datetime(2026, 5, 1, tzinfo=UTC))][0] == 4
    assert queued(engine) == 0
    assert drain(engine) == 0


def test_a_time_zone_the_database_does_not_know_is_refused_before_it_is_queued(session_factory, engine,
                                                                            postgresql_only, monkeypatch):
    from leitstand.telemetry import store

    monkeypatch.setattr(store, "_check_zone", lambda point: None)  # as if Python knew "Mars/Olympus"
    with pytest.raises(ValueError, match="Mars/Olympus"):
        write(session_factory, [Point(1, "temperature", datetime(2026, 5, 1, tzinfo=UTC), 1.0, "Mars/Olympus")],
              defer=True)
    assert queued(engine) == 0


# --- one drainer at a time ----------------------------------------------------------------


def test_a_second_drainer_gets_nothing_while_the_first_holds_the_lock(session_factory, engine, postgresql_only):
    write(session_factory, series(1, "temperature", BERLIN, datetime(2026, 5, 1, tzinfo=UTC), 2,
                                  timedelta(minutes=15)), defer=True)

    with engine.begin() as first:
        assert drain_rollup_queue(first, limit=3) == 3
        assert drain(engine) == 0  # 5 points are still queued, but the lock is taken
    assert drain(engine) == 5
    assert queued(engine) == 0


# --- deleting -----------------------------------------------------------------------------


def test_deleting_a_devices_telemetry_removes_its_queued_points(session_factory, engine, postgresql_only):
    at = datetime(2026, 5, 1, tzinfo=UTC)
    write(session_factory, series(1, "temperature", BERLIN, at, 1, timedelta(minutes=15))
          + series(2, "temperature", BERLIN, at, 1, timedelta(minutes=15)), defer=True)

    with system_session(session_factory, reason="test deletes a device's telemetry") as db:
        delete_telemetry(db, 1)
        db.commit()

    assert queued(engine) == 4
    drain(engine)
    assert {device_id for device_id, *_ in all_rollups(session_factory)} == {2}


def test_deleting_a_device_through_the_api_removes_its_queued_points(world, session_factory, engine,
                                                                   postgresql_only):
    at = datetime(2026, 5, 1, tzinfo=UTC)
    write(session_factory, series(world.alpha.barrier.id, "cycles", BERLIN, at, 1, timedelta(minutes=15))
          + series(world.beta.barrier.id, "cycles", BERLIN, at, 1, timedelta(minutes=15)), defer=True)

    response = world.as_user("alpha_operator").delete(f"/api/v1/devices/{world.alpha.barrier.id}")

    assert response.status_code == 204
    with engine.connect() as connection:
        left = connection.execute(text("SELECT DISTINCT device_id FROM telemetry_rollup_queue")).scalars().all()
    assert left == [world.beta.barrier.id]


# --- the drainer thread -------------------------------------------------------------------


def test_the_drainer_thread_drains_what_ingest_queued(session_factory, engine, postgresql_only):
    at = datetime(2026, 5, 1, tzinfo=UTC)
    write(session_factory, series(1, "temperature", BERLIN, at, 2, timedelta(minutes=15)), defer=True)
    drainer = RollupDrainer(engine, interval=60, limit=3)  # a long wait: only wake() brings the second turn
    drainer.start()
    try:
        assert drainer.wait_for_turn(0, WAIT)  # the first turn drains at once, 3 at a time until empty
        assert queued(engine) == 0
        assert all_rollups(session_factory)[(1, "temperature", "hour", at)][0] == 4

        write(session_factory, series(1, "temperature", BERLIN, at + timedelta(hours=2), 1, timedelta(minutes=15)),
              defer=True)
        # The turn in progress (if any) may have started before the write; the one after it did not.
        turns = drainer.turns
        drainer.wake()
        assert drainer.wait_for_turn(turns, WAIT)
        drainer.wake()
        assert drainer.wait_for_turn(turns + 1, WAIT)
        assert queued(engine) == 0
        assert drainer.drained == 12
    finally:
        drainer.stop()


def test_the_drainer_thread_survives_a_database_it_cannot_reach(postgresql_only, caplog):
    from tests.conftest import free_port

    unreachable = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    drainer = RollupDrainer(unreachable, interval=0.01)
    with caplog.at_level(logging.INFO, logger="leitstand.telemetry.drainer"):
        drainer.start()
        try:
            assert drainer.wait_for_turn(2, WAIT)  # three turns, each failing, the thread still there
        finally:
            drainer.stop()
    assert "rollup drain failed" in caplog.text
    unreachable.dispose()


def test_the_drainer_does_not_start_on_sqlite(engine, backend):
    if backend != "sqlite":
        pytest.skip("the SQLite half")
    drainer = RollupDrainer(engine, interval=0.01)
    drainer.start()
    assert drainer.turns == 0 and drainer._thread is None
    drainer.stop()


# --- ingest -------------------------------------------------------------------------------


def test_ingest_defers_rollups_but_stores_points_and_live_state_at_once(world, session_factory, engine,
                                                                        postgresql_only):
    from leitstand.clock import clock
    from leitstand.ingest.message import DeviceMessage, MessageKind, Reading
    from leitstand.state.models import DeviceState
    from tests.helpers.ingest import bare_ingestor

    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    clock.freeze(now)
    barrier = world.alpha.barrier
    message = DeviceMessage(serial=barrier.serial_number, kind=MessageKind.telemetry, received_at=now,
                            readings=(Reading("cycles", now, 1200), Reading("position", now, "closed")))
    ingestor = bare_ingestor(session_factory, defer_rollups=True)

    assert ingestor.accept([message]).points_written == 2
    assert ingestor.accept([message]).points_written == 0  # redelivered

    world.db.expire_all()
    assert world.db.get(DeviceState, barrier.id).latest["cycles"]["value"] == 1200
    assert all_rollups(session_factory) == {}
    assert queued(engine) == 1
    assert drain(engine) == 1
    assert all_rollups(session_factory)[(barrier.id, "cycles", "hour", now)][:2] == (1, 1200.0)


@pytest.mark.parametrize(("setting", "deferred"), [("deferred", True), ("immediate", False)])
def test_the_app_ingests_as_the_setting_says(settings, setting, deferred):
    from leitstand.runtime import app_without_transports

    assert settings.telemetry_rollups == "deferred"  # the default
    with app_without_transports(settings.model_copy(update={"telemetry_rollups": setting})) as app:
        assert app.state.ingestor.ports.points.defer_rollups is deferred
