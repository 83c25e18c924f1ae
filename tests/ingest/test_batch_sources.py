"""Readings from batch sources (meter files, uploads): a value status, an interval end, and
a backfill policy of their own; the license gate's rule for historic values."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leitstand.clock import clock
from leitstand.ingest.message import (
    BATCH_BACKFILL, LIVE_BACKFILL, BackfillPolicy, DeviceMessage, MessageKind, Reading, ReadingStatus,
)
from leitstand.telemetry.models import TelemetryPoint
from tests.helpers.ingest import bare_ingestor
from tests.helpers.world import World

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
QUARTER = timedelta(minutes=15)
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
THREE_YEARS = timedelta(days=3 * 365)


@pytest.fixture
def ingestor(session_factory, world: World):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    return bare_ingestor(session_factory)


def meter_values(serial: str, *readings: Reading) -> DeviceMessage:
    """What a batch source hands to ingest: canonical messages (the native protocol has no status)."""
    return DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=NOW, readings=readings)


def stored(world: World, device_id: int) -> list[tuple[datetime, float | None, str, datetime | None]]:
    world.db.expire_all()
    point = TelemetryPoint
    return [tuple(row) for row in world.db.execute(  # type: ignore[misc]
        select(point.ts, point.num, point.status, point.interval_end)
        .where(point.device_id == device_id).order_by(point.ts))]


def test_a_substitute_quarter_hour_value_comes_back_through_the_api_and_the_csv_export(world, ingestor):
    barrier = world.alpha.barrier
    batch = meter_values(barrier.serial_number,
                         Reading("cycles", START, 12.0, ReadingStatus.substitute, START + QUARTER),
                         Reading("cycles", START + QUARTER, 13.0, interval_end=START + 2 * QUARTER))

    report = ingestor.accept([batch], backfill=BATCH_BACKFILL)

    assert (report.accepted, report.points_written) == (1, 2)
    assert stored(world, barrier.id) == [(START, 12.0, "substitute", START + QUARTER),
                                         (START + QUARTER, 13.0, "measured", START + 2 * QUARTER)]
    client = world.as_user("alpha_operator")
    window = {"from": START.isoformat(), "to": NOW.isoformat()}
    body = client.get(f"/api/v1/devices/{barrier.id}/telemetry", params=window).json()
    assert body["series"][0]["points"] == [
        {"key": "cycles", "at": "2026-11-21T10:00:00+01:00", "value": 12.0, "status": "substitute",
         "interval_end": "2026-11-21T10:15:00+01:00"},
        {"key": "cycles", "at": "2026-11-21T10:15:00+01:00", "value": 13.0, "status": "measured",
         "interval_end": "2026-11-21T10:30:00+01:00"},
    ]
    latest = client.get(f"/api/v1/devices/{barrier.id}/telemetry/latest").json()["values"]
    assert [(value["status"], value["interval_end"]) for value in latest] == [("measured", "2026-11-21T10:30:00+01:00")]
    response = client.get(f"/api/v1/devices/{barrier.id}/telemetry/export", params={**window, "format": "csv"})
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][-2:] == ["status", "interval_end"]
    assert rows[1][2:] == ["2026-11-21T10:00:00+01:00", "12.0", "substitute", "2026-11-21T10:15:00+01:00"]


def test_a_three_year_backfill_is_accepted_from_a_batch_source_and_refused_from_a_live_one(world, ingestor):
    barrier = world.alpha.barrier
    old = NOW - THREE_YEARS
    history = meter_values(barrier.serial_number, Reading("cycles", old, 5.0, ReadingStatus.estimated, old + QUARTER))

    live = ingestor.accept([history])  # a live transport's policy: the default
    assert live.rejected["bad_timestamp"] == 1 and stored(world, barrier.id) == []

    batch = ingestor.accept([history], backfill=BATCH_BACKFILL)
    assert batch.accepted == 1 and stored(world, barrier.id) == [(old, 5.0, "estimated", old + QUARTER)]


def test_live_transports_keep_the_window_of_366_days_and_10_minutes():
    assert LIVE_BACKFILL.window(NOW) == (NOW - timedelta(days=366), NOW + timedelta(minutes=10))
    # A batch source may go back as far as the platform stores anything, no further.
    assert BATCH_BACKFILL.window(NOW) == (datetime(2000, 1, 1, tzinfo=UTC), NOW + timedelta(minutes=10))


def test_a_source_may_name_a_policy_of_its_own(world, ingestor):
    barrier = world.alpha.barrier
    two_years = BackfillPolicy("meter-files-two-years", max_past=timedelta(days=2 * 366))
    batch = meter_values(barrier.serial_number, Reading("cycles", NOW - timedelta(days=700), 1.0),
                         Reading("cycles", NOW - timedelta(days=800), 2.0))

    report = ingestor.accept([batch], backfill=two_years)

    assert report.rejected["bad_timestamp"] == 1 and stored(world, barrier.id) == []


def test_the_license_gate_asks_whether_the_license_is_active_now_not_at_the_readings_time(world, ingestor):
    # The barrier's license began 30 days ago: history from three years back is still accepted.
    barrier = world.alpha.barrier
    old = NOW - THREE_YEARS
    assert ingestor.accept([meter_values(barrier.serial_number, Reading("cycles", old, 1.0))],
                           backfill=BATCH_BACKFILL).accepted == 1

    # A license that ended yesterday: even values from while it was active are refused.
    license_ = world.alpha.license
    license_.starts_on, license_.ends_on = (NOW - timedelta(days=400)).date(), (NOW - timedelta(days=1)).date()
    world.db.commit()
    ingestor.directory.forget()
    while_licensed = NOW - timedelta(days=100)
    report = ingestor.accept([meter_values(barrier.serial_number, Reading("cycles", while_licensed, 2.0))],
                             backfill=BATCH_BACKFILL)

    assert report.rejected["unlicensed"] == 1
    assert stored(world, barrier.id) == [(old, 1.0, "measured", None)]


@pytest.mark.parametrize(("reading", "reason"), [
    (Reading("cycles", START, 1.0, interval_end=START), "bad_timestamp"),  # an interval must last
    (Reading("cycles", START, 1.0, interval_end=START - QUARTER), "bad_timestamp"),
    (Reading("cycles", START, 1.0, interval_end=NOW + timedelta(hours=1)), "bad_timestamp"),  # ends in the future
    (Reading("cycles", START, 1.0, interval_end=datetime(2026, 11, 21, 9, 15)), "bad_timestamp"),  # no offset
    (Reading("cycles", START, 1.0, "guessed"), "bad_value"),  # type: ignore[arg-type]
])
def test_an_implausible_status_or_interval_is_refused(world, ingestor, reading, reason):
    report = ingestor.accept([meter_values(world.alpha.barrier.serial_number, reading)], backfill=BATCH_BACKFILL)

    assert report.rejected[reason] == 1
    assert stored(world, world.alpha.barrier.id) == []


def test_the_device_page_marks_a_substitute_value_and_the_quarter_hour_it_covers(world, ingestor):
    barrier = world.alpha.barrier
    ingestor.accept([meter_values(barrier.serial_number,
                                  Reading("cycles", START, 12.0, ReadingStatus.substitute, START + QUARTER))],
                    backfill=BATCH_BACKFILL)
    client = world.as_user("alpha_operator")

    german = client.get(f"/devices/{barrier.id}/status").text
    world.users["alpha_operator"].language = "en"
    world.db.commit()
    english = client.get(f"/devices/{barrier.id}/status").text

    assert "Ersatzwert" in german and "10:00–10:15" in german
    assert "Substitute value" in english and "10:00–10:15" in english


def test_a_measured_value_at_an_instant_carries_no_mark(world, ingestor):
    barrier = world.alpha.barrier
    ingestor.accept([meter_values(barrier.serial_number, Reading("cycles", START, 12.0))])

    page = world.as_user("alpha_operator").get(f"/devices/{barrier.id}/status").text

    assert "data-reading-status" not in page and "data-reading-interval" not in page
