"""Device bindings and connections: how transports name devices, and where their secrets live.

A binding is (transport, connection, external id) → device; the external id is unique per
connection and may repeat across connections. Every device has its native binding (its
serial). A connection's secrets are sealed at rest, never in an API response or audit row,
and a connection is visible to its own tenant only.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leitstand.audit.models import AuditEntry
from leitstand.auth.secrets import SecretBox
from leitstand.devices.bindings import BindingRefused, add_missing_native_bindings, bind_device
from leitstand.devices.connections import NativeNeedsNoConnection, create_connection, open_secrets
from leitstand.devices.models import Device, DeviceBinding, DeviceConnection
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session
from tests.helpers.world import World

API_KEY = "chirpstack-api-key-3f9a1c"


@pytest.fixture
def box(settings) -> SecretBox:  # type: ignore[no-untyped-def]
    return SecretBox(settings.resolved_secret_key())


def lorawan(world: World, box: SecretBox, tenant_id: int, name: str = "ChirpStack") -> DeviceConnection:
    connection = create_connection(world.db, box, tenant_id=tenant_id, transport="chirpstack", name=name,
                                   settings={"url": "https://lns.example"}, secrets={"api_key": API_KEY})
    world.db.commit()
    return connection


def bindings_of(world: World, device: Device) -> list[tuple[str, int | None, str]]:
    world.db.expire_all()
    rows = world.db.execute(select(DeviceBinding.transport, DeviceBinding.connection_id, DeviceBinding.external_id)
                            .where(DeviceBinding.device_id == device.id).order_by(DeviceBinding.id))
    return [tuple(row) for row in rows]  # type: ignore[misc]


# --- the native binding ----------------------------------------------------------------------


def test_every_device_has_its_native_binding(world):
    assert bindings_of(world, world.alpha.barrier) == [("native", None, world.alpha.barrier.serial_number)]


def test_a_device_created_through_the_api_gets_its_native_binding(world):
    created = world.as_user("alpha_admin").post("/api/v1/devices", json={
        "serial_number": "BND-0001", "type_key": "barrier", "tenant_id": world.alpha.customer.id, "name": "Neu"})
    assert created.status_code == 201, created.text
    device = world.db.get(Device, created.json()["id"])
    assert bindings_of(world, device) == [("native", None, "BND-0001")]


def test_devices_imported_from_csv_get_their_native_bindings(world):
    text = "serial_number,type_key,name,site_id,labels,claim_secret\nBND-CSV-0001,barrier,,,,\nBND-CSV-0002,thermostat,,,,\n"
    imported = world.as_user("alpha_admin").post("/api/v1/devices/import", params={"tenant_id": world.alpha.partner.id},
                                                 content=text.encode(), headers={"content-type": "text/csv"})
    assert imported.status_code == 201, imported.text
    world.db.expire_all()
    devices = world.db.scalars(select(Device).where(Device.serial_number.startswith("BND-CSV-"))).all()
    assert sorted(bindings_of(world, device)[0] for device in devices) == [
        ("native", None, "BND-CSV-0001"), ("native", None, "BND-CSV-0002")]


def test_the_native_binding_follows_a_changed_serial(world):
    barrier = world.alpha.barrier
    barrier.serial_number = "RENAMED-0001"
    world.db.commit()
    assert bindings_of(world, barrier) == [("native", None, "RENAMED-0001")]


def test_devices_inserted_in_bulk_get_their_native_binding_afterwards(world):
    barrier = world.alpha.barrier
    world.db.execute(DeviceBinding.__table__.delete().where(DeviceBinding.device_id == barrier.id))
    assert add_missing_native_bindings(world.db.connection()) == 1
    world.db.commit()
    assert bindings_of(world, barrier) == [("native", None, barrier.serial_number)]
    assert add_missing_native_bindings(world.db.connection()) == 0


# --- bindings through connections ----------------------------------------------------------


def test_an_external_id_is_unique_per_connection_but_may_repeat_across_connections(world, box):
    alpha, beta = world.alpha, world.beta
    alpha_lns, beta_lns = lorawan(world, box, alpha.customer.id), lorawan(world, box, beta.customer.id)
    dev_eui = "70B3D57ED0000001"
    bind_device(world.db, alpha.thermostat, alpha_lns, dev_eui)
    bind_device(world.db, beta.thermostat, beta_lns, dev_eui)  # another network server: its own namespace
    world.db.commit()
    assert bindings_of(world, alpha.thermostat)[1:] == [("chirpstack", alpha_lns.id, dev_eui)]
    assert bindings_of(world, beta.thermostat)[1:] == [("chirpstack", beta_lns.id, dev_eui)]

    bind_device(world.db, alpha.barrier, alpha_lns, dev_eui)
    with pytest.raises(IntegrityError):
        world.db.commit()
    world.db.rollback()


def test_a_device_cannot_be_bound_through_another_tenants_connection(world, box):
    beta_lns = lorawan(world, box, world.beta.customer.id)
    with pytest.raises(BindingRefused):
        bind_device(world.db, world.alpha.thermostat, beta_lns, "70B3D57ED0000002")


def test_the_native_transport_has_no_connections(world, box):
    with pytest.raises(NativeNeedsNoConnection):
        create_connection(world.db, box, tenant_id=world.alpha.customer.id, transport="native", name="MQTT")


# --- connection secrets ----------------------------------------------------------------------


def test_a_connections_secret_is_sealed_at_rest_and_opens_with_the_installation_key(world, box):
    connection = lorawan(world, box, world.alpha.customer.id)
    raw = world.db.execute(select(DeviceConnection.__table__.c.secrets_sealed)
                           .where(DeviceConnection.__table__.c.id == connection.id)).scalar_one()
    assert API_KEY.encode() not in raw
    assert open_secrets(connection, box) == {"api_key": API_KEY}
    with pytest.raises(ValueError):
        open_secrets(connection, SecretBox("another-installation"))


def test_a_connections_secret_is_never_in_the_audit_log(world, box):
    connection = lorawan(world, box, world.alpha.customer.id)
    entries = world.db.scalars(select(AuditEntry).where(AuditEntry.target_type == "device_connections",
                                                        AuditEntry.target_id == str(connection.id))).all()
    assert [entry.action for entry in entries] == ["device_connections.create"]
    assert entries[0].changes["secrets_sealed"] == "<changed>"
    assert API_KEY not in json.dumps([entry.changes for entry in entries])


def test_a_connection_is_invisible_to_another_tenant(world, box, session_factory):
    alpha_lns = lorawan(world, box, world.alpha.customer.id)
    bind_device(world.db, world.alpha.thermostat, alpha_lns, "70B3D57ED0000003")
    world.db.commit()
    beta = AccessScope(tenant_paths=frozenset({world.beta.customer.path}))
    alpha = AccessScope(tenant_paths=frozenset({world.alpha.customer.path}))
    with bind_scope(session_factory(), beta) as session:
        assert session.get(DeviceConnection, alpha_lns.id) is None
        assert session.scalars(select(DeviceConnection)).all() == []
        assert session.scalars(select(DeviceBinding).where(DeviceBinding.connection_id == alpha_lns.id)).all() == []
    with bind_scope(session_factory(), alpha) as session:
        assert [row.id for row in session.scalars(select(DeviceConnection))] == [alpha_lns.id]
        assert len(session.scalars(select(DeviceBinding).where(DeviceBinding.connection_id == alpha_lns.id)).all()) == 1
    with system_session(session_factory, reason="test check") as db:
        assert db.get(DeviceConnection, alpha_lns.id) is not None


def test_the_cli_seals_new_secrets_for_a_connection(world, box, settings, tmp_path):
    """Where an import sends the operator for the secrets it did not carry (manifest.NOT_CARRIED)."""
    from typer.testing import CliRunner

    from leitstand.cli import app as cli_app

    connection = lorawan(world, box, world.alpha.customer.id)
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"api_key": "rotated-key-77"}))

    result = CliRunner().invoke(cli_app, ["devices", "connection-secrets", "--connection", str(connection.id),
                                          "--from-file", str(secrets_file)],
                                env={"LEITSTAND_DATABASE_URL": settings.database_url, "LEITSTAND_CONFIG": None,
                                     "LEITSTAND_DATA_DIR": str(settings.data_dir),
                                     "LEITSTAND_SECRET_KEY": settings.secret_key, "COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert "rotated-key-77" not in result.output
    world.db.expire_all()
    stored = world.db.get(DeviceConnection, connection.id)
    assert b"rotated-key-77" not in stored.secrets_sealed
    assert open_secrets(stored, box) == {"api_key": "rotated-key-77"}
