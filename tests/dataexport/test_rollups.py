"""Rollups in an export: history that retention left only as rollups survives export and import;
the import computes the rest itself, on PostgreSQL straight from its COPY."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leitstand.bootstrap import root_tenant
from leitstand.dataexport import bulkload
from leitstand.dataexport import manifest as fmt
from leitstand.dataexport.importer import ImportRefused, import_export
from leitstand.devices.models import Device
from leitstand.telemetry import queries
from leitstand.telemetry.retention import apply_retention
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session
from tests.dataexport.conftest import Instance, seed_tenant
from tests.dataexport.test_bad_input import assert_nothing_written, row_counts
from tests.dataexport.test_round_trip import export, rollups
from tests.helpers.world import _organisation

BERLIN = "Europe/Berlin"
THERMOSTAT_FILE = "telemetry/ALPHA-THM-0001/temperature.csv"


def aggregates(instance: Instance, start: datetime, end: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """What a chart of the Alpha devices shows per interval over [start, end), by serial number."""
    with system_session(instance.factory, reason="test reads aggregates") as db:
        serials = dict(db.execute(select(Device.id, Device.serial_number)
                                  .where(Device.serial_number.startswith("ALPHA"))).all())
        found = {}
        for interval in ("hour", "day", "month"):
            buckets = queries.aggregate(db, list(serials), None, start, end, interval, BERLIN)
            found[interval] = sorted((serials[b.device_id], b.key, b.start, b.count, round(b.sum, 9), b.min, b.max,
                                      b.last, b.last_at) for b in buckets)
        return found


def set_retention(instance: Instance, tenant_id: int, days: int) -> None:
    with system_session(instance.factory, reason="test sets a retention") as db:
        tenant = db.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.telemetry_retention_days = days
        db.commit()


@pytest.mark.parametrize("direction", ["sqlite→postgresql", "postgresql→sqlite"])
def test_history_kept_only_as_rollups_survives_export_and_import(
        sqlite_instance: Instance, pg_instance: Instance, tmp_path: Path, direction: str) -> None:
    source, target = (sqlite_instance, pg_instance) if direction.startswith("sqlite") else (pg_instance, sqlite_instance)
    seeded = seed_tenant(source)
    # Cut-off: 31 March 00:00 in Berlin (30 March 22:00 UTC). The thermostat keeps its last few
    # hours, the barrier's counter keeps nothing but rollups.
    set_retention(source, seeded.customer_id, 1)
    assert apply_retention(source.factory, date(2026, 4, 1))[seeded.customer_id] > 0
    old = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 30, 22, tzinfo=UTC))
    before = aggregates(source, *old)
    assert before["day"] and before["hour"]

    first = export(source, seeded.partner_id, tmp_path / "first.zip")
    assert first["counts"]["telemetry_rollups"] > 0
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        lines = archive.read(fmt.ROLLUPS).decode().splitlines()
    assert lines[0] == "serial,key,period,bucket_start,count,sum,min,max,last_value,last_ts"
    assert any(line.startswith("ALPHA-BAR-0001,cycles,hour,") for line in lines)  # no raw points left at all
    report = import_export(target.factory, target.settings, tmp_path / "first.zip")

    assert report.counts["telemetry_rollups"] == first["counts"]["telemetry_rollups"]
    assert aggregates(target, *old) == before
    assert rollups(target) == rollups(source)
    second = export(target, report.tenant_id, tmp_path / "second.zip")
    assert second["content"] == first["content"]


def test_the_rollup_file_holds_only_what_the_points_cannot_give(sqlite_instance: Instance, tmp_path: Path) -> None:
    """Without retention: only the buckets that start before a series' first point (its first day
    and month here; the first hour starts with the first point)."""
    seeded = seed_tenant(sqlite_instance)
    manifest = export(sqlite_instance, seeded.partner_id, tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        rows = archive.read(fmt.ROLLUPS).decode().splitlines()[1:]
    assert manifest["telemetry"]["rollups"]["rows"] == len(rows) == manifest["counts"]["telemetry_rollups"]
    assert sorted(row.split(",")[:4] for row in rows) == [
        ["ALPHA-BAR-0001", "cycles", "day", "2026-03-27T23:00:00Z"],
        ["ALPHA-BAR-0001", "cycles", "month", "2026-02-28T23:00:00Z"],
        ["ALPHA-THM-0001", "temperature", "day", "2026-03-27T23:00:00Z"],
        ["ALPHA-THM-0001", "temperature", "month", "2026-02-28T23:00:00Z"],
    ]
    entry = next(item for item in manifest["telemetry"]["files"] if item["file"] == THERMOSTAT_FILE)
    assert (entry["first"], entry["last"]) == ("2026-03-28T00:00:00Z", "2026-03-31T02:45:00Z")


# --- crafted and older exports ------------------------------------------------------------------


def rewrite(source: Path, target: Path, change: Callable[[dict[str, Any], dict[str, bytes]], None]) -> Path:
    """A copy of the export after `change` edited its manifest and members (name → bytes);
    sizes and SHA-256 in the manifest are brought up to date, as a forger would."""
    with zipfile.ZipFile(source) as original:
        members = {name: original.read(name) for name in original.namelist()}
    manifest = json.loads(members.pop(fmt.MANIFEST))
    change(manifest, members)
    for name, data in members.items():
        manifest["files"][name].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as changed:
        for name, data in members.items():
            changed.writestr(name, data)
        changed.writestr(fmt.MANIFEST, json.dumps(manifest))
    return target


def as_older_export(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    """The format before rollups and first/last per file."""
    for entry in manifest["telemetry"]["files"]:
        del entry["first"], entry["last"]
    manifest["telemetry"]["rollups"] = "not exported; recomputed from the points on import"
    del members[fmt.ROLLUPS], manifest["files"][fmt.ROLLUPS]
    del manifest["counts"]["telemetry_rollups"], manifest["content"]["telemetry_rollups"]


def with_a_point_twice(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    lines = members[THERMOSTAT_FILE].splitlines(keepends=True)
    members[THERMOSTAT_FILE] = b"".join(lines[:3] + [lines[2]] + lines[3:])
    entry = next(item for item in manifest["telemetry"]["files"] if item["file"] == THERMOSTAT_FILE)
    entry["points"] += 1
    manifest["files"][THERMOSTAT_FILE]["rows"] = entry["points"]
    manifest["counts"]["telemetry_points"] += 1


@pytest.fixture
def good_export(sqlite_instance: Instance, tmp_path: Path) -> Path:
    seeded = seed_tenant(sqlite_instance)
    export(sqlite_instance, seeded.partner_id, tmp_path / "good.zip")
    return tmp_path / "good.zip"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Instance:
    if request.param == "sqlite":
        from tests.dataexport.conftest import _instance

        return _instance(f"sqlite:///{tmp_path / 'target' / 'leitstand.db'}", tmp_path / "target-data")
    return request.getfixturevalue("pg_instance")


@pytest.mark.parametrize("older", [False, True], ids=["current", "older-format"])
def test_a_point_twice_is_refused_and_nothing_is_written(target: Instance, good_export: Path, tmp_path: Path,
                                                         older: bool) -> None:
    def change(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
        with_a_point_twice(manifest, members)
        if older:
            as_older_export(manifest, members)

    crafted = rewrite(good_export, tmp_path / "twice.zip", change)
    before = row_counts(target)
    with pytest.raises(ImportRefused, match="twice"):
        import_export(target.factory, target.settings, crafted)
    assert_nothing_written(target, before)


def test_an_older_export_still_imports(sqlite_instance: Instance, target: Instance, good_export: Path,
                                       tmp_path: Path) -> None:
    older = rewrite(good_export, tmp_path / "older.zip", as_older_export)
    report = import_export(target.factory, target.settings, older)
    assert report.telemetry_points == json.loads(zipfile.ZipFile(older).read(fmt.MANIFEST))["counts"]["telemetry_points"]
    assert "telemetry_rollups" not in report.counts
    assert rollups(target) == rollups(sqlite_instance) != set()  # all recomputed from the points


def test_a_zone_with_half_hour_offsets_gets_its_days_from_the_points(sqlite_instance: Instance, pg_instance: Instance,
                                                                    tmp_path: Path) -> None:
    """Kolkata is UTC+5:30: a UTC hour straddles local midnight, so hours cannot add up to days."""
    assert not bulkload.whole_hour_offsets("Asia/Kolkata", datetime(2026, 1, 1, tzinfo=UTC),
                                           datetime(2026, 2, 1, tzinfo=UTC))
    assert bulkload.whole_hour_offsets(BERLIN, datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    with system_session(sqlite_instance.factory, reason="test seeds a tenant") as db:
        root = root_tenant(db)
        assert root is not None
        org = _organisation(db, root, "Alpha", "ALPHA-7Q", {})
        org.customer.time_zone = "Asia/Kolkata"
        db.commit()
        start = datetime(2026, 1, 30, 17, 10, tzinfo=UTC)  # 22:40 in Kolkata, across the end of January
        write_points(db.connection(), [Point(org.thermostat.id, "temperature", start + timedelta(minutes=20 * n),
                                             float(n % 11), "Asia/Kolkata") for n in range(200)])
        db.commit()
        partner_id = org.partner.id
    export(sqlite_instance, partner_id, tmp_path / "kolkata.zip")
    import_export(pg_instance.factory, pg_instance.settings, tmp_path / "kolkata.zip")
    assert rollups(pg_instance) == rollups(sqlite_instance) != set()


def test_an_export_drains_deferred_rollups_before_it_reads_them(pg_instance: Instance, tmp_path: Path) -> None:
    from leitstand.telemetry.store import pending_rollups

    seeded = seed_tenant(pg_instance)
    with system_session(pg_instance.factory, reason="test ingests a deferred point") as db:
        device_id = db.scalar(select(Device.id).where(Device.serial_number == "ALPHA-THM-0001"))
        assert device_id is not None
        write_points(db.connection(), [Point(device_id, "temperature", datetime(2026, 3, 2, 9, 7, tzinfo=UTC), 21.5,
                                             BERLIN)], defer_rollups=True)
        db.commit()
        assert pending_rollups(db.connection()) == 1

    export(pg_instance, seeded.partner_id, tmp_path / "export.zip")

    with system_session(pg_instance.factory, reason="test reads the queue") as db:
        assert pending_rollups(db.connection()) == 0  # rolled up before the export read the rollups
    hour = {row for row in rollups(pg_instance) if row[0] == "ALPHA-THM-0001" and row[1] == "temperature"
            and row[2] == "hour" and row[3] == datetime(2026, 3, 2, 9, tzinfo=UTC)}
    assert len(hour) == 1 and next(iter(hour))[4] >= 1
