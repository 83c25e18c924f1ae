"""Device credentials after claiming: rotation and decommissioning, seen from HTTP ingest."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from leitstand.auth.secrets import token_digest
from leitstand.devices import claiming
from leitstand.devices.models import Device, DeviceCredential
from leitstand.devices.service import set_claim_secret
from leitstand.licenses.models import License, LicenseChange

SECRET = "label-secret-0001"
TELEMETRY = "/api/v1/ingest/telemetry"




def claimed_device(world) -> tuple[Device, str]:  # type: ignore[no-untyped-def]
    """A barrier from Alpha's stock, claimed by Alpha's operator: (device, device secret)."""
    device = Device(tenant_id=world.alpha.partner.id, type_key="barrier", serial_number="NT-BAR-3000",
                    name="Schranke", labels=[])
    set_claim_secret(device, SECRET)
    world.db.add(device)
    world.db.commit()
    response = world.as_user("alpha_operator").post("/api/v1/devices/claim", json={
        "serial_number": device.serial_number, "claim_secret": SECRET,
        "tenant_id": world.alpha.customer.id, "site_id": world.alpha.room.id,
    })
    assert response.status_code == 201, response.text
    return device, response.json()["credential"]["secret"]


def send(world, serial: str, secret: str, value: float = 42.0):  # type: ignore[no-untyped-def]
    return world.client.post(TELEMETRY, headers={"Authorization": f"Bearer {serial}:{secret}"},
                             json={"values": {"motor_temperature": value}})


def credentials_of(world, device: Device) -> list[DeviceCredential]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return list(world.db.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device.id)
                                 .order_by(DeviceCredential.id)))


# --- rotation --------------------------------------------------------------------------


def test_rotation_returns_a_new_secret_once_and_the_old_one_stops_working(world, heard):
    device, old = claimed_device(world)
    assert send(world, device.serial_number, old).status_code == 202

    response = world.as_user("alpha_operator").post(f"/api/v1/devices/{device.id}/credentials")

    assert response.status_code == 201, response.text
    new = response.json()["secret"]
    assert new != old
    assert response.json()["username"] == device.serial_number
    assert send(world, device.serial_number, old).status_code == 401
    assert send(world, device.serial_number, new).status_code == 202
    old_row, new_row = credentials_of(world, device)
    assert old_row.revoked_at is not None and new_row.revoked_at is None
    assert new_row.secret_hash == token_digest(new)
    assert heard[-1] == (device.serial_number, new)


def test_an_unclaimed_device_has_no_credentials_to_rotate(world):
    response = world.as_user("alpha_operator").post(f"/api/v1/devices/{world.alpha.thermostat.id}/credentials")

    assert response.status_code == 409


def test_another_tenants_device_cannot_be_rotated(world):
    device, secret = claimed_device(world)

    response = world.as_user("beta_admin").post(f"/api/v1/devices/{device.id}/credentials")

    assert response.status_code == 404
    assert send(world, device.serial_number, secret).status_code == 202


# --- decommissioning -------------------------------------------------------------------------


def test_decommissioning_revokes_credentials_and_stops_renewal(world, heard):
    device, secret = claimed_device(world)
    api = world.as_user("alpha_operator")

    response = api.post(f"/api/v1/devices/{device.id}/decommission")

    assert response.status_code == 200, response.text
    assert response.json()["decommissioned_at"] is not None
    assert all(credential.revoked_at is not None for credential in credentials_of(world, device))
    assert send(world, device.serial_number, secret).status_code == 401
    license_ = world.db.scalar(select(License).where(License.device_id == device.id))
    assert license_.auto_renew is False
    actions = world.db.scalars(select(LicenseChange.action).where(LicenseChange.device_id == device.id)
                               .order_by(LicenseChange.id)).all()
    assert actions == ["activated", "decommissioned"]
    assert heard[-1] == (device.serial_number, None)


def test_decommissioning_twice_changes_nothing(world, heard):
    device, _ = claimed_device(world)
    api = world.as_user("alpha_operator")
    first = api.post(f"/api/v1/devices/{device.id}/decommission").json()
    told = len(heard)

    again = api.post(f"/api/v1/devices/{device.id}/decommission")

    assert again.status_code == 200
    assert again.json()["decommissioned_at"] == first["decommissioned_at"]
    assert len(heard) == told


def test_a_decommissioned_device_gets_no_new_credentials(world):
    device, _ = claimed_device(world)
    api = world.as_user("alpha_operator")
    api.post(f"/api/v1/devices/{device.id}/decommission")

    assert api.post(f"/api/v1/devices/{device.id}/credentials").status_code == 409
    assert all(credential.revoked_at is not None for credential in credentials_of(world, device))


def test_decommissioning_needs_device_write_on_the_device(world):
    device, secret = claimed_device(world)

    assert world.as_user("alpha_reader").post(f"/api/v1/devices/{device.id}/decommission").status_code == 403
    assert world.as_user("beta_admin").post(f"/api/v1/devices/{device.id}/decommission").status_code == 404
    assert send(world, device.serial_number, secret).status_code == 202
