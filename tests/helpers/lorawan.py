"""LoRaWAN test helpers: event JSON as ChirpStack v4 and The Things Stack v3 document it, a process
running the LoRaWAN transport, and a thermostat bound to a network-server connection made through the API.

The fixtures are imported by the test modules that use them (tests/transports/lorawan, tests/heating).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from leitstand.runtime import Process, start
from tests.helpers.network_server import FakeNetworkServer
from tests.helpers.world import World

DEV_EUI = "70b3d57ed0001234"
# A status frame of thermostat-binary-v1: 21.5 °C, target 21 °C, valve 40 %, 2.9 V, window closed.
STATUS_FRAME = bytes.fromhex("0100d72a280b5400")
SECRET_HEADER = "X-Leitstand-Webhook-Secret"
# The servers' times of the recorded events, moved to a few minutes ago (a live transport refuses
# readings far in the past): the uplink at UPLINK_AT with nanoseconds, as ChirpStack writes them.
UPLINK_AT = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=123456)
CHIRPSTACK_TIME = UPLINK_AT.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789+00:00"
TTS_TIME = (UPLINK_AT + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

# ChirpStack v4's HTTP integration, JSON marshaler: an `up` event as its documentation shows one.
CHIRPSTACK_UP: dict[str, Any] = {
    "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
    "time": CHIRPSTACK_TIME,
    "deviceInfo": {
        "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "Wohnbau Rhein-Main",
        "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97", "applicationName": "Heizung",
        "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad", "deviceProfileName": "Thermostat",
        "deviceName": "Raum 1.01", "devEui": DEV_EUI, "deviceClassEnabled": "CLASS_A", "tags": {},
    },
    "devAddr": "00189440", "adr": True, "dr": 5, "fCnt": 7, "fPort": 1, "confirmed": False,
    "data": base64.b64encode(STATUS_FRAME).decode(),
    "rxInfo": [
        {"gatewayId": "0016c001f153a14c", "uplinkId": 4217106255, "rssi": -112, "snr": -4.2,
         "channel": 5, "location": {}, "context": "EFwMtA==", "metadata": {"region_common_name": "EU868"},
         "crcStatus": "CRC_OK"},
        {"gatewayId": "0016c001f153a15d", "uplinkId": 9021, "rssi": -97, "snr": 7.5, "crcStatus": "CRC_OK"},
    ],
    "txInfo": {"frequency": 868500000,
               "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}},
}

# The Things Stack v3's webhook, JSON format: an uplink message as its data-formats page shows one.
TTS_UPLINK: dict[str, Any] = {
    "end_device_ids": {"device_id": f"eui-{DEV_EUI}", "application_ids": {"application_id": "heizung"},
                       "dev_eui": DEV_EUI.upper(), "join_eui": "0000000000000000", "dev_addr": "260B1D9A"},
    "correlation_ids": ["as:up:01HFQ8K7ZQ7V3J9W4X2N5B6C8D", "gs:conn:01HFQ8..", "ns:uplink:01HFQ8.."],
    "received_at": "2026-12-07T10:15:01.500Z",
    "uplink_message": {
        "session_key_id": "AYvNn0C1Rr2xW1H2", "f_port": 1, "f_cnt": 42,
        "frm_payload": base64.b64encode(STATUS_FRAME).decode(),
        "rx_metadata": [{"gateway_ids": {"gateway_id": "wohnbau-gw-01", "eui": "B827EBFFFE8A3F21"},
                         "time": "2026-12-07T10:15:00.980Z", "timestamp": 2041521004, "rssi": -88,
                         "channel_rssi": -88, "snr": 9.25, "uplink_token": "ChsKGQoN", "channel_index": 2}],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}},
                     "frequency": "868500000", "timestamp": 2041521004},
        "received_at": TTS_TIME, "consumed_airtime": "0.185344s",
    },
}


@pytest.fixture
def network_server() -> Iterator[FakeNetworkServer]:
    server = FakeNetworkServer().start()
    yield server
    server.stop()


@pytest.fixture
def lorawan_process(settings: Settings, binary_thermostat: Any, world: World) -> Iterator[Process]:
    from leitstand.devicetypes.service import sync_shipped_types

    sync_shipped_types(world.db)
    world.db.commit()
    # No scheduler thread: a test runs the heating job itself, at the time it sets.
    process, _ = start(settings.model_copy(update={"transports": ["lorawan"]}), "all",
                       skip=frozenset({"settle-memory", "scheduler"}))
    yield process
    process.stop()


@pytest.fixture
def operator(lorawan_process: Process, world: World) -> TestClient:
    return TestClient(lorawan_process.app, base_url="http://localhost:8000",
                      headers={"Authorization": f"Bearer {world.token_for('alpha_operator')}"})


def licensed_thermostat(world: World, serial: str) -> int:
    """A thermostat of the binary test type in Alpha's room, licensed from today; its id."""
    db = world.db
    device = Device(tenant_id=world.alpha.customer.id, type_key="binary_thermostat", serial_number=serial,
                    name="Raum 1.01", site_id=world.alpha.room.id)
    db.add(device)
    db.flush()
    today = clock.now().date()
    db.add(License(device_id=device.id, tenant_id=world.alpha.customer.id, starts_on=today,
                   ends_on=term_end(today, 12), term_months=12, auto_renew=True))
    db.commit()
    return device.id


