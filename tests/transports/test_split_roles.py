"""The production topology, roles split as the README runs them: an API process, two
ingest workers sharing the device stream through `$share`, and a scheduler, on
PostgreSQL and Mosquitto. A device's telemetry is stored once and reaches the API's live
stream; a command goes from the API to the device and its answer back to the API."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.devices.claiming import issue_credentials
from leitstand.ingest.message import CommandOutcome, DeviceMessage, MessageKind, Reading
from leitstand.runtime import Process, start
from leitstand.state.live import LiveHub, Subscription
from leitstand.telemetry.models import TelemetryPoint
from leitstand.tenancy.scope import system_session
from leitstand.transports.native import codec, topics
from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin
from tests.conftest import free_port
from tests.helpers.world import World
from tests.transports.mqtt_support import WAIT, Mosquitto, MqttProbe
from tests.transports.test_mqtt_ingest_worker import wait_until

ProbeFactory = Callable[..., MqttProbe]


class LiveStream:
    """What a browser's live stream of the API process sees: the hub's updates for some devices."""

    def __init__(self, hub: LiveHub, device_ids: set[int]) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def subscribe() -> Subscription:
            return hub.subscribe(device_ids)

        self.subscription = asyncio.run_coroutine_threadsafe(subscribe(), self.loop).result(WAIT)

    def next_matching(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                update = await self.subscription.queue.get()
                if predicate(update):
                    return update

        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(wait(), WAIT), self.loop).result(WAIT + 1)

    def close(self) -> None:
        self.hub.unsubscribe(self.subscription)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@pytest.fixture
def split_roles(mosquitto: Mosquitto, settings: Settings, backend: str,
                mqtt_probe: ProbeFactory) -> Iterator[dict[str, Process]]:
    if backend != "postgresql":
        pytest.skip("split roles reach each other's live updates through PostgreSQL NOTIFY")
    shared = mosquitto.settings(settings, mqtt_shared_group=f"split{uuid.uuid4().hex[:6]}")
    names = [f"split-{uuid.uuid4().hex[:6]}-{n}" for n in (1, 2)]
    processes: dict[str, Process] = {}
    try:
        processes["api"], _ = start(shared.model_copy(update={"port": free_port()}), "api")
        for name in names:
            processes[name], _ = start(shared, "ingest", name=name)
        processes["scheduler"], _ = start(shared, "scheduler")
        yield processes
    finally:
        for process in reversed(processes.values()):
            process.stop()
        for name in names:  # a clean start drops the workers' sessions, which would queue later uplinks
            mqtt_probe(mosquitto.plain_port, mosquitto.service_user, mosquitto.service_password,
                       client_id=f"leitstand-{name}").connect()


def test_a_message_in_and_a_command_out_through_split_roles(
        split_roles: dict[str, Process], mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, world: World,
        system_db: Any, session_factory: Any, mqtt_probe: ProbeFactory) -> None:
    api_app = split_roles["api"].app
    workers = [process.ingest_worker for name, process in split_roles.items() if name.startswith("split-")]
    assert all(worker.subscription.startswith("$share/") for worker in workers)
    barrier = world.alpha.barrier
    _credential, secret = issue_credentials(system_db, barrier)
    system_db.commit()
    dynsec.provision(barrier.serial_number, secret)
    live = LiveStream(api_app.state.live_hub, {barrier.id})
    device = mqtt_probe(mosquitto.tls_port, barrier.serial_number, secret, tls_ca=mosquitto.pki.ca_file)
    try:
        assert not device.connect().is_failure
        assert not device.subscribe(topics.command_subscription(barrier.serial_number)).is_failure

        # In: one telemetry message, stored once by one of the two workers, seen by the API process.
        at = clock.now().replace(microsecond=0)
        reading = DeviceMessage(serial=barrier.serial_number, kind=MessageKind.telemetry, received_at=at,
                                readings=(Reading("cycles", at, 4711),))
        assert not device.publish(*codec.encode_uplink(reading)).is_failure
        update = live.next_matching(lambda u: u["type"] == "device" and "cycles" in u.get("latest", {}))
        assert update["latest"]["cycles"]["value"] == 4711
        with system_session(session_factory, reason="test check") as db:
            assert db.scalar(select(func.count()).select_from(TelemetryPoint)
                             .where(TelemetryPoint.device_id == barrier.id)) == 1

        # Out: a command from the API process reaches the device; its answer reaches the API.
        api = TestClient(api_app, base_url="http://localhost:8000")
        headers = {"Authorization": f"Bearer {world.token_for('alpha_operator')}"}
        sent = api.post(f"/api/v1/devices/{barrier.id}/commands", json={"name": "open"}, headers=headers)
        assert sent.status_code == 201 and sent.json()["status"] == "sent", sent.text
        message = device.next_message()
        request = codec.decode_command(message.topic, message.payload)
        assert (request.name, request.command_id) == ("open", sent.json()["id"])
        result = DeviceMessage(serial=barrier.serial_number, kind=MessageKind.command_result, received_at=clock.now(),
                               command_id=request.command_id, command_outcome=CommandOutcome.succeeded)
        assert not device.publish(*codec.encode_uplink(result)).is_failure
        live.next_matching(lambda u: u["type"] == "command" and u["status"] == "confirmed")
        status = api.get(f"/api/v1/devices/{barrier.id}/commands/{request.command_id}", headers=headers)
        assert status.json()["status"] == "confirmed", status.text
        # Each of the two messages went to one worker only (without $share both would take both).
        wait_until(lambda: sum(worker.stats.accepted for worker in workers) >= 2, WAIT, "both messages counted")
        assert sum(worker.stats.accepted for worker in workers) == 2
    finally:
        live.close()
        dynsec.revoke(barrier.serial_number)
