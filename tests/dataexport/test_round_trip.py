"""Round trip: export a tenant from one instance, import it into another, export again; the content is the same."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leitstand.accounts.models import User
from leitstand.dataexport.export import export_tenant
from leitstand.dataexport.importer import import_export
from leitstand.maintenance import book
from leitstand.maintenance.models import InspectionAttachment
from leitstand.telemetry.models import TelemetryRollup
from leitstand.tenancy.scope import system_session
from tests.dataexport.conftest import PDF, Instance, seed_tenant


def export(instance: Instance, tenant_id: int, out: Path) -> dict:
    with system_session(instance.factory, reason="test export") as db:
        return export_tenant(db, instance.settings, tenant_id, out).manifest


def rollups(instance: Instance) -> set[tuple]:
    """Every rollup row, by serial number instead of device id, for the Alpha devices."""
    from leitstand.devices.models import Device

    with system_session(instance.factory, reason="test reads rollups") as db:
        rows = db.execute(select(Device.serial_number, TelemetryRollup.key, TelemetryRollup.period,
                                 TelemetryRollup.bucket_start, TelemetryRollup.count, TelemetryRollup.sum,
                                 TelemetryRollup.min, TelemetryRollup.max, TelemetryRollup.last_value,
                                 TelemetryRollup.last_ts)
                          .join(Device, Device.id == TelemetryRollup.device_id)
                          .where(Device.serial_number.startswith("ALPHA")))
        return {(*row[:5], round(row[5], 9), *row[6:]) for row in rows}


def round_trip(source: Instance, target: Instance, tmp_path: Path) -> None:
    seeded = seed_tenant(source)
    first = export(source, seeded.partner_id, tmp_path / "first.zip")
    assert first["counts"]["telemetry_points"] == seeded.points
    assert first["counts"]["tenants"] == 3 and first["counts"]["documents"] == 1
    report = import_export(target.factory, target.settings, tmp_path / "first.zip")
    assert report.telemetry_points == seeded.points
    second = export(target, report.tenant_id, tmp_path / "second.zip")

    assert second["counts"] == first["counts"]
    assert second["content"] == first["content"], "the content checksums differ"
    # Telemetry files hold no ids: byte for byte the same, whatever the backend.
    telemetry = {name: entry for name, entry in first["files"].items() if name.startswith(("telemetry/", "documents/"))}
    assert {name: second["files"][name] for name in telemetry} == telemetry
    # The times of each file's first and last point, whichever backend read them off.
    spans = sorted((entry["file"], entry["points"], entry["first"], entry["last"]) for entry in first["telemetry"]["files"])
    assert sorted((entry["file"], entry["points"], entry["first"], entry["last"])
                  for entry in second["telemetry"]["files"]) == spans
    assert ("telemetry/ALPHA-BAR-0001/state.csv", 10, "2026-03-28T00:00:00.00025Z", "2026-03-28T09:00:00.00025Z") in spans
    # Rollups, computed on import with the exported ones over them: the same buckets and figures as in the source.
    assert rollups(target) == rollups(source) != set()
    with system_session(target.factory, reason="test") as db:
        # Users come without passwords; documents are readable in the new data dir.
        assert all(user.password_hash is None for user in db.scalars(select(User).where(User.id.in_(
            list(report.remapped["users"].values())))))
        attachment = db.scalar(select(InspectionAttachment))
        assert attachment is not None and book.read_attachment(target.settings, attachment) == PDF


def test_sqlite_to_postgresql_and_back_again(sqlite_instance: Instance, pg_instance: Instance, tmp_path: Path) -> None:
    round_trip(sqlite_instance, pg_instance, tmp_path)


def test_postgresql_to_sqlite(sqlite_instance: Instance, pg_instance: Instance, tmp_path: Path) -> None:
    round_trip(pg_instance, sqlite_instance, tmp_path)


def test_export_holds_the_subtree_only_and_no_secrets(sqlite_instance: Instance, tmp_path: Path) -> None:
    seeded = seed_tenant(sqlite_instance)
    export(sqlite_instance, seeded.customer_id, tmp_path / "customer.zip")
    with zipfile.ZipFile(tmp_path / "customer.zip") as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        users = [json.loads(line) for line in archive.read("data/users.jsonl").splitlines()]
    assert b"BETA" not in everything and b"Alpha Partner" not in everything
    assert manifest["counts"]["tenants"] == 2  # the customer and its end customer
    assert users and all("password_hash" not in user and "totp_secret_encrypted" not in user for user in users)
    with zipfile.ZipFile(tmp_path / "customer.zip") as archive:
        devices = archive.read("data/devices.jsonl")
    assert devices and b"claim_secret_hash" not in devices
    assert b"ab" * 32 not in everything  # the release code's hash
    assert manifest["format"] == "leitstand-export" and manifest["schema_version"] == 1
    assert "telemetry/ALPHA-THM-0001/temperature.csv" in manifest["files"]


def test_conflicting_emails_are_refused_or_suffixed(sqlite_instance: Instance, tmp_path: Path) -> None:
    from leitstand.dataexport.importer import ImportRefused

    seeded = seed_tenant(sqlite_instance)
    export(sqlite_instance, seeded.partner_id, tmp_path / "again.zip")
    with system_session(sqlite_instance.factory, reason="test") as db:
        users_before = db.scalar(select(func.count()).select_from(User))
    with pytest.raises(ImportRefused) as refused:
        import_export(sqlite_instance.factory, sqlite_instance.settings, tmp_path / "again.zip")
    assert any("operator@alpha.test exists already" in problem for problem in refused.value.problems)
    report = import_export(sqlite_instance.factory, sqlite_instance.settings, tmp_path / "again.zip", on_conflict="suffix")
    assert "user operator@alpha.test → operator+imported1@alpha.test" in report.renamed
    assert any(line.startswith("device ALPHA-BAR-0001 → ALPHA-BAR-0001-imported1") for line in report.renamed)
    with system_session(sqlite_instance.factory, reason="test") as db:
        assert db.scalar(select(func.count()).select_from(User)) == users_before + report.counts["users"]
