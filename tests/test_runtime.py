"""A whole process of role "all" on the embedded broker: a device's telemetry is stored, a
command travels to the device and its answer back. And live updates across processes."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from leitstand.clock import clock
from leitstand.devices.claiming import issue_credentials
from leitstand.ingest.message import CommandOutcome, DeviceMessage, MessageKind, Reading
from leitstand.runtime import start
from leitstand.state.live import LiveHub
from leitstand.transports.native import codec, topics
from tests.conftest import free_port
from tests.helpers.world import World

WAIT = 20


class Waiter:
    """A live-update listener that lets a test wait for one kind of update, without sleeping."""

    def __init__(self, predicate: Any) -> None:
        self.predicate = predicate
        self.seen = threading.Event()

    def __call__(self, tenant_id: int, update: dict[str, Any]) -> None:
        if self.predicate(update):
            self.seen.set()


@pytest.fixture
def process(settings, world: World):  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"mqtt_port": free_port(), "port": free_port()})
    running, app = start(settings, "all")
    yield settings, app
    running.stop()


def device_client(settings, serial: str, secret: str) -> mqtt.Client:  # type: ignore[no-untyped-def]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=serial, protocol=mqtt.MQTTv311)
    client.username_pw_set(serial, secret)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    assert connected.wait(WAIT)
    return client


def test_a_device_reports_and_obeys_through_a_full_process(process, world: World, system_db) -> None:
    settings, app = process
    barrier = world.alpha.barrier
    _credential, secret = issue_credentials(system_db, barrier)
    system_db.commit()
    stored = Waiter(lambda u: u["type"] == "device" and u["device_id"] == barrier.id and "cycles" in u["latest"])
    answered = Waiter(lambda u: u["type"] == "command" and u["status"] == "confirmed")
    app.state.ingestor.listeners += [stored, answered]

    device = device_client(settings, barrier.serial_number, secret)
    commands: list[Any] = []
    got_command = threading.Event()

    def on_command(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        commands.append(codec.decode_command(message.topic, message.payload))
        got_command.set()

    device.on_message = on_command
    subscribed = threading.Event()
    device.on_subscribe = lambda *_: subscribed.set()
    device.subscribe(topics.command_subscription(barrier.serial_number), qos=1)
    assert subscribed.wait(WAIT)
    try:
        reading = DeviceMessage(serial=barrier.serial_number, kind=MessageKind.telemetry, received_at=clock.now(),
                                readings=(Reading("cycles", clock.now(), 42),))
        device.publish(*codec.encode_uplink(reading), qos=1).wait_for_publish(WAIT)
        assert stored.seen.wait(WAIT)

        api = TestClient(app, base_url="http://localhost:8000")
        token = world.token_for("alpha_operator")
        sent = api.post(f"/api/v1/devices/{barrier.id}/commands", json={"name": "open"},
                        headers={"Authorization": f"Bearer {token}"})
        assert sent.status_code == 201 and sent.json()["status"] == "sent"
        assert got_command.wait(WAIT)
        assert commands[0].name == "open" and commands[0].command_id == sent.json()["id"]

        result = DeviceMessage(serial=barrier.serial_number, kind=MessageKind.command_result, received_at=clock.now(),
                               command_id=commands[0].command_id, command_outcome=CommandOutcome.succeeded)
        device.publish(*codec.encode_uplink(result), qos=1).wait_for_publish(WAIT)
        assert answered.seen.wait(WAIT)
        status = api.get(f"/api/v1/devices/{barrier.id}/commands/{sent.json()['id']}",
                         headers={"Authorization": f"Bearer {token}"}).json()["status"]
        assert status == "confirmed"
    finally:
        device.disconnect()
        device.loop_stop()


def test_live_updates_reach_every_api_process_through_postgresql(settings, backend, session_factory) -> None:
    if backend != "postgresql":
        pytest.skip("cross-process live updates travel through PostgreSQL NOTIFY")
    from leitstand.state.bridge import PgListener, PgNotifier, pack

    received: list[tuple[str, dict[str, Any]]] = []
    done = threading.Event()

    class RecordingHub(LiveHub):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def publish(self, tenant_id: int, update: dict[str, Any]) -> None:
            received.append((self.name, update))
            if len(received) == 2 * (1 + len(batch)):
                done.set()

    # An ingest batch's updates: more than one notification's worth (8000 bytes each).
    batch = [(2, {"type": "device", "device_id": n, "online": True, "latest": {"cycles": {"value": n}}})
             for n in range(400)]
    assert len(pack(batch)) > 1
    listeners = [PgListener(settings.effective_database_url, RecordingHub(name)) for name in ("api-1", "api-2")]
    for listener in listeners:
        listener.start()
    try:
        notifier = PgNotifier(session_factory.kw["bind"])
        notifier.publish(1, {"type": "device", "device_id": 7, "online": False})
        notifier.publish_many(batch)
        assert done.wait(WAIT)
    finally:
        for listener in listeners:
            listener.stop()
    for name in ("api-1", "api-2"):
        assert [update["device_id"] for hub, update in received if hub == name] == [7, *range(400)]


def test_the_embedded_broker_moves_off_a_taken_port_and_simulate_finds_it(settings, monkeypatch) -> None:
    import socket

    from leitstand.runtime import embedded_broker_settings, running_broker_settings
    from leitstand.transports.mqtt.transport import announce_embedded_broker

    monkeypatch.delenv("LEITSTAND_MQTT_PORT", raising=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        moved = embedded_broker_settings(settings.model_copy(update={"mqtt_port": taken}))
    assert moved.mqtt_port != taken

    announce_embedded_broker(moved)
    assert running_broker_settings(settings).mqtt_port == moved.mqtt_port

    monkeypatch.setenv("LEITSTAND_MQTT_PORT", str(taken))  # an explicit port is never moved
    assert embedded_broker_settings(settings.model_copy(update={"mqtt_port": taken})).mqtt_port == taken
