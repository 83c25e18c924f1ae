"""Mosquitto as Leitstand runs it in production: devices managed through the
dynamic-security plugin, confined to their own topics, over TLS and WebSockets+TLS.

MQTT 5 makes refusals visible: a denied publish is answered with PUBACK reason
"Not authorized", a denied subscription with SUBACK "Not authorized", a refused login
with CONNACK "Not authorized". No test waits for time to pass.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from paho.mqtt.reasoncodes import ReasonCode

from leitstand.config import Settings
from leitstand.transports.native import topics
from leitstand.transports.mqtt.dynsec import DynsecError, MosquittoDeviceAdmin
from tests.transports.mqtt_support import Mosquitto, MqttProbe

NOT_AUTHORIZED = 0x87

ProbeFactory = Callable[..., MqttProbe]


def new_serial() -> str:
    return f"MQ-{uuid.uuid4().hex[:10].upper()}"


def provisioned(dynsec: MosquittoDeviceAdmin) -> tuple[str, str]:
    serial, password = new_serial(), secrets.token_urlsafe(32)
    dynsec.provision(serial, password)
    return serial, password


def observer(mosquitto: Mosquitto, mqtt_probe: ProbeFactory, topic_filter: str = topics.ALL_UPLINKS) -> MqttProbe:
    """Leitstand's service user, watching the device topics over the local listener."""
    probe = mqtt_probe(mosquitto.plain_port, mosquitto.service_user, mosquitto.service_password)
    assert not probe.connect().is_failure
    assert not probe.subscribe(topic_filter).is_failure
    return probe


def device_over_tls(mosquitto: Mosquitto, mqtt_probe: ProbeFactory, serial: str, password: str) -> MqttProbe:
    probe = mqtt_probe(mosquitto.tls_port, serial, password, tls_ca=mosquitto.pki.ca_file)
    reason = probe.connect()
    assert not reason.is_failure, reason
    return probe


@pytest.mark.parametrize("transport", ["tls", "websockets+tls"])
def test_provisioned_device_connects_and_publishes(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                   mqtt_probe: ProbeFactory, transport: str) -> None:
    serial, password = provisioned(dynsec)
    leitstand = observer(mosquitto, mqtt_probe)
    port = mosquitto.tls_port if transport == "tls" else mosquitto.ws_port
    device = mqtt_probe(port, serial, password, tls_ca=mosquitto.pki.ca_file, websockets=transport != "tls")
    assert not device.connect().is_failure

    topic = topics.uplink(serial, "telemetry")
    reason = device.publish(topic, b'{"values": {"cycles": 1}}')
    assert not reason.is_failure, reason
    received = leitstand.next_message()
    assert (received.topic, received.payload) == (topic, b'{"values": {"cycles": 1}}')


def test_tls_listener_refuses_a_client_that_does_not_trust_the_server(mosquitto: Mosquitto,
                                                                      dynsec: MosquittoDeviceAdmin) -> None:
    import ssl

    serial, password = provisioned(dynsec)
    probe = MqttProbe(mosquitto.tls_port, serial, password, tls_ca=None)
    probe.client.tls_set()  # the system's trust store knows nothing of the throw-away CA
    with pytest.raises(ssl.SSLCertVerificationError):
        probe.client.connect("127.0.0.1", mosquitto.tls_port)


def test_device_cannot_publish_to_another_device_s_topic(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                         mqtt_probe: ProbeFactory) -> None:
    intruder, intruder_password = provisioned(dynsec)
    victim, _ = provisioned(dynsec)
    leitstand = observer(mosquitto, mqtt_probe, f"{topics.PREFIX}/#")
    device = device_over_tls(mosquitto, mqtt_probe, intruder, intruder_password)

    for forbidden in (topics.uplink(victim, "telemetry"), topics.command_topic(victim, "c1"),
                      topics.command_topic(intruder, "c2"), f"{topics.PREFIX}/{victim}", "anything/else"):
        reason = device.publish(forbidden, b'{"values": {"cycles": 999}}')
        assert reason.value == NOT_AUTHORIZED, (forbidden, reason)

    # The broker dropped every one of them: the first thing Leitstand sees is the marker.
    marker = topics.uplink(intruder, "heartbeat")
    assert not device.publish(marker, b"").is_failure
    assert leitstand.next_message().topic == marker


def test_device_cannot_subscribe_to_another_device_s_commands(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                              mqtt_probe: ProbeFactory) -> None:
    intruder, intruder_password = provisioned(dynsec)
    victim, _ = provisioned(dynsec)
    device = device_over_tls(mosquitto, mqtt_probe, intruder, intruder_password)

    for forbidden in (topics.command_subscription(victim), f"{topics.PREFIX}/+/down/#", f"{topics.PREFIX}/#", "#",
                      topics.device_publish_filter(victim)):
        reason: ReasonCode = device.subscribe(forbidden)
        assert reason.value == NOT_AUTHORIZED, (forbidden, reason)
    assert not device.subscribe(topics.command_subscription(intruder)).is_failure

    # Leitstand sends a command to each; only the device's own arrives.
    leitstand = observer(mosquitto, mqtt_probe)
    assert not leitstand.publish(topics.command_topic(victim, "for-victim"), b"{}").is_failure
    assert not leitstand.publish(topics.command_topic(intruder, "for-intruder"), b"{}").is_failure
    assert device.next_message().topic == topics.command_topic(intruder, "for-intruder")


