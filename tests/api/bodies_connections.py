"""Route-walk entries of the connections API: bodies aimed at the victim organisation's records.

`SEED` gives the walk values for connection_id and binding_id: a LoRaWAN connection of the
victim's customer and a binding of the victim's barrier on it, made on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from leitstand.devices.models import DeviceBinding, DeviceConnection
from tests.helpers.world import Organisation, World

BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {
    ("POST", "/api/v1/connections"): lambda org, w: {
        "tenant_id": org.customer.id, "name": "Intruder",
        "settings": {"network_server": "chirpstack", "base_url": "https://intruder.example"}},
    ("PATCH", "/api/v1/connections/{connection_id}"): lambda org, w: {
        "settings": {"network_server": "chirpstack", "base_url": "https://intruder.example"},
        "rotate_webhook_secret": True},
    ("POST", "/api/v1/devices/{device_id}/bindings"): lambda org, w: {
        "connection_id": _connection(org).id, "external_id": "FFFFFFFFFFFFFF01"},
}


def _connection(org: Organisation) -> DeviceConnection:
    db = object_session(org.customer)
    assert db is not None
    connection = db.scalar(select(DeviceConnection).where(DeviceConnection.tenant_id == org.customer.id))
    if connection is None:
        connection = DeviceConnection(tenant_id=org.customer.id, transport="lorawan", name=f"ChirpStack {org.mark}",
                                      settings={"network_server": "chirpstack", "base_url": "https://ns.example"})
        db.add(connection)
        db.commit()
    return connection


def _binding(org: Organisation) -> DeviceBinding:
    db = object_session(org.customer)
    assert db is not None
    connection = _connection(org)
    binding = db.scalar(select(DeviceBinding).where(DeviceBinding.connection_id == connection.id))
    if binding is None:
        binding = DeviceBinding(device_id=org.barrier.id, transport="lorawan", connection_id=connection.id,
                                external_id=f"{org.barrier.id:016x}")
        db.add(binding)
        db.commit()
    return binding


PATH_IDS: dict[str, Callable[[Organisation], Any]] = {
    "connection_id": lambda org: _connection(org).id,
    "binding_id": lambda org: _binding(org).id,
}


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    return {name: make(org) for name, make in PATH_IDS.items()}
