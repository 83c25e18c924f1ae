"""Connections: a tenant's endpoints of the non-native transports, with their secrets sealed.

A connection's secrets (an API key of a network server, an OCPP basic-auth password) are
one JSON object, sealed with the installation's key (`SecretBox`) before it is stored. They
are read back only by the transport that uses them, never returned by an API, and the audit
log records that they changed, never their value (`DeviceConnection.__audit_secret__`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from leitstand.auth.secrets import SecretBox
from leitstand.devices.models import NATIVE_TRANSPORT, DeviceConnection


class NativeNeedsNoConnection(ValueError):
    """The native transports reach devices by serial, installation-wide: they have no connections."""


def create_connection(db: Session, box: SecretBox, *, tenant_id: int, transport: str, name: str,
                      settings: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None) -> DeviceConnection:
    if transport == NATIVE_TRANSPORT:
        raise NativeNeedsNoConnection(transport)
    connection = DeviceConnection(tenant_id=tenant_id, transport=transport, name=name, settings=settings or {})
    set_secrets(connection, box, secrets)
    db.add(connection)
    return connection


def set_secrets(connection: DeviceConnection, box: SecretBox, secrets: dict[str, Any] | None) -> None:
    """Replace the connection's secrets; None removes them."""
    connection.secrets_sealed = box.seal(json.dumps(secrets, sort_keys=True).encode()) if secrets else None


def open_secrets(connection: DeviceConnection, box: SecretBox) -> dict[str, Any]:
    """The connection's secrets in clear, for the transport that talks to its endpoint."""
    if connection.secrets_sealed is None:
        return {}
    return json.loads(box.open(connection.secrets_sealed))
