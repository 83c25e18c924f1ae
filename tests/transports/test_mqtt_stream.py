"""The ingest worker's lean MQTT connection, packet by packet and against real brokers.

The worker tests (test_mqtt_ingest_worker.py) show the whole path; these pin down the
wire format where a mistake would only show under load: packets split across reads,
MQTT 5 properties in front of a payload, several packets in one read, and a broker
that sets its own keep-alive.
"""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from leitstand.transports.native import topics
from leitstand.transports.mqtt.stream import (
    PUBLISH,
    ProtocolError,
    Publish,
    StreamSettings,
    UplinkStream,
    _server_keepalive,
    connect_packet,
    parse_publish,
    puback_packets,
    publish_packet,
    split_packets,
)
from tests.transports.mqtt_support import WAIT, Mosquitto


def test_packets_cut_anywhere_come_out_whole_and_in_order() -> None:
    stream = b"".join(publish_packet(f"ls/v1/S{n}/up/telemetry", b"x" * n * 37, n + 1, mqtt5=True) for n in range(40))
    for cut in (1, 2, 3, 7, 130, 1000):
        packets, rest, seen = [], b"", []
        for start in range(0, len(stream), cut):
            found, rest = split_packets(rest + stream[start:start + cut])
            packets += found
        assert rest == b""
        for first, body in packets:
            assert first >> 4 == PUBLISH
            seen.append(parse_publish(first, body, True, 1))
        assert [(p.topic, len(p.payload), p.mid, p.qos) for p in seen] == [
            (f"ls/v1/S{n}/up/telemetry", n * 37, n + 1, 1) for n in range(40)]


def test_a_payload_of_several_hundred_kilobytes_has_a_four_byte_length() -> None:
    payload = bytes(range(256)) * 1200  # 307 200 bytes: a remaining length of three bytes and more
    packet = publish_packet("ls/v1/BIG/up/telemetry", payload, 9, mqtt5=False)
    packets, rest = split_packets(packet[:-1])
    assert packets == [] and rest == packet[:-1]
    packets, rest = split_packets(packet + b"\xc0")
    assert rest == b"\xc0" and parse_publish(*packets[0], False, 3) == Publish(
        "ls/v1/BIG/up/telemetry", payload, 9, 1, False, 3)


def test_mqtt5_properties_before_the_payload_are_skipped() -> None:
    # Message expiry (0x02) and a user property (0x26), as a broker may forward them.
    properties = b"\x02\x00\x00\x00\x3c" + b"\x26\x00\x01k\x00\x01v"
    body = b"\x00\x03a/b" + b"\x00\x07" + bytes([len(properties)]) + properties + b'{"ts":1}'
    assert parse_publish(0x33, body, True, 2) == Publish("a/b", b'{"ts":1}', 7, 1, True, 2)


def test_a_length_of_more_than_four_bytes_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        split_packets(b"\x30\xff\xff\xff\xff\x01")


def test_acknowledgements_are_written_in_the_order_given() -> None:
    assert puback_packets([1, 258, 65535]) == b"\x40\x02\x00\x01" + b"\x40\x02\x01\x02" + b"\x40\x02\xff\xff"


def test_the_server_keep_alive_is_found_among_other_connack_properties() -> None:
    properties = b"\x21\x00\x14" + b"\x12\x00\x03abc" + b"\x26\x00\x01k\x00\x01v" + b"\x13\x00\x3c"
    assert _server_keepalive(properties) == 60
    assert _server_keepalive(b"\x21\x00\x14") is None


def test_connect_asks_for_a_kept_session_unless_told_otherwise() -> None:
    base = dict(host="h", port=1, client_id="c", username="u", password="p", subscription="s/#")
    kept = connect_packet(StreamSettings(**base))  # type: ignore[arg-type]
    clean = connect_packet(StreamSettings(**base, mqtt5=False, clean_start=True))  # type: ignore[arg-type]
    # fixed header, remaining length, "MQTT", protocol level, flags
    assert kept[2:8] == b"\x00\x04MQTT" and kept[8] == 5 and kept[9] == 0xC0
    assert clean[8] == 4 and clean[9] == 0xC2


@pytest.mark.parametrize("mqtt5", [True, False])
def test_the_stream_receives_acknowledges_and_publishes_on_mosquitto(mosquitto: Mosquitto, mqtt5: bool) -> None:
    client_id = f"leitstand-t-{uuid.uuid4().hex[:8]}"
    prefix = f"{topics.PREFIX}/stream-test-{uuid.uuid4().hex[:8]}"  # the service user's topics
    received: list[Publish] = []
    arrived = threading.Condition()

    def on_messages(publishes: list[Publish]) -> None:
        with arrived:
            received.extend(publishes)
            arrived.notify_all()

    subscribed = threading.Event()
    stream = UplinkStream(StreamSettings(
        host="127.0.0.1", port=mosquitto.plain_port, client_id=client_id, username=mosquitto.service_user,
        password=mosquitto.service_password, subscription=f"{prefix}/#", mqtt5=mqtt5), on_messages,
        on_subscribed=subscribed.set)
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sender-{uuid.uuid4().hex[:8]}")
    sender.username_pw_set(mosquitto.service_user, mosquitto.service_password)
    stream.start()
    try:
        assert subscribed.wait(WAIT)
        sender.connect("127.0.0.1", mosquitto.plain_port)
        sender.loop_start()
        for n in range(300):
            sender.publish(f"{prefix}/{n}", str(n).encode(), qos=1)
        with arrived:
            assert arrived.wait_for(lambda: len(received) >= 300, WAIT)
        assert [p.payload for p in received] == [str(n).encode() for n in range(300)]
        assert all(p.qos == 1 and p.connection == stream.connection for p in received)
        assert stream.acknowledge([p.mid for p in received], stream.connection) == 300
        assert stream.acknowledge([1], stream.connection - 1) == 0  # an earlier connection's ids
        assert stream.publish(f"{prefix}/own", b"command", timeout=WAIT)  # QoS 1, confirmed by the broker
    finally:
        stream.stop(end_session=True)
        sender.loop_stop()
        sender.disconnect()
