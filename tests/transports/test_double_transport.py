"""A transport that is not in the source tree, end to end: registered by the test, started by the
runtime from the settings, a message in through a binding and a type's codec, a command out by the
router, its answer back, and a question on the Ask port. Neither runtime.py nor the app knows it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.auth.secrets import SecretBox
from leitstand.config import Settings
from leitstand.devices.bindings import bind_device
from leitstand.devices.connections import create_connection
from leitstand.devices.models import Device, DeviceBinding
from leitstand.ingest.message import CommandOutcome
from leitstand.runtime import Process, start
from leitstand.tenancy.scope import system_session
from tests.helpers.lorawan import licensed_thermostat
from tests.helpers.transports import DoubleHello, DoubleTransport, register_double, unregister_double
from tests.helpers.world import World

DEV_EUI = "70B3D57ED0001234"
# A status frame of thermostat-binary-v1: 21.5 °C, target 21 °C, valve 40 %, 2.9 V, window closed.
STATUS_FRAME = bytes.fromhex("01 00d7 2a 28 0b54 00".replace(" ", ""))


@pytest.fixture
def thermostat_on_the_double(world: World, settings: Settings, binary_thermostat: Any) -> tuple[int, int]:
    """A licensed thermostat of the binary type, bound as DEV_EUI on a connection of its customer."""
    from leitstand.devicetypes.service import sync_shipped_types

    db = world.db
    sync_shipped_types(db)
    device = db.get(Device, licensed_thermostat(world, "ALPHA-TH-BIN"))
    connection = create_connection(db, SecretBox(settings.resolved_secret_key()), tenant_id=world.alpha.customer.id,
                                   transport="double", name="Test network server", secrets={"api_key": "not shown"})
    db.flush()
    bind_device(db, device, connection, DEV_EUI)
    db.commit()
    return device.id, connection.id


@pytest.fixture
def double_process(settings: Settings, thermostat_on_the_double: Any) -> Iterator[tuple[Process, DoubleTransport]]:
    register_double()
    process = None
    try:
        process, _ = start(settings.model_copy(update={"transports": ["double"]}), "all",
                           skip=frozenset({"settle-memory", "scheduler"}))  # no heating targets in between
        yield process, process.transports["double"]
    finally:
        if process is not None:
            process.stop()
        unregister_double()


def test_a_registered_transport_carries_a_message_in_and_a_command_out(
        double_process: tuple[Process, DoubleTransport], thermostat_on_the_double: tuple[int, int], world: World):
    process, double = double_process
    device_id, connection_id = thermostat_on_the_double

    # The domain side answers the transport's question; the transport never imports it.
    def hello(question: DoubleHello) -> str:
        with system_session(process.factory, reason="test: is the device bound?") as db:
            bound = db.scalar(select(DeviceBinding.id).where(DeviceBinding.connection_id == connection_id,
                                                             DeviceBinding.external_id == question.external_id))
        return "Accepted" if bound else "Rejected"

    process.ask.answer_with(DoubleHello, hello)
    assert double.hello(DEV_EUI, "binary_thermostat") == "Accepted"
    assert double.hello("FFFFFFFFFFFFFFFF", "binary_thermostat") == "Rejected"

    # In: the device's bytes, decoded by the codec its type's TOML names, stored in the declared units.
    report = double.uplink(connection_id, DEV_EUI, STATUS_FRAME, port=1)
    assert (report.accepted, dict(report.rejected)) == (1, {})
    stranger = double.uplink(connection_id, "0000000000000000", STATUS_FRAME, port=1)
    assert dict(stranger.rejected) == {"unknown_binding": 1}

    api = TestClient(process.app, base_url="http://localhost:8000",
                     headers={"Authorization": f"Bearer {world.token_for('alpha_operator')}"})
    latest = api.get(f"/api/v1/devices/{device_id}/telemetry/latest").json()
    values = {entry["key"]: entry["value"] for entry in latest["values"]}
    assert values == {"temperature": 21.5, "target_temperature": 21.0, "valve_opening": 40.0,
                      "battery_voltage": 2.9, "window_open": 0.0}  # flags as 0/1

    # Out: the router picks the double by the device's binding; the codec encodes the downlink.
    created = api.post(f"/api/v1/devices/{device_id}/commands",
                       json={"name": "set_target_temperature", "parameters": {"celsius": 21.5}})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "sent"
    [request] = double.delivered
    assert (request.binding.transport, request.binding.connection_id, request.binding.external_id) == (
        "double", connection_id, DEV_EUI)
    assert double.frames() == [bytes.fromhex("512b")]

    # And back: the device's answer by the same binding confirms the command.
    assert double.answer(request, CommandOutcome.succeeded).accepted == 1
    assert api.get(f"/api/v1/devices/{device_id}/commands/{created.json()['id']}").json()["status"] == "confirmed"
