"""The two network servers' JSON read into one event shape: every event kind each documents, the
reports that mark a downlink failed, and the shapes refused (requirements DH5, H03)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from leitstand.ingest.message import BindingKey, CommandOutcome, MessageKind
from leitstand.transports.lorawan import chirpstack, things_stack
from leitstand.transports.lorawan.network_events import (
    BadEvent, DeviceStatus, DownlinkReport, DownlinkStep, Ignored, Joined, Uplink,
)
from leitstand.transports.lorawan.uplinks import messages_of
from tests.helpers.lorawan import CHIRPSTACK_UP, DEV_EUI, TTS_UPLINK

DEVICE_INFO = {"devEui": DEV_EUI.upper(), "deviceName": "Raum 1.01"}
AT = "2026-12-07T10:00:00Z"


def test_a_chirpstack_uplink_names_the_best_gateway_and_keeps_the_servers_time() -> None:
    event = chirpstack.parse_event("up", CHIRPSTACK_UP)
    assert isinstance(event, Uplink)
    assert (event.dev_eui, event.port, event.event_id) == (DEV_EUI, 1, CHIRPSTACK_UP["deduplicationId"])
    assert event.payload == base64.b64decode(CHIRPSTACK_UP["data"])
    assert (event.link.gateway_id, event.link.rssi, event.link.snr, event.link.spreading_factor) == (
        "0016c001f153a15d", -97, 7.5, 7)
    assert event.link.gateways == ("0016c001f153a14c", "0016c001f153a15d") and event.link.frame_counter == 7
    assert event.at.tzinfo is UTC and event.at.microsecond == 123456  # nanoseconds read to microseconds


def test_chirpstack_downlink_reports_map_onto_the_command_steps() -> None:
    txack = chirpstack.parse_event("txack", {"downlinkId": 12, "time": AT, "deviceInfo": DEVICE_INFO,
                                             "queueItemId": "q-1"})
    ack = chirpstack.parse_event("ack", {"deduplicationId": "d-1", "time": AT, "deviceInfo": DEVICE_INFO,
                                         "queueItemId": "q-1", "acknowledged": True})
    # `acknowledged: false` is the protobuf default, so ChirpStack leaves it out: a timeout.
    nack = chirpstack.parse_event("ack", {"deduplicationId": "d-2", "time": AT, "deviceInfo": DEVICE_INFO,
                                          "queueItemId": "q-2"})
    expired = chirpstack.parse_event("log", {"time": AT, "deviceInfo": DEVICE_INFO, "level": "ERROR",
                                             "code": "EXPIRED", "description": "queue item expired",
                                             "context": {"queue_item_id": "q-3"}})
    assert [(report.step, report.network_ref) for report in (txack, ack, nack, expired)
            if isinstance(report, DownlinkReport)] == [
        (DownlinkStep.sent, "q-1"), (DownlinkStep.acknowledged, "q-1"), (DownlinkStep.failed, "q-2"),
        (DownlinkStep.failed, "q-3")]
    assert isinstance(expired, DownlinkReport) and expired.detail == "EXPIRED: queue item expired"
    # A log line about something else, and the location event, are of no use here.
    assert isinstance(chirpstack.parse_event("log", {"time": AT, "deviceInfo": DEVICE_INFO, "code": "UPLINK_MIC"}),
                      Ignored)
    assert isinstance(chirpstack.parse_event("location", {"deviceInfo": DEVICE_INFO}), Ignored)


def test_chirpstack_join_and_status() -> None:
    joined = chirpstack.parse_event("join", {"deduplicationId": "j-1", "time": AT, "deviceInfo": DEVICE_INFO,
                                             "devAddr": "00189440"})
    status = chirpstack.parse_event("status", {"deduplicationId": "s-1", "time": AT, "deviceInfo": DEVICE_INFO,
                                               "margin": 7, "batteryLevel": 87.5})
    unavailable = chirpstack.parse_event("status", {"deduplicationId": "s-2", "time": AT, "deviceInfo": DEVICE_INFO,
                                                    "batteryLevelUnavailable": True})
    assert isinstance(joined, Joined) and joined.at == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert isinstance(status, DeviceStatus) and (status.battery_percent, status.margin) == (87.5, 7)
    assert isinstance(unavailable, DeviceStatus) and unavailable.battery_percent is None


def test_tts_messages_of_every_kind() -> None:
    uplink = things_stack.parse_message(TTS_UPLINK)
    assert isinstance(uplink, Uplink)
    assert (uplink.dev_eui, uplink.event_id, uplink.link.gateway_id) == (
        DEV_EUI, "up:as:up:01HFQ8K7ZQ7V3J9W4X2N5B6C8D", "wohnbau-gw-01")
    ids = {"end_device_ids": TTS_UPLINK["end_device_ids"], "received_at": AT}
    joined = things_stack.parse_message({**ids, "correlation_ids": ["as:up:join"], "join_accept": {"received_at": AT}})
    ours = ["leitstand:command:abc123", "as:downlink:01"]
    reports = [things_stack.parse_message({**ids, "correlation_ids": ["as:downlink:01"],
                                           kind: {"f_port": 10, "correlation_ids": ours}})
               for kind in ("downlink_queued", "downlink_sent", "downlink_ack", "downlink_nack")]
    failed = things_stack.parse_message({**ids, "correlation_ids": ["as:downlink:02"], "downlink_failed": {
        "downlink": {"f_port": 10, "correlation_ids": ours},
        "error": {"namespace": "pkg/networkserver", "name": "application_downlink_too_long", "code": 3}}})
    assert isinstance(joined, Joined)
    assert [(report.step, report.command_id) for report in reports if isinstance(report, DownlinkReport)] == [
        (DownlinkStep.queued, "abc123"), (DownlinkStep.sent, "abc123"), (DownlinkStep.acknowledged, "abc123"),
        (DownlinkStep.failed, "abc123")]
    assert isinstance(failed, DownlinkReport) and (failed.step, failed.detail) == (
        DownlinkStep.failed, "application_downlink_too_long")
    assert isinstance(things_stack.parse_message({**ids, "location_solved": {}}), Ignored)


def test_reports_become_command_results_and_a_stranger_downlink_nothing() -> None:
    binding = BindingKey("lorawan", 3, DEV_EUI)
    at = datetime(2026, 12, 7, 10, tzinfo=UTC)
    failed = DownlinkReport(DEV_EUI, "x", at, DownlinkStep.failed, network_ref="q-9", detail="EXPIRED")
    [message] = messages_of(failed, binding, None, at)
    assert (message.kind, message.command_network_ref, message.command_outcome, message.command_detail) == (
        MessageKind.command_result, "q-9", CommandOutcome.failed, "EXPIRED")
    # A downlink queued from the network server's console names no command of ours.
    assert messages_of(DownlinkReport(DEV_EUI, "y", at, DownlinkStep.sent), binding, None, at) == []


@pytest.mark.parametrize("body, why", [
    ({**CHIRPSTACK_UP, "deviceInfo": {"devEui": "70b3d57ed00012"}}, "the DevEUI must be 16 hexadecimal digits"),
    ({**CHIRPSTACK_UP, "data": "not base64!"}, "the payload is not valid base64"),
    ({**CHIRPSTACK_UP, "time": "2026-12-07 10:00"}, "time must carry its offset"),
    ({**CHIRPSTACK_UP, "fPort": "one"}, "fPort must be a number"),
    ({**CHIRPSTACK_UP, "rxInfo": ["gateway"]}, "an rxInfo entry must be a JSON object"),
    ({**CHIRPSTACK_UP, "data": base64.b64encode(bytes(243)).decode()}, "LoRaWAN carries at most 242"),
    (["not", "an", "object"], "the event must be a JSON object"),
])
def test_chirpstack_shapes_outside_the_documented_one_are_refused(body: object, why: str) -> None:
    with pytest.raises(BadEvent) as refused:
        chirpstack.parse_event("up", body)
    assert why in refused.value.detail


def test_tts_shapes_outside_the_documented_one_are_refused() -> None:
    with pytest.raises(BadEvent, match="none of the known message types"):
        things_stack.parse_message({"end_device_ids": TTS_UPLINK["end_device_ids"], "received_at": AT})
    with pytest.raises(BadEvent, match="correlation_ids must be a list of strings"):
        things_stack.parse_message({**TTS_UPLINK, "correlation_ids": "as:up:1"})
    with pytest.raises(BadEvent, match="no correlation id"):
        things_stack.parse_message({**TTS_UPLINK, "correlation_ids": []})
    with pytest.raises(BadEvent, match="unknown ChirpStack event"):
        chirpstack.parse_event("", CHIRPSTACK_UP)
