"""The one check of a device's login, for every transport that authenticates devices itself
(HTTP ingest, the embedded MQTT broker; Mosquitto checks its copy kept by dynamic security)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.auth.secrets import token_digest
from leitstand.devices.models import Device, DeviceCredential
from leitstand.tenancy.scope import system_session

MAX_SECRET_LENGTH = 200  # issued secrets are 43 characters; anything far longer is not one


@dataclass(frozen=True)
class AuthenticatedDevice:
    device_id: int
    serial: str


def authenticate_device(factory: sessionmaker[Session], username: str, secret: str, *,
                        transport: str) -> AuthenticatedDevice | None:
    """The live device whose live credential is (username, secret), else None.

    The offered secret's digest is compared with every live credential of the username
    (during a rotation there can be two) in constant time and without stopping early, so
    the answer's timing tells nothing about how close a guess came.
    """
    if not username or not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    with system_session(factory, reason=f"{transport}: authenticate a device credential") as db:
        rows = db.execute(
            select(DeviceCredential.secret_hash, Device.id, Device.serial_number)
            .join(Device, Device.id == DeviceCredential.device_id)
            .where(DeviceCredential.username == username, DeviceCredential.revoked_at.is_(None),
                   Device.decommissioned_at.is_(None))
        ).all()
    offered = token_digest(secret)
    found = None
    for digest, device_id, serial in rows:
        if hmac.compare_digest(offered, digest):
            found = AuthenticatedDevice(device_id=device_id, serial=serial)
    return found
