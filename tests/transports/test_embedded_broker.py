"""The embedded broker (amqtt) enforces the same rules as Mosquitto's per-device roles,
with the credentials in Leitstand's database. It speaks MQTT 3.1.1, which has no negative
acknowledgement: a denied publish is not acknowledged, the broker closes the connection
and counts the refusal on the device. A permitted marker published afterwards shows that
nothing forbidden got through: the observer's first message is the marker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from leitstand.auth.secrets import new_token, token_digest
from leitstand.config import Settings
from leitstand.devices.models import DeviceCredential
from leitstand.ingest.message import RejectReason
from leitstand.state.models import IngestRejection
from leitstand.tenancy.scope import system_session
from leitstand.transports.native import topics
from leitstand.transports.mqtt.embedded import EmbeddedBroker
from tests.transports.mqtt_support import WAIT, MqttProbe, DeviceLogin, add_device

ProbeFactory = Callable[..., MqttProbe]
REFUSED = 0x87  # CONNACK "not authorised" (paho reports MQTT 3.1.1 code 5 as MQTT 5 0x87)


def device_probe(broker: EmbeddedBroker, mqtt_probe: ProbeFactory, device: DeviceLogin, **kwargs: object) -> MqttProbe:
    probe = mqtt_probe(broker.port, device.serial, device.secret, mqtt5=False, **kwargs)
    reason = probe.connect()
    assert not reason.is_failure, reason
    return probe


def service_probe(broker: EmbeddedBroker, settings: Settings, mqtt_probe: ProbeFactory,
                  topic_filter: str = f"{topics.PREFIX}/#") -> MqttProbe:
    probe = mqtt_probe(broker.port, settings.mqtt_service_username, settings.mqtt_service_password, mqtt5=False,
                       client_id="leitstand-test-observer")
    assert not probe.connect().is_failure
    assert not probe.subscribe(topic_filter).is_failure
    return probe


def rejections(session_factory: Any, device: DeviceLogin) -> dict[str, int]:
    """The device's refused messages by reason, as GET /api/v1/devices/{id}/rejections shows them."""
    with system_session(session_factory, reason="test check") as db:
        rows = db.scalars(select(IngestRejection).where(IngestRejection.device_id == device.device.id)).all()
    return {row.reason: row.count for row in rows}


def test_device_with_its_credential_publishes(embedded_broker: EmbeddedBroker, embedded_settings: Settings,
                                              system_db: Any, mqtt_probe: ProbeFactory) -> None:
    device = add_device(system_db)
    leitstand = service_probe(embedded_broker, embedded_settings, mqtt_probe, topics.ALL_UPLINKS)
    probe = device_probe(embedded_broker, mqtt_probe, device)
    probe.publish(topics.uplink(device.serial, "telemetry"), b'{"values": {"cycles": 3}}')
    message = leitstand.next_message()
    assert (message.topic, message.payload) == (topics.uplink(device.serial, "telemetry"), b'{"values": {"cycles": 3}}')


def test_device_cannot_publish_to_another_device_s_topic(embedded_broker: EmbeddedBroker, embedded_settings: Settings,
                                                         system_db: Any, session_factory: Any,
                                                         mqtt_probe: ProbeFactory) -> None:
    intruder, victim = add_device(system_db), add_device(system_db)
    leitstand = service_probe(embedded_broker, embedded_settings, mqtt_probe)

    for forbidden in (topics.uplink(victim.serial, "telemetry"), topics.command_topic(victim.serial, "c1"),
                      topics.command_topic(intruder.serial, "c2"), "anything/else"):
        probe = device_probe(embedded_broker, mqtt_probe, intruder, reconnect=False)
        refused = probe.client.publish(forbidden, b'{"values": {"cycles": 999}}', qos=1)
        assert probe.disconnected.wait(WAIT), f"{forbidden}: the connection stayed open"
        assert not refused.is_published(), f"{forbidden}: acknowledged, so the device believes it was stored"
    marker = topics.uplink(intruder.serial, "heartbeat")
    device_probe(embedded_broker, mqtt_probe, intruder).publish(marker, b"")
    assert leitstand.next_message().topic == marker
    assert rejections(session_factory, intruder) == {RejectReason.forbidden_topic: 4}
    assert rejections(session_factory, victim) == {}


def test_a_reconnected_device_keeps_its_connection_when_the_monitor_cleans_up_its_old_session(
        embedded_broker: EmbeddedBroker, embedded_settings: Settings, system_db: Any, mqtt_probe: ProbeFactory) -> None:
    # amqtt's session monitor lists the disconnected sessions, then cleans them up by client id across
    # awaits. A device that reconnected in between (client id = serial) lost its new connection, and its
    # next publish failed with "not currently connected". Here the monitor's stale entry comes due at once.
    device = add_device(system_db)
    leitstand = service_probe(embedded_broker, embedded_settings, mqtt_probe, topics.ALL_UPLINKS)
    probe = device_probe(embedded_broker, mqtt_probe, device, reconnect=False)
    stale_cleanup = embedded_broker._broker._cleanup_session(device.serial)  # noqa: SLF001 - amqtt's own hook
    asyncio.run_coroutine_threadsafe(stale_cleanup, embedded_broker._loop).result(WAIT)  # noqa: SLF001

    assert not probe.disconnected.is_set(), "the live connection was closed"
    probe.publish(topics.uplink(device.serial, "telemetry"), b'{"values": {"cycles": 5}}')
    assert leitstand.next_message().payload == b'{"values": {"cycles": 5}}'


