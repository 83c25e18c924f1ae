"""Value statuses and interval ends (from batch sources) through a tenant export and import,
both ways between SQLite and PostgreSQL."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from leitstand.dataexport import manifest as fmt
from leitstand.dataexport.export import export_tenant
from leitstand.dataexport.importer import import_export
from leitstand.devices.models import Device
from leitstand.ingest.message import BATCH_BACKFILL, DeviceMessage, MessageKind, Reading, ReadingStatus
from leitstand.telemetry.models import TelemetryPoint
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.scope import system_session
from tests.dataexport.conftest import Instance, seed_tenant
from tests.helpers.ingest import bare_ingestor

QUARTER = timedelta(minutes=15)
# Two years back: only a batch source may deliver it.
BEGIN = datetime(2024, 11, 3, 23, 0, tzinfo=UTC)


def meter_history(serial: str) -> DeviceMessage:
    readings = [Reading("cycles", BEGIN + n * QUARTER, 1000.0 + n, ReadingStatus.substitute if n % 3 == 0
                        else ReadingStatus.measured, BEGIN + (n + 1) * QUARTER) for n in range(8)]
    return DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=datetime.now(UTC),
                         readings=tuple(readings))


def points_of(instance: Instance, serial: str) -> list[tuple]:
    with system_session(instance.factory, reason="test reads points") as db:
        point = TelemetryPoint
        return [tuple(row) for row in db.execute(
            select(point.key, point.ts, point.num, point.txt, point.status, point.interval_end)
            .join(Device, Device.id == point.device_id).where(Device.serial_number == serial)
            .order_by(point.key, point.ts))]


def export(instance: Instance, tenant_id: int, out: Path) -> dict:
    with system_session(instance.factory, reason="test export") as db:
        return export_tenant(db, instance.settings, tenant_id, out).manifest


@pytest.mark.parametrize("direction", ["sqlite_to_postgresql", "postgresql_to_sqlite"])
def test_statuses_and_intervals_survive_an_export_and_import(sqlite_instance: Instance, pg_instance: Instance,
                                                             tmp_path: Path, direction: str) -> None:
    source, target = ((sqlite_instance, pg_instance) if direction == "sqlite_to_postgresql"
                      else (pg_instance, sqlite_instance))
    seeded = seed_tenant(source)
    serial = "ALPHA-BAR-0001"
    report = bare_ingestor(source.factory).accept([meter_history(serial)], backfill=BATCH_BACKFILL)
    assert report.points_written == 8
    # A text with a comma is quoted in the export file: the importer's other way in.
    with system_session(source.factory, reason="test writes a point") as db:
        barrier = db.scalar(select(Device.id).where(Device.serial_number == serial))
        write_points(db.connection(), [Point(barrier, "note", BEGIN, "open, stuck", "Europe/Berlin", "provisional",
                                             BEGIN + QUARTER)])
        db.commit()
    before = points_of(source, serial)
    assert ("note", BEGIN, None, "open, stuck", "provisional", BEGIN + QUARTER) in before

    first = export(source, seeded.partner_id, tmp_path / "first.zip")
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        assert archive.read(f"telemetry/{serial}/cycles.csv").startswith(
            fmt.MARKED_TELEMETRY_HEADER + b"2024-11-03T23:00:00Z,1000,,substitute,2024-11-03T23:15:00Z\n")
        # A series of plain measured values keeps the three columns it always had.
        assert archive.read("telemetry/ALPHA-THM-0001/temperature.csv").startswith(fmt.TELEMETRY_HEADER)
    imported = import_export(target.factory, target.settings, tmp_path / "first.zip")

    assert points_of(target, serial) == before
    second = export(target, imported.tenant_id, tmp_path / "second.zip")
    telemetry = {name: entry for name, entry in first["files"].items() if name.startswith("telemetry/")}
    assert {name: second["files"][name] for name in telemetry} == telemetry  # byte for byte, whichever backend
    assert second["content"] == first["content"]