def connect(operator: TestClient, world: World, network_server: FakeNetworkServer, kind: str,
             device_id: int) -> dict[str, Any]:
    created = operator.post("/api/v1/connections", json={
        "tenant_id": world.alpha.customer.id, "name": f"{kind} of Alpha",
        "settings": {"network_server": kind, "base_url": network_server.url, "application_id": "heizung",
                     "webhook_id": "leitstand"},
        "api_key": "NNSXS.SECRET-KEY"})
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["has_api_key"] is True and "api_key" not in connection
    bound = operator.post(f"/api/v1/devices/{device_id}/bindings",
                          json={"connection_id": connection["id"], "external_id": DEV_EUI.upper()})
    assert bound.status_code == 201, bound.text
    assert bound.json()["external_id"] == DEV_EUI  # stored as the transport looks it up
    return connection


def latest_values(operator: TestClient, device_id: int) -> dict[str, tuple[Any, str]]:
    latest = operator.get(f"/api/v1/devices/{device_id}/telemetry/latest").json()
    return {entry["key"]: (entry["value"], entry["at"]) for entry in latest["values"]}


def set_target(operator: TestClient, device_id: int, celsius: float) -> dict[str, Any]:
    created = operator.post(f"/api/v1/devices/{device_id}/commands",
                            json={"name": "set_target_temperature", "parameters": {"celsius": celsius}})
    assert created.status_code == 201, created.text
    return created.json()


def command_status(operator: TestClient, device_id: int, command_id: str) -> str:
    return operator.get(f"/api/v1/devices/{device_id}/commands/{command_id}").json()["status"]


def status_frame(target: float, room: float = 21.5) -> bytes:
    """A thermostat-binary-v1 status frame: room and target temperature, valve 40 %, 2.9 V, window closed."""
    return bytes([0x01, *int(room * 10).to_bytes(2, "big", signed=True), int(target * 2), 40, 0x0B, 0x54, 0x00])


def uplink_event(kind: str, at: datetime, frame: bytes, event_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query parameters, body) of an uplink at `at` carrying `frame`, as ChirpStack or TTS posts it."""
    data = base64.b64encode(frame).decode()
    if kind == "chirpstack":
        body = {**CHIRPSTACK_UP, "deduplicationId": event_id, "time": at.isoformat(), "data": data}
        return {"event": "up"}, body
    message = {**TTS_UPLINK["uplink_message"], "frm_payload": data, "received_at": at.isoformat()}
    return {}, {**TTS_UPLINK, "correlation_ids": [f"as:up:{event_id}"], "uplink_message": message}


def sent_report(kind: str, at: datetime, downlink: Any, event_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query parameters, body) of the server's report that it handed the downlink (`downlink`:
    the recorded call that queued it) to a gateway: ChirpStack `txack`, TTS `downlink_sent`."""
    if kind == "chirpstack":
        return {"event": "txack"}, {"downlinkId": 7, "time": at.isoformat(), "deviceInfo": {"devEui": DEV_EUI},
                                    "queueItemId": downlink.answer["id"], "fCntDown": 1}
    [queued] = downlink.body["downlinks"]
    return {}, {"end_device_ids": TTS_UPLINK["end_device_ids"], "correlation_ids": [f"as:downlink:{event_id}"],
                "received_at": at.isoformat(), "downlink_sent": {**queued}}


def webhook_url(connection: dict[str, Any]) -> str:
    kind = connection["settings"]["network_server"]
    return f"/api/v1/lorawan/{connection['id']}/{kind}"


def webhook_client(process: Process, connection: dict[str, Any]) -> tuple[TestClient, str]:
    """A client that posts as the connection's network server does (with its secret), and the URL."""
    client = TestClient(process.app, base_url="http://localhost:8000",
                        headers={SECRET_HEADER: connection["webhook_secret"]})
    return client, webhook_url(connection)
