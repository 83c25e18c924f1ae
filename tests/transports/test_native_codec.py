"""The native protocol v1 (over MQTT and HTTP): recorded device payloads decode to canonical messages, and
every kind of bad input is refused with the right reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leitstand.ingest.message import CommandOutcome, CommandRequest, DeviceMessage, MessageKind, Reading
from leitstand.ingest.message import RejectReason
from leitstand.transports.native import topics
from leitstand.transports.native.codec import (
    MAX_BATCH_ENTRIES,
    MAX_PAYLOAD_BYTES,
    DecodeError,
    decode,
    decode_command,
    encode_command,
    encode_uplink,
)

FIXTURES = Path(__file__).parent / "fixtures"
RECEIVED = datetime(2025, 3, 14, 8, 15, 3, tzinfo=UTC)
BARRIER = "NT-BAR-000123"
THERMOSTAT = "WR-THM-004711"


def recorded(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def refused(topic: str, payload: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(topic, payload, RECEIVED)
    return caught.value


# --- recorded payloads -------------------------------------------------------------------


def test_single_telemetry_from_a_barrier() -> None:
    message = decode(f"ls/v1/{BARRIER}/up/telemetry", recorded("barrier_telemetry.json"), RECEIVED)
    at = datetime(2025, 3, 14, 8, 15, 2, 120000, tzinfo=UTC)
    assert message == DeviceMessage(serial=BARRIER, kind=MessageKind.telemetry, received_at=RECEIVED, readings=(
        Reading("position", at, "open"), Reading("cycles", at, 18234.0),
        Reading("motor_temperature", at, 41.5), Reading("supply_voltage", at, 229.8),
    ))


def test_telemetry_batch_from_a_thermostat_with_epoch_milliseconds() -> None:
    message = decode(f"ls/v1/{THERMOSTAT}/up/telemetry", recorded("thermostat_telemetry_batch.json"), RECEIVED)
    assert message.kind == MessageKind.telemetry
    assert len(message.readings) == 4 + 2 + 4
    first, last = message.readings[0], message.readings[-1]
    assert first == Reading("temperature", datetime(2025, 3, 14, 8, 0, tzinfo=UTC), 20.5)
    assert last == Reading("rssi", datetime(2025, 3, 14, 8, 30, tzinfo=UTC), -91.0)
    assert Reading("window_open", first.at, False) in message.readings  # booleans stay booleans


def test_attributes_keep_nested_configuration() -> None:
    message = decode(f"ls/v1/{BARRIER}/up/attributes", recorded("barrier_attributes.json"), RECEIVED)
    assert message.kind == MessageKind.attributes
    assert message.attributes["firmware"] == "3.4.1"
    assert message.attributes["config"] == {"auto_close_s": 30, "photocell": True}
    assert message.sent_at == datetime(2025, 3, 14, 8, 15, 2, tzinfo=UTC)  # +01:00 as UTC


def test_event_with_error_code() -> None:
    message = decode(f"ls/v1/{BARRIER}/up/events", recorded("barrier_event.json"), RECEIVED)
    assert (message.kind, message.event_code) == (MessageKind.event, "E01")
    assert message.event_data == {"position": "opening", "cycles": 18235, "obstacle_current_a": 7.9}
    # The device's own time: a redelivered event is recognised as the same one.
    assert message.sent_at == datetime(2025, 3, 14, 8, 16, 40, 7000, tzinfo=UTC)


@pytest.mark.parametrize(("payload", "sent_at"), [
    (b"", None),
    (recorded("thermostat_heartbeat.json"), datetime(2025, 3, 14, 8, 16, 42, 120000, tzinfo=UTC)),
])
def test_heartbeat_empty_or_with_time(payload: bytes, sent_at: datetime | None) -> None:
    message = decode(f"ls/v1/{THERMOSTAT}/up/heartbeat", payload, RECEIVED)
    assert message == DeviceMessage(serial=THERMOSTAT, kind=MessageKind.heartbeat, received_at=RECEIVED,
                                    sent_at=sent_at)


def test_command_result_names_the_command_in_the_topic() -> None:
    message = decode(f"ls/v1/{BARRIER}/up/commands/c7Hq2mZt9VxPa1", recorded("barrier_command_result.json"), RECEIVED)
    assert message.kind == MessageKind.command_result
    assert (message.command_id, message.command_outcome, message.command_detail) == (
        "c7Hq2mZt9VxPa1", CommandOutcome.succeeded, "opened in 3.8 s")


def test_command_request_matches_the_recorded_downlink() -> None:
    request = CommandRequest(serial=BARRIER, command_id="c7Hq2mZt9VxPa1", name="open", parameters={"hold_open_s": 60},
                             expires_at=datetime(2025, 3, 14, 8, 20, tzinfo=UTC))
    topic, payload = encode_command(request)
    assert topic == f"ls/v1/{BARRIER}/down/commands/c7Hq2mZt9VxPa1"
    assert json.loads(payload) == json.loads(recorded("barrier_command_request.json"))
    assert topics.filter_matches(topics.command_subscription(BARRIER), topic)
    assert decode_command(topic, payload) == request


def test_single_telemetry_without_time_takes_the_arrival_time() -> None:
    message = decode(f"ls/v1/{BARRIER}/up/telemetry", b'{"values": {"cycles": 1}}', RECEIVED)
    assert message.readings == (Reading("cycles", RECEIVED, 1.0),)


def test_iso_times_with_offsets_become_utc() -> None:
    message = decode(f"ls/v1/{BARRIER}/up/telemetry", b'{"ts": "2025-10-26T02:30:00+02:00", "values": {"cycles": 1}}',
                     RECEIVED)
    assert message.readings[0].at == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("message", [
    DeviceMessage(serial=BARRIER, kind=MessageKind.telemetry, received_at=RECEIVED,
                  readings=(Reading("cycles", RECEIVED, 5.0), Reading("position", RECEIVED, "closed"))),
    DeviceMessage(serial=BARRIER, kind=MessageKind.telemetry, received_at=RECEIVED,
                  readings=(Reading("cycles", RECEIVED, 5.0), Reading("cycles", RECEIVED + timedelta(minutes=1), 6.0))),
    DeviceMessage(serial=BARRIER, kind=MessageKind.attributes, received_at=RECEIVED, attributes={"firmware": "1.0"}),
    DeviceMessage(serial=BARRIER, kind=MessageKind.event, received_at=RECEIVED, event_code="E02", event_data={"n": 1}),
    DeviceMessage(serial=BARRIER, kind=MessageKind.event, received_at=RECEIVED, sent_at=RECEIVED - timedelta(seconds=2),
                  event_code="E03"),
    DeviceMessage(serial=BARRIER, kind=MessageKind.heartbeat, received_at=RECEIVED),
    DeviceMessage(serial=BARRIER, kind=MessageKind.heartbeat, received_at=RECEIVED, sent_at=RECEIVED),
    DeviceMessage(serial=BARRIER, kind=MessageKind.command_result, received_at=RECEIVED, command_id="abc",
                  command_outcome=CommandOutcome.failed, command_detail="blocked"),
])
def test_device_side_encoding_round_trips(message: DeviceMessage) -> None:
    topic, payload = encode_uplink(message)
    assert decode(topic, payload, RECEIVED) == message


# --- refusals ---------------------------------------------------------------------------

TELEMETRY = f"ls/v1/{BARRIER}/up/telemetry"


@pytest.mark.parametrize("payload", [
    b"{not json",
    b'{"values": {"cycles": 1}',  # truncated
    b"\xff\xfe\x00garbage",  # not UTF-8
    b"[1, 2, 3]",  # not an object
    b'"values"',
    b"null",
    b"",  # telemetry needs a body
    b'{"values": {}}',  # nothing in it
    b'{"values": [1, 2]}',
    b'{"values": {"cycles": null}}',  # wrong types
    b'{"values": {"cycles": [1]}}',
    b'{"values": {"cycles": {"n": 1}}}',
    b'{"values": {"cycles": 1}, "firmware": "1.0"}',  # unknown field
    b'{"values": {"cycles": 1}, "batch": [{"ts": 0, "values": {"cycles": 1}}]}',  # both shapes
    b'{"batch": []}',
    b'{"batch": {"ts": 0}}',
    b'{"batch": [17]}',
    b'{"batch": [{"values": {"cycles": 1}}]}',  # batch entry without time
    b'{"batch": [{"ts": 0, "values": {"cycles": 1}, "extra": 1}]}',
    b'{"values": {"": 1}}',  # empty key
    ('{"values": {"' + "k" * 65 + '": 1}}').encode(),  # key too long
    ('{"values": {"label": "' + "x" * 201 + '"}}').encode(),  # text too long
    b'{"ts": true, "values": {"cycles": 1}}',  # time of the wrong type
    b'{"ts": {"s": 1}, "values": {"cycles": 1}}',
    ('{"values": {"cycles": ' + "[" * 30_000 + "]" * 30_000 + "}}").encode(),  # nested until the parser gives up
    ('{"values": {"cycles": 1' + "0" * 5000 + "}}").encode(),  # an integer too long to parse
    ('{"values": {"cycles": 1' + "0" * 400 + "}}").encode(),  # an integer beyond float
])
def test_malformed_payloads(payload: bytes) -> None:
    error = refused(TELEMETRY, payload)
    assert error.reason == RejectReason.malformed
    assert error.serial == BARRIER  # counted on the device that sent it


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
def test_nan_and_infinity_are_refused(literal: bytes) -> None:
    # Python's json accepts NaN/Infinity by default; a device must not store them.
    assert refused(TELEMETRY, b'{"values": {"motor_temperature": ' + literal + b"}}").reason == RejectReason.malformed
    assert refused(f"ls/v1/{BARRIER}/up/events",
                   b'{"code": "E01", "data": {"current": ' + literal + b"}}").reason == RejectReason.malformed


def test_oversized_payload() -> None:
    payload = b'{"values": {"label": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}}'
    assert refused(TELEMETRY, payload).reason == RejectReason.oversized


def test_oversized_batch() -> None:
    entry = '{"ts": 1741939200000, "values": {"cycles": 1}}'
    payload = ('{"batch": [' + ",".join([entry] * (MAX_BATCH_ENTRIES + 1)) + "]}").encode()
    assert len(payload) < MAX_PAYLOAD_BYTES
    assert refused(TELEMETRY, payload).reason == RejectReason.oversized
    exactly = ('{"batch": [' + ",".join([entry] * MAX_BATCH_ENTRIES) + "]}").encode()
    assert len(decode(TELEMETRY, exactly, RECEIVED).readings) == MAX_BATCH_ENTRIES


@pytest.mark.parametrize("ts", [
    '"yesterday"', '"2025-13-01T00:00:00Z"', '"2025-03-14 25:00"', '""',
    '"2025-03-14T08:00:00"',  # no offset: ambiguous
    "1e300",  # epoch ms beyond any calendar
    "-99999999999999999",
])
def test_unparseable_times(ts: str) -> None:
    payload = ('{"ts": ' + ts + ', "values": {"cycles": 1}}').encode()
    assert refused(TELEMETRY, payload).reason == RejectReason.bad_timestamp
    batch = ('{"batch": [{"ts": ' + ts + ', "values": {"cycles": 1}}]}').encode()
    assert refused(TELEMETRY, batch).reason == RejectReason.bad_timestamp


def test_far_future_and_past_times_decode_for_ingest_to_judge() -> None:
    # Plausibility depends on "now" and the device; ingest decides (RejectReason.bad_timestamp there).
    message = decode(TELEMETRY, b'{"ts": "2099-01-01T00:00:00Z", "values": {"cycles": 1}}', RECEIVED)
    assert message.readings[0].at.year == 2099


@pytest.mark.parametrize(("topic", "payload"), [
    (f"ls/v1/{BARRIER}/up/attributes", b'{"attributes": {}}'),
    (f"ls/v1/{BARRIER}/up/attributes", b'{"attributes": [1]}'),
    (f"ls/v1/{BARRIER}/up/events", b'{"data": {}}'),  # no code
    (f"ls/v1/{BARRIER}/up/events", b'{"code": 17}'),
    (f"ls/v1/{BARRIER}/up/events", b'{"code": "E01", "data": [1]}'),
    (f"ls/v1/{BARRIER}/up/heartbeat", b"alive"),
    (f"ls/v1/{BARRIER}/up/heartbeat", b'{"ts": 1, "uptime": 5}'),
    (f"ls/v1/{BARRIER}/up/commands/abc", b'{"status": "done"}'),
    (f"ls/v1/{BARRIER}/up/commands/abc", b'{"detail": "x"}'),
    (f"ls/v1/{BARRIER}/up/commands/abc", b'{"status": "failed", "detail": 5}'),
])
def test_malformed_payloads_of_other_channels(topic: str, payload: bytes) -> None:
    assert refused(topic, payload).reason == RejectReason.malformed


@pytest.mark.parametrize(("topic", "sender"), [
    ("ls/v1/X/up", "X"), ("ls/v1/X/up/telemetry/extra", "X"), ("ls/v1/X/up/unknown", "X"),
    ("ls/v1/X/up/commands", "X"), ("ls/v1/X/up/commands/a/b", "X"), ("ls/v1/X/up/commands/" + "c" * 33, "X"),
    ("ls/v2/X/up/telemetry", None), ("ls/v1/X/down/commands/1", None), ("ls/v1//up/telemetry", None),
    ("ls/v1/X+/up/telemetry", None), ("other/topic", None),
])
def test_topics_outside_the_scheme(topic: str, sender: str | None) -> None:
    """Refused as malformed; below ls/v1/{serial}/up, where only that device may publish,
    the refusal names the serial, so it is counted on the device."""
    error = refused(topic, b'{"values": {"cycles": 1}}')
    assert error.reason == RejectReason.malformed
    assert error.serial == sender


def test_long_command_detail_is_cut_not_refused() -> None:
    payload = json.dumps({"status": "failed", "detail": "x" * 1000}).encode()
    message = decode(f"ls/v1/{BARRIER}/up/commands/abc", payload, RECEIVED)
    assert message.command_outcome == CommandOutcome.failed and len(message.command_detail) == 300


def test_shared_and_plain_ingest_subscriptions() -> None:
    assert topics.ingest_subscription("") == "ls/v1/+/up/#"
    assert topics.ingest_subscription("ingest") == "$share/ingest/ls/v1/+/up/#"
    with pytest.raises(topics.TopicError):
        topics.ingest_subscription("a/b")


@pytest.mark.parametrize(("requested", "within"), [
    ("ls/v1/S/down/#", True), ("ls/v1/S/down/commands/+", True), ("ls/v1/S/down/commands/1", True),
    ("ls/v1/+/down/#", False), ("ls/v1/#", False), ("#", False), ("ls/v1/T/down/#", False), ("ls/v1/S/up/#", False),
    ("ls/v1/S/+/#", False),
])
def test_subscription_filters_within_a_device_s_downlinks(requested: str, within: bool) -> None:
    assert topics.filter_within(requested, topics.device_subscribe_filter("S")) is within