def test_rotation_refuses_the_old_password_and_disconnects_its_session(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, mqtt_probe: ProbeFactory) -> None:
    serial, old = provisioned(dynsec)
    connected = device_over_tls(mosquitto, mqtt_probe, serial, old)

    new = secrets.token_urlsafe(32)
    dynsec.rotate(serial, new)
    assert connected.disconnected.wait(10)

    assert mqtt_probe(mosquitto.tls_port, serial, old, tls_ca=mosquitto.pki.ca_file).connect().value == NOT_AUTHORIZED
    assert not mqtt_probe(mosquitto.tls_port, serial, new, tls_ca=mosquitto.pki.ca_file).connect().is_failure


def test_revoked_device_is_refused_and_disconnected(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                    mqtt_probe: ProbeFactory) -> None:
    serial, password = provisioned(dynsec)
    connected = device_over_tls(mosquitto, mqtt_probe, serial, password)

    dynsec.revoke(serial)
    assert connected.disconnected.wait(10)
    refused = mqtt_probe(mosquitto.tls_port, serial, password, tls_ca=mosquitto.pki.ca_file).connect()
    assert refused.value == NOT_AUTHORIZED
    dynsec.revoke(serial)  # repeating is harmless


def test_provisioning_again_reactivates_with_the_new_password(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                              mqtt_probe: ProbeFactory) -> None:
    serial, first = provisioned(dynsec)
    second = secrets.token_urlsafe(32)
    dynsec.provision(serial, second)
    assert mqtt_probe(mosquitto.tls_port, serial, first, tls_ca=mosquitto.pki.ca_file).connect().value == NOT_AUTHORIZED
    device = device_over_tls(mosquitto, mqtt_probe, serial, second)
    # Still confined to its own topics.
    assert device.publish(topics.uplink(new_serial(), "telemetry"), b"{}").value == NOT_AUTHORIZED


def test_anonymous_and_unknown_clients_are_refused(mosquitto: Mosquitto, mqtt_probe: ProbeFactory) -> None:
    assert mqtt_probe(mosquitto.tls_port, None, None, tls_ca=mosquitto.pki.ca_file).connect().is_failure
    assert mqtt_probe(mosquitto.plain_port, None, None).connect().is_failure
    assert mqtt_probe(mosquitto.tls_port, new_serial(), "guess", tls_ca=mosquitto.pki.ca_file).connect().is_failure


def test_dynsec_errors_are_reported(dynsec: MosquittoDeviceAdmin) -> None:
    with pytest.raises(DynsecError, match="Client not found"):
        dynsec.rotate(new_serial(), "whatever")
    with pytest.raises(ValueError):
        dynsec.provision("bad/serial", "x")


def test_wrong_admin_password_is_refused_at_connect(mosquitto: Mosquitto) -> None:
    with pytest.raises(DynsecError):
        MosquittoDeviceAdmin("127.0.0.1", mosquitto.plain_port, mosquitto.admin_user, "wrong", timeout=5)


def test_service_user_may_use_a_shared_subscription(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                    mqtt_probe: ProbeFactory) -> None:
    serial, password = provisioned(dynsec)
    worker = observer(mosquitto, mqtt_probe, topics.ingest_subscription("test-share"))
    device = device_over_tls(mosquitto, mqtt_probe, serial, password)
    assert not device.publish(topics.uplink(serial, "heartbeat"), b"").is_failure
    assert worker.next_message().topic == topics.uplink(serial, "heartbeat")
    # A device may not join the share to read everyone's uplinks.
    assert device.subscribe(topics.ingest_subscription("test-share")).value == NOT_AUTHORIZED


def test_device_may_connect_only_under_its_serial_as_client_id(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                               mqtt_probe: ProbeFactory) -> None:
    serial, password = provisioned(dynsec)
    other_serial, _ = provisioned(dynsec)
    # Borrowing the ingest worker's or another device's client id would take over that session.
    for borrowed in ("leitstand-ingest-1", other_serial):
        hijack = mqtt_probe(mosquitto.tls_port, serial, password, tls_ca=mosquitto.pki.ca_file, client_id=borrowed)
        assert hijack.connect().value == NOT_AUTHORIZED
    device_over_tls(mosquitto, mqtt_probe, serial, password)  # asserts the connection succeeds


def test_the_broker_admin_component_provisions_what_its_own_process_announces(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings, session_factory: Any) -> None:
    from leitstand.devices.claiming import announce_credentials
    from leitstand.runtime import start

    process, _app = start(mosquitto.settings(settings), "scheduler",
                          skip=frozenset({"database", "rollups", "notifier", "scheduler"}))
    ours, theirs = new_serial(), new_serial()
    try:
        assert announce_credentials(process.factory, ours, secrets.token_urlsafe(32)) == []
        announce_credentials(session_factory, theirs, secrets.token_urlsafe(32))  # another app's factory
        found = dynsec.execute([{"command": "getClient", "username": serial} for serial in (ours, theirs)],
                               tolerate=["Client not found"])
        assert [bool(answer.get("error")) for answer in found] == [False, True]
    finally:
        process.stop()
        dynsec.revoke(ours)
    # Stopped, it no longer listens: a later decommissioning of the device is not its to apply.
    dynsec.provision(ours, "still-here-secret-0001")
    try:
        announce_credentials(process.factory, ours, None)
        [answer] = dynsec.execute([{"command": "getClient", "username": ours}], tolerate=["Client not found"])
        assert not answer.get("error")
    finally:
        dynsec.revoke(ours)