def test_a_publish_to_a_dollar_topic_closes_the_connection_and_is_counted(
        embedded_broker: EmbeddedBroker, embedded_settings: Settings, system_db: Any, session_factory: Any,
        mqtt_probe: ProbeFactory) -> None:
    # amqtt stopped serving such a connection without closing it: every later publish was acknowledged and lost.
    device = add_device(system_db)
    leitstand = service_probe(embedded_broker, embedded_settings, mqtt_probe, topics.ALL_UPLINKS)
    probe = device_probe(embedded_broker, mqtt_probe, device, reconnect=False)
    telemetry = topics.uplink(device.serial, "telemetry")

    refused = probe.client.publish("$SYS/x", b"{}", qos=1)
    behind = probe.client.publish(telemetry, b'{"values": {"cycles": 1}}', qos=1)
    assert probe.disconnected.wait(WAIT), "the broker must close a connection it no longer serves"
    assert not refused.is_published()
    if behind.is_published():  # taken before the connection closed: then it reached Leitstand
        assert leitstand.next_message().payload == b'{"values": {"cycles": 1}}'
    assert rejections(session_factory, device) == {RejectReason.forbidden_topic: 1}

    # Connected again, the device is served as before. The publish behind the refused one may have been
    # taken just before the close, without its PUBACK reaching the device: then it arrives first (at least once).
    device_probe(embedded_broker, mqtt_probe, device).publish(telemetry, b'{"values": {"cycles": 2}}')
    arrived = leitstand.next_message().payload
    if arrived == b'{"values": {"cycles": 1}}' and not behind.is_published():
        arrived = leitstand.next_message().payload
    assert arrived == b'{"values": {"cycles": 2}}'


def test_device_cannot_subscribe_to_another_device_s_commands(embedded_broker: EmbeddedBroker,
                                                              embedded_settings: Settings, system_db: Any,
                                                              mqtt_probe: ProbeFactory) -> None:
    intruder, victim = add_device(system_db), add_device(system_db)
    probe = device_probe(embedded_broker, mqtt_probe, intruder)
    for forbidden in (topics.command_subscription(victim.serial), f"{topics.PREFIX}/+/down/#", "#",
                      topics.device_publish_filter(victim.serial)):
        assert probe.subscribe(forbidden).is_failure, forbidden
    assert not probe.subscribe(topics.command_subscription(intruder.serial)).is_failure

    leitstand = service_probe(embedded_broker, embedded_settings, mqtt_probe)
    leitstand.publish(topics.command_topic(victim.serial, "for-victim"), b"{}")
    leitstand.publish(topics.command_topic(intruder.serial, "for-intruder"), b"{}")
    assert probe.next_message().topic == topics.command_topic(intruder.serial, "for-intruder")


def test_revoked_and_rotated_credentials_are_refused(embedded_broker: EmbeddedBroker, system_db: Any,
                                                     mqtt_probe: ProbeFactory) -> None:
    device = add_device(system_db)
    # Rotation: the old credential is revoked, a new one issued.
    device.credential.revoked_at = datetime.now(UTC)
    new_secret = new_token()
    system_db.add(DeviceCredential(device_id=device.device.id, tenant_id=device.device.tenant_id,
                                   username=device.serial, secret_hash=token_digest(new_secret)))
    system_db.commit()

    assert mqtt_probe(embedded_broker.port, device.serial, device.secret, mqtt5=False).connect().value == REFUSED
    rotated = DeviceLogin(device.serial, new_secret, device.device, device.credential)
    device_probe(embedded_broker, mqtt_probe, rotated)


def test_decommissioned_unknown_and_anonymous_are_refused(embedded_broker: EmbeddedBroker, system_db: Any,
                                                          mqtt_probe: ProbeFactory) -> None:
    device = add_device(system_db)
    other = add_device(system_db)
    device.device.decommissioned_at = datetime.now(UTC)
    system_db.commit()

    port = embedded_broker.port
    assert mqtt_probe(port, device.serial, device.secret, mqtt5=False).connect().value == REFUSED
    assert mqtt_probe(port, "NO-SUCH-DEVICE", device.secret, mqtt5=False).connect().value == REFUSED
    assert mqtt_probe(port, other.serial, device.secret, mqtt5=False).connect().value == REFUSED  # someone else's secret
    assert mqtt_probe(port, None, None, mqtt5=False).connect().value == REFUSED
    assert mqtt_probe(port, "ls/v1/+", "x", mqtt5=False).connect().value == REFUSED


def test_a_device_connects_only_under_its_serial_as_client_id(embedded_broker: EmbeddedBroker, embedded_settings: Settings, system_db: Any,
                                         mqtt_probe: ProbeFactory) -> None:
    device = add_device(system_db)
    # A device must not take over the ingest worker's persistent session.
    hijack = mqtt_probe(embedded_broker.port, device.serial, device.secret, mqtt5=False, client_id="leitstand-ingest-1")
    assert hijack.connect().value == REFUSED
    other = add_device(system_db)
    borrowed = mqtt_probe(embedded_broker.port, device.serial, device.secret, mqtt5=False, client_id=other.serial)
    assert borrowed.connect().value == REFUSED
    wrong = mqtt_probe(embedded_broker.port, embedded_settings.mqtt_service_username, "wrong", mqtt5=False)
    assert wrong.connect().value == REFUSED
