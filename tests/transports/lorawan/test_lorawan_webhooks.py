"""Both network servers end to end: a connection registered through the API, a device bound by its
DevEUI, an uplink posted to the real webhook in the JSON each server documents and stored under the
device at the server's time, a command queued on a stand-in of the server's downlink API, and the
server's later reports moving the command along to confirmed. Bad input is refused and counted."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from leitstand.runtime import Process, start
from leitstand.state.models import DeviceEvent
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
    process, _ = start(settings.model_copy(update={"transports": ["lorawan"]}), "all",
                       skip=frozenset({"settle-memory"}))
    yield process
    process.stop()


@pytest.fixture
def operator(lorawan_process: Process, world: World) -> TestClient:
    return TestClient(lorawan_process.app, base_url="http://localhost:8000",
                      headers={"Authorization": f"Bearer {world.token_for('alpha_operator')}"})


def _licensed_thermostat(world: World, serial: str) -> int:
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


def _connect(operator: TestClient, world: World, network_server: FakeNetworkServer, kind: str,
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


def _latest(operator: TestClient, device_id: int) -> dict[str, tuple[Any, str]]:
    latest = operator.get(f"/api/v1/devices/{device_id}/telemetry/latest").json()
    return {entry["key"]: (entry["value"], entry["at"]) for entry in latest["values"]}


def _command(operator: TestClient, device_id: int, celsius: float) -> dict[str, Any]:
    created = operator.post(f"/api/v1/devices/{device_id}/commands",
                            json={"name": "set_target_temperature", "parameters": {"celsius": celsius}})
    assert created.status_code == 201, created.text
    return created.json()


def _status(operator: TestClient, device_id: int, command_id: str) -> str:
    return operator.get(f"/api/v1/devices/{device_id}/commands/{command_id}").json()["status"]


def test_chirpstack_uplink_is_stored_at_its_time_and_a_command_goes_queued_sent_confirmed(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = _licensed_thermostat(world, "ALPHA-LW-CS")
    connection = _connect(operator, world, network_server, "chirpstack", device_id)
    webhook = TestClient(lorawan_process.app, base_url="http://localhost:8000",
                         headers={SECRET_HEADER: connection["webhook_secret"]})
    url = f"/api/v1/lorawan/{connection['id']}/chirpstack"

    answer = webhook.post(url, params={"event": "up"}, json=CHIRPSTACK_UP)
    assert answer.status_code == 202, answer.text
    values = _latest(operator, device_id)
    assert {key: value for key, (value, _) in values.items()} == {
        "temperature": 21.5, "target_temperature": 21.0, "valve_opening": 40.0, "battery_voltage": 2.9,
        "window_open": 0.0, "rssi": -97.0, "snr": 7.5, "spreading_factor": 7.0}  # the strongest gateway
    assert datetime.fromisoformat(values["temperature"][1]) == UPLINK_AT  # ChirpStack's time, not ours
    state = operator.get(f"/api/v1/devices/{device_id}/state").json()
    assert state["attributes"]["gateway"] == "0016c001f153a15d"

    # The same event again (ChirpStack does not retry, but a proxy might): refused, stored once.
    assert webhook.post(url, params={"event": "up"}, json=CHIRPSTACK_UP).status_code == 409

    command = _command(operator, device_id, 21.5)
    assert command["status"] == "queued"  # held by the network server for the next uplink
    flush, enqueue = network_server.calls
    assert (flush.method, flush.path) == ("DELETE", f"/api/devices/{DEV_EUI}/queue")  # only the latest waits
    assert (enqueue.method, enqueue.path) == ("POST", f"/api/devices/{DEV_EUI}/queue")
    assert enqueue.headers["grpc-metadata-authorization"] == "Bearer NNSXS.SECRET-KEY"
    item = enqueue.body["queueItem"]
    assert (base64.b64decode(item["data"]), item["fPort"], item["confirmed"]) == (bytes.fromhex("512b"), 10, False)

    queue_item_id = enqueue.answer["id"]
    txack = {"downlinkId": 2855462813, "time": "2026-12-07T10:25:00Z", "deviceInfo": {"devEui": DEV_EUI},
             "queueItemId": queue_item_id, "fCntDown": 3, "gatewayId": "0016c001f153a15d",
             "txInfo": {"frequency": 868500000}}
    assert webhook.post(url, params={"event": "txack"}, json=txack).status_code == 202
    assert _status(operator, device_id, command["id"]) == "sent"
    ack = {"deduplicationId": "9d0c5c1e-2f6b-4a43-9d2f-0b2f2a3c9e11", "time": "2026-12-07T10:35:00Z",
           "deviceInfo": {"devEui": DEV_EUI}, "queueItemId": queue_item_id, "acknowledged": True, "fCntDown": 3}
    assert webhook.post(url, params={"event": "ack"}, json=ack).status_code == 202
    assert _status(operator, device_id, command["id"]) == "confirmed"


def test_tts_uplink_is_stored_and_a_command_replaces_the_queue_and_is_confirmed(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = _licensed_thermostat(world, "ALPHA-LW-TTS")
    connection = _connect(operator, world, network_server, "tts", device_id)
    webhook = TestClient(lorawan_process.app, base_url="http://localhost:8000",
                         headers={SECRET_HEADER: connection["webhook_secret"]})
    url = f"/api/v1/lorawan/{connection['id']}/tts"

    assert webhook.post(f"{url}/uplink", json=TTS_UPLINK).status_code == 202
    values = _latest(operator, device_id)
    assert values["temperature"][0] == 21.5  # at the network server's reception time, not the application server's
    assert datetime.fromisoformat(values["temperature"][1]) == (UPLINK_AT + timedelta(seconds=1)).replace(microsecond=123000)
    assert (values["rssi"][0], values["snr"][0], values["spreading_factor"][0]) == (-88.0, 9.25, 9.0)
    assert webhook.post(url, json=TTS_UPLINK).status_code == 409  # the same uplink, at another path

    command = _command(operator, device_id, 20)
    assert command["status"] == "queued"
    [replace] = network_server.calls
    assert replace.path == f"/api/v3/as/applications/heizung/webhooks/leitstand/devices/eui-{DEV_EUI}/down/replace"
    assert replace.headers["authorization"] == "Bearer NNSXS.SECRET-KEY"
    [downlink] = replace.body["downlinks"]
    assert (base64.b64decode(downlink["frm_payload"]), downlink["f_port"]) == (bytes.fromhex("5128"), 10)
    correlation = downlink["correlation_ids"]

    def report(kind: str, ulid: str) -> dict[str, Any]:
        return {"end_device_ids": TTS_UPLINK["end_device_ids"], "correlation_ids": [f"as:downlink:{ulid}"],
                "received_at": "2026-12-07T10:25:00Z",
                kind: {"f_port": 10, "frm_payload": downlink["frm_payload"], "priority": "NORMAL",
                       "correlation_ids": [*correlation, f"as:downlink:{ulid}"]}}

    assert webhook.post(f"{url}/sent", json=report("downlink_sent", "01HFQA")).status_code == 202
    assert _status(operator, device_id, command["id"]) == "sent"

    # The device does not answer an unconfirmed downlink; its next uplink reports the new target.
    still_old = copy.deepcopy(TTS_UPLINK)
    still_old["correlation_ids"] = ["as:up:01HFQC"]
    still_old["uplink_message"]["received_at"] = datetime.now(UTC).isoformat()
    assert webhook.post(url, json=still_old).status_code == 202
    assert _status(operator, device_id, command["id"]) == "sent"  # target still 21: not yet
    following = copy.deepcopy(still_old)
    following["correlation_ids"] = ["as:up:01HFQD"]
    following["uplink_message"]["received_at"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    following["uplink_message"]["frm_payload"] = base64.b64encode(bytes.fromhex("0100d728280b5400")).decode()
    assert webhook.post(url, json=following).status_code == 202
    assert _status(operator, device_id, command["id"]) == "confirmed"
    # A report on it after that changes nothing.
    assert webhook.post(f"{url}/ack", json=report("downlink_ack", "01HFQB")).status_code == 202
    assert _status(operator, device_id, command["id"]) == "confirmed"


def test_a_join_is_recorded_as_a_network_event_not_an_unknown_code(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = _licensed_thermostat(world, "ALPHA-LW-JOIN")
    connection = _connect(operator, world, network_server, "chirpstack", device_id)
    webhook = TestClient(lorawan_process.app, headers={SECRET_HEADER: connection["webhook_secret"]})
    join = {"deduplicationId": "c9dd4c3e-0d3b-4d0f-b1a8-5a7c2d0d3f10", "time": "2026-12-07T09:00:00Z",
            "deviceInfo": {"devEui": DEV_EUI}, "devAddr": "00189440"}
    assert webhook.post(f"/api/v1/lorawan/{connection['id']}/chirpstack", params={"event": "join"},
                        json=join).status_code == 202
    [event] = world.db.scalars(select(DeviceEvent).where(DeviceEvent.device_id == device_id,
                                                         DeviceEvent.code == "network.joined")).all()
    assert (event.kind, event.unknown_code) == ("network", False)


def test_bad_webhook_input_gets_a_clear_4xx_and_is_counted(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = _licensed_thermostat(world, "ALPHA-LW-BAD")
    connection = _connect(operator, world, network_server, "chirpstack", device_id)
    url = f"/api/v1/lorawan/{connection['id']}/chirpstack"
    good = TestClient(lorawan_process.app, headers={SECRET_HEADER: connection["webhook_secret"]})
    totals = lorawan_process.app.state.ingestor.totals.rejected

    def up(**changes: Any) -> dict[str, Any]:
        event = copy.deepcopy(CHIRPSTACK_UP)
        event.update(changes)
        return event

    # No secret, a wrong one, and the right one on another connection's path: the same 401.
    assert TestClient(lorawan_process.app).post(url, params={"event": "up"}, json=CHIRPSTACK_UP).status_code == 401
    forged = TestClient(lorawan_process.app, headers={SECRET_HEADER: "lwsec_forged"})
    assert forged.post(url, params={"event": "up"}, json=CHIRPSTACK_UP).status_code == 401
    assert good.post(f"/api/v1/lorawan/{connection['id'] + 1000}/chirpstack", params={"event": "up"},
                     json=CHIRPSTACK_UP).status_code == 401
    assert good.post(f"/api/v1/lorawan/{connection['id']}/tts", json=TTS_UPLINK).status_code == 401  # not its kind
    assert totals["bad_credentials"] == 4

    refusals = {
        "not JSON": good.post(url, params={"event": "up"}, content=b"{not json", headers={"content-type": "application/json"}),
        "bad base64": good.post(url, params={"event": "up"}, json=up(data="***", deduplicationId="a")),
        "no DevEUI": good.post(url, params={"event": "up"}, json=up(deviceInfo={}, deduplicationId="b")),
        "bad time": good.post(url, params={"event": "up"}, json=up(time="yesterday", deduplicationId="c")),
        "unknown event": good.post(url, params={"event": "bogus"}, json=CHIRPSTACK_UP),
        "truncated frame": good.post(url, params={"event": "up"},
                                     json=up(data=base64.b64encode(STATUS_FRAME[:5]).decode(), deduplicationId="d")),
        "unknown DevEUI": good.post(url, params={"event": "up"},
                                    json=up(deviceInfo={"devEui": "0000000000000001"}, deduplicationId="e")),
        "oversized": good.post(url, params={"event": "up"}, content=b"{" + b" " * 70_000 + b"}",
                               headers={"content-type": "application/json"}),
    }
    statuses = {name: answer.status_code for name, answer in refusals.items()}
    assert statuses == {"not JSON": 422, "bad base64": 422, "no DevEUI": 422, "bad time": 422, "unknown event": 422,
                        "truncated frame": 422, "unknown DevEUI": 422, "oversized": 413}
    assert all(answer.headers["content-type"] == "application/problem+json" for answer in refusals.values())
    assert totals["malformed"] == 6 and totals["unknown_binding"] == 1 and totals["oversized"] == 1
    # Nothing of it was stored, and the device's good uplink still is.
    assert good.post(url, params={"event": "up"}, json=CHIRPSTACK_UP).status_code == 202
    assert _latest(operator, device_id)["temperature"][0] == 21.5


def test_a_network_server_that_refuses_the_downlink_leaves_the_command_requested_with_the_reason(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = _licensed_thermostat(world, "ALPHA-LW-DOWN")
    _connect(operator, world, network_server, "chirpstack", device_id)
    network_server.refuse_with = 401
    command = _command(operator, device_id, 21)
    assert command["status"] == "requested"
    assert "HTTP 401" in command["detail"]
