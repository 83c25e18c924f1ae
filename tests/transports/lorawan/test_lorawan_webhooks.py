"""Both network servers end to end: a connection registered through the API, a device bound by its
DevEUI, an uplink posted to the real webhook in the JSON each server documents and stored under the
device at the server's time, a command queued on a stand-in of the server's downlink API, and the
server's later reports moving the command along to confirmed. Bad input is refused and counted."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.runtime import Process
from leitstand.state.models import DeviceEvent
from tests.helpers.lorawan import (
    CHIRPSTACK_UP, DEV_EUI, SECRET_HEADER, STATUS_FRAME, TTS_UPLINK, UPLINK_AT, command_status, connect,
    latest_values, licensed_thermostat, set_target, webhook_client,
)
from tests.helpers.network_server import FakeNetworkServer
from tests.helpers.world import World


def test_chirpstack_uplink_is_stored_at_its_time_and_a_command_goes_queued_sent_confirmed(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = licensed_thermostat(world, "ALPHA-LW-CS")
    connection = connect(operator, world, network_server, "chirpstack", device_id)
    webhook, url = webhook_client(lorawan_process, connection)

    answer = webhook.post(url, params={"event": "up"}, json=CHIRPSTACK_UP)
    assert answer.status_code == 202, answer.text
    values = latest_values(operator, device_id)
    assert {key: value for key, (value, _) in values.items()} == {
        "temperature": 21.5, "target_temperature": 21.0, "valve_opening": 40.0, "battery_voltage": 2.9,
        "window_open": 0.0, "rssi": -97.0, "snr": 7.5, "spreading_factor": 7.0}  # the strongest gateway
    assert datetime.fromisoformat(values["temperature"][1]) == UPLINK_AT  # ChirpStack's time, not ours
    state = operator.get(f"/api/v1/devices/{device_id}/state").json()
    assert state["attributes"]["gateway"] == "0016c001f153a15d"

    # The same event again (ChirpStack does not retry, but a proxy might): refused, stored once.
    assert webhook.post(url, params={"event": "up"}, json=CHIRPSTACK_UP).status_code == 409

    command = set_target(operator, device_id, 21.5)
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
    assert command_status(operator, device_id, command["id"]) == "sent"
    ack = {"deduplicationId": "9d0c5c1e-2f6b-4a43-9d2f-0b2f2a3c9e11", "time": "2026-12-07T10:35:00Z",
           "deviceInfo": {"devEui": DEV_EUI}, "queueItemId": queue_item_id, "acknowledged": True, "fCntDown": 3}
    assert webhook.post(url, params={"event": "ack"}, json=ack).status_code == 202
    assert command_status(operator, device_id, command["id"]) == "confirmed"


def test_tts_uplink_is_stored_and_a_command_replaces_the_queue_and_is_confirmed(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = licensed_thermostat(world, "ALPHA-LW-TTS")
    connection = connect(operator, world, network_server, "tts", device_id)
    webhook, url = webhook_client(lorawan_process, connection)

    assert webhook.post(f"{url}/uplink", json=TTS_UPLINK).status_code == 202
    values = latest_values(operator, device_id)
    assert values["temperature"][0] == 21.5  # at the network server's reception time, not the application server's
    assert datetime.fromisoformat(values["temperature"][1]) == (UPLINK_AT + timedelta(seconds=1)).replace(microsecond=123000)
    assert (values["rssi"][0], values["snr"][0], values["spreading_factor"][0]) == (-88.0, 9.25, 9.0)
    assert webhook.post(url, json=TTS_UPLINK).status_code == 409  # the same uplink, at another path

    command = set_target(operator, device_id, 20)
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
    assert command_status(operator, device_id, command["id"]) == "sent"

    # The device does not answer an unconfirmed downlink; its next uplink reports the new target.
    still_old = copy.deepcopy(TTS_UPLINK)
    still_old["correlation_ids"] = ["as:up:01HFQC"]
    still_old["uplink_message"]["received_at"] = datetime.now(UTC).isoformat()
    assert webhook.post(url, json=still_old).status_code == 202
    assert command_status(operator, device_id, command["id"]) == "sent"  # target still 21: not yet
    following = copy.deepcopy(still_old)
    following["correlation_ids"] = ["as:up:01HFQD"]
    following["uplink_message"]["received_at"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    following["uplink_message"]["frm_payload"] = base64.b64encode(bytes.fromhex("0100d728280b5400")).decode()
    assert webhook.post(url, json=following).status_code == 202
    assert command_status(operator, device_id, command["id"]) == "confirmed"
    # A report on it after that changes nothing.
    assert webhook.post(f"{url}/ack", json=report("downlink_ack", "01HFQB")).status_code == 202
    assert command_status(operator, device_id, command["id"]) == "confirmed"


def test_a_join_is_recorded_as_a_network_event_not_an_unknown_code(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = licensed_thermostat(world, "ALPHA-LW-JOIN")
    connection = connect(operator, world, network_server, "chirpstack", device_id)
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
    device_id = licensed_thermostat(world, "ALPHA-LW-BAD")
    connection = connect(operator, world, network_server, "chirpstack", device_id)
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
    assert latest_values(operator, device_id)["temperature"][0] == 21.5


def test_a_network_server_that_refuses_the_downlink_leaves_the_command_requested_with_the_reason(
        lorawan_process: Process, operator: TestClient, world: World, network_server: FakeNetworkServer):
    device_id = licensed_thermostat(world, "ALPHA-LW-DOWN")
    connect(operator, world, network_server, "chirpstack", device_id)
    network_server.refuse_with = 401
    command = set_target(operator, device_id, 21)
    assert command["status"] == "requested"
    assert "HTTP 401" in command["detail"]
