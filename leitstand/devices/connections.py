"""Connections: a tenant's endpoints of the non-native transports, with their secrets sealed.

A connection's secrets (an API key of a network server, an OCPP basic-auth password) are
one JSON object, sealed with the installation's key (`SecretBox`) before it is stored. They
are read back only by the transport that uses them, never returned by an API, and the audit
log records that they changed, never their value (`DeviceConnection.__audit_secret__`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from leitstand.auth.secrets import SecretBox
from leitstand.clock import clock
from leitstand.devices.models import CONNECTION_EVENT_DAYS, NATIVE_TRANSPORT, ConnectionEvent, DeviceConnection


@dataclass(frozen=True)
class ExternalIdRule:
    """How the connections of one transport name their devices."""

    pattern: re.Pattern[str]
    explanation: str
    lower_case: bool = False  # stored lower-case, as the transport looks it up


EXTERNAL_IDS = {
    "lorawan": ExternalIdRule(re.compile(r"^[0-9a-fA-F]{16}$"),
                              "A LoRaWAN device is bound by its DevEUI: 16 hexadecimal digits.", lower_case=True),
}


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


def forget_old_events(db: Session) -> int:
    """The scheduler's clean-up: the ids of events received more than CONNECTION_EVENT_DAYS ago
    (a network server replays within minutes; the table must not grow with every uplink)."""
    result = db.execute(delete(ConnectionEvent).where(
        ConnectionEvent.received_at < clock.now() - timedelta(days=CONNECTION_EVENT_DAYS)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
