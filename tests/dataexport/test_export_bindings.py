"""Tenant export and import carry device bindings and connections, never a connection's secrets."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from leitstand.dataexport.importer import import_export
from leitstand.devices.models import Device, DeviceBinding, DeviceConnection
from leitstand.tenancy.scope import system_session
from tests.dataexport.conftest import CONNECTION_SECRET, Instance, seed_tenant
from tests.dataexport.test_round_trip import export


def rows(archive: zipfile.ZipFile, table: str) -> list[dict]:
    return [json.loads(line) for line in archive.read(f"data/{table}.jsonl").splitlines()]


def test_an_export_carries_connections_and_bindings_without_secrets(sqlite_instance: Instance, tmp_path: Path) -> None:
    seeded = seed_tenant(sqlite_instance)
    export(sqlite_instance, seeded.partner_id, tmp_path / "partner.zip")
    with zipfile.ZipFile(tmp_path / "partner.zip") as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
        connections, bindings = rows(archive, "device_connections"), rows(archive, "device_bindings")
    assert sorted((row["transport"], row["name"]) for row in connections) == [("chirpstack", "ChirpStack"), ("tts", "TTS")]
    assert all("secrets_sealed" not in row for row in connections)
    assert CONNECTION_SECRET.encode() not in everything
    assert sorted((row["transport"], row["external_id"]) for row in bindings if row["transport"] != "native") == [
        ("chirpstack", "70B3D57ED0000001"), ("tts", "70B3D57ED0000002")]
    assert {row["external_id"] for row in bindings if row["transport"] == "native"} >= {"ALPHA-BAR-0001", "ALPHA-THM-0001"}


def test_a_customer_export_leaves_the_partners_connection_and_its_bindings_behind(sqlite_instance: Instance,
                                                                                   tmp_path: Path) -> None:
    seeded = seed_tenant(sqlite_instance)
    export(sqlite_instance, seeded.customer_id, tmp_path / "customer.zip")
    with zipfile.ZipFile(tmp_path / "customer.zip") as archive:
        connections, bindings = rows(archive, "device_connections"), rows(archive, "device_bindings")
    assert [row["transport"] for row in connections] == ["chirpstack"]
    assert sorted(row["transport"] for row in bindings if row["transport"] != "native") == ["chirpstack"]


def test_an_import_keeps_the_bindings_on_the_new_rows_and_asks_for_the_secrets_again(sqlite_instance: Instance,
                                                                                     tmp_path: Path) -> None:
    seeded = seed_tenant(sqlite_instance)
    export(sqlite_instance, seeded.partner_id, tmp_path / "again.zip")
    # Into the same instance: serials are renamed, and the native bindings follow them.
    report = import_export(sqlite_instance.factory, sqlite_instance.settings, tmp_path / "again.zip",
                           on_conflict="suffix")
    assert "connection_secrets" in {kind.key for kind in report.not_carried}
    new_devices = set(report.remapped["devices"].values())
    with system_session(sqlite_instance.factory, reason="test check") as db:
        imported = db.execute(select(Device.serial_number, DeviceBinding.transport, DeviceBinding.external_id,
                                     DeviceConnection.name, DeviceConnection.tenant_id, DeviceConnection.secrets_sealed)
                              .join(DeviceBinding, DeviceBinding.device_id == Device.id)
                              .outerjoin(DeviceConnection, DeviceConnection.id == DeviceBinding.connection_id)
                              .where(Device.id.in_(new_devices))).all()
        new_tenants = set(report.remapped["tenants"].values())
    thermostat = "ALPHA-THM-0001-imported1"
    assert (thermostat, "native", None, thermostat) in {(s, t, c, e) for s, t, e, c, _, _ in imported if t == "native"}
    lorawan = [row for row in imported if row[1] == "chirpstack"]
    assert [(serial, external_id, name) for serial, _, external_id, name, _, _ in lorawan] == [
        (thermostat, "70B3D57ED0000001", "ChirpStack")]
    assert all(tenant_id in new_tenants and sealed is None for *_, tenant_id, sealed in lorawan)
