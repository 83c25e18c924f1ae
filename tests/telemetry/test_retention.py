"""Retention: old raw points of a tenant with a retention go, rollups and everyone else stay."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup
from leitstand.telemetry.retention import apply_retention, retention_cutoff
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session

BERLIN = "Europe/Berlin"
TODAY = date(2026, 11, 21)


def write_days(session_factory, device_id: int, first: date, days: int) -> None:  # type: ignore[no-untyped-def]
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    points = [Point(device_id, "temperature", start + timedelta(hours=h), 20.0, BERLIN) for h in range(24 * days)]
    with system_session(session_factory, reason="test") as db:
        write_points(db.connection(), points)
        db.commit()


def counts(session_factory, device_id: int) -> tuple[int, int, datetime | None]:  # type: ignore[no-untyped-def]
    """(raw points, rolled-up count over all day buckets, oldest raw point)"""
    with system_session(session_factory, reason="test") as db:
        raw = db.scalar(select(func.count()).where(TelemetryPoint.device_id == device_id)) or 0
        rolled = db.scalar(select(func.sum(TelemetryRollup.count)).where(
            TelemetryRollup.device_id == device_id, TelemetryRollup.period == "day")) or 0
        oldest = db.scalar(select(func.min(TelemetryPoint.ts)).where(TelemetryPoint.device_id == device_id))
        return raw, rolled, oldest


def set_retention(world, tenant: Tenant, days: int | None) -> None:  # type: ignore[no-untyped-def]
    world.db.get(Tenant, tenant.id).telemetry_retention_days = days
    world.db.commit()


def test_the_cutoff_is_local_midnight_n_days_back():
    assert retention_cutoff(TODAY, 30, BERLIN) == datetime(2026, 10, 21, 22, tzinfo=UTC)  # 22 Oct 00:00 CEST
    assert retention_cutoff(date(2026, 3, 30), 1, BERLIN) == datetime(2026, 3, 28, 23, tzinfo=UTC)  # 29 Mar 00:00 CET


def test_retention_deletes_old_raw_points_of_that_tenant_only_and_keeps_rollups(world, session_factory):
    alpha, beta = world.alpha, world.beta
    set_retention(world, alpha.customer, 30)
    for device in (alpha.thermostat, alpha.barrier, beta.thermostat):
        write_days(session_factory, device.id, TODAY - timedelta(days=60), 61)
    before = {device.id: counts(session_factory, device.id) for device in (alpha.thermostat, alpha.barrier, beta.thermostat)}

    deleted = apply_retention(session_factory, TODAY, batch_size=97)  # small batches: many transactions

    cutoff = retention_cutoff(TODAY, 30, BERLIN)
    expected_gone = int((cutoff - datetime(2026, 9, 22, tzinfo=UTC)) / timedelta(hours=1))
    assert deleted == {alpha.customer.id: 2 * expected_gone}
    for device in (alpha.thermostat, alpha.barrier):
        raw, rolled, oldest = counts(session_factory, device.id)
        assert raw == before[device.id][0] - expected_gone
        assert oldest == cutoff
        assert rolled == before[device.id][1]  # the rollups still cover the whole history
    assert counts(session_factory, beta.thermostat.id) == before[beta.thermostat.id]


def test_a_second_run_finds_nothing_more(world, session_factory):
    set_retention(world, world.alpha.customer, 7)
    write_days(session_factory, world.alpha.thermostat.id, TODAY - timedelta(days=10), 11)

    first = apply_retention(session_factory, TODAY)
    second = apply_retention(session_factory, TODAY)

    assert first[world.alpha.customer.id] > 0
    assert second == {world.alpha.customer.id: 0}


def test_retention_is_per_tenant_not_inherited(world, session_factory):
    """A retention on the partner does not reach its customer's devices."""
    set_retention(world, world.alpha.partner, 1)
    write_days(session_factory, world.alpha.thermostat.id, TODAY - timedelta(days=10), 11)
    before = counts(session_factory, world.alpha.thermostat.id)

    assert apply_retention(session_factory, TODAY) == {world.alpha.partner.id: 0}
    assert counts(session_factory, world.alpha.thermostat.id) == before


def test_without_any_retention_nothing_is_deleted(world, session_factory):
    write_days(session_factory, world.alpha.thermostat.id, date(2020, 1, 1), 2)

    assert apply_retention(session_factory, TODAY) == {}
    assert counts(session_factory, world.alpha.thermostat.id)[0] == 48
