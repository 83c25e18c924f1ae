"""Ingest as the processes production runs: the standalone worker notifies the alarms it
raises, and an ingest worker's name belongs to one process of an installation at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from leitstand.auth.secrets import SecretBox
from leitstand.bootstrap import root_tenant
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.ingest.message import DeviceMessage, MessageKind
from leitstand.notifications.models import RoutingRule, Webhook
from leitstand.runtime import start
from leitstand.transports.native import codec, topics
from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin
from tests.notifications.local_http import Answer, LocalHttpServer
from tests.transports.mqtt_support import WAIT, Mosquitto, MqttProbe
from tests.transports.test_mqtt_ingest_worker import (
    REPO,
    connect_device,
    mosquitto_device,
    start_worker_process,
    stored_cycles,
    telemetry_json,
)

ProbeFactory = Callable[..., MqttProbe]


class WebhookInbox:
    """An integration's endpoint on 127.0.0.1 that keeps every JSON body it receives."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self._http = LocalHttpServer(self._handle)
        self.url = f"{self._http.origin}/hooks/ops"

    def _handle(self, _method: str, _path: str, _headers: Mapping[str, str], body: bytes) -> Answer:
        self.bodies.append(json.loads(body))
        self.arrived.set()
        return Answer(200)


@pytest.fixture
def inbox() -> Iterator[WebhookInbox]:
    receiver = WebhookInbox()
    receiver._http.start()
    yield receiver
    receiver._http.stop()


def end_session(mosquitto: Mosquitto, mqtt_probe: ProbeFactory, client_id: str) -> None:
    """A clean start under the worker's client id drops its session, which would queue every later uplink."""
    mqtt_probe(mosquitto.plain_port, mosquitto.service_user, mosquitto.service_password, client_id=client_id).connect()


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(WAIT)


def test_the_standalone_worker_notifies_the_alarms_it_raises(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings, system_db: Any,
        mqtt_probe: ProbeFactory, inbox: WebhookInbox, tmp_path: Path) -> None:
    device = mosquitto_device(system_db, dynsec)
    root = root_tenant(system_db)
    assert root is not None
    hook = Webhook(tenant_id=root.id, name="Ops", url=inbox.url,
                   secret_encrypted=SecretBox(settings.resolved_secret_key()).seal(b"whsec-ops"))
    system_db.add(hook)
    system_db.flush()
    system_db.add(RoutingRule(tenant_id=root.id, name="every alarm to ops", channels=["webhook"],
                              webhook_ids=[hook.id]))
    system_db.commit()
    # The installation's key, kept in its data dir as `leitstand init` leaves it: the worker
    # decrypts the webhook's signing secret with it.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "secret.key").write_text(settings.resolved_secret_key())
    name = f"t-notify-{uuid.uuid4().hex[:6]}"
    worker = start_worker_process(mosquitto.settings(settings), name, tmp_path / "worker.log")
    try:
        probe = connect_device(mosquitto, mqtt_probe, device)
        now = clock.now()
        fault = DeviceMessage(serial=device.serial, kind=MessageKind.event, received_at=now, sent_at=now,
                              event_code="E01")
        assert not probe.publish(*codec.encode_uplink(fault)).is_failure

        assert inbox.arrived.wait(20), "no notification from the standalone worker:\n" + \
            (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop_process(worker)
        end_session(mosquitto, mqtt_probe, f"leitstand-{name}")
    assert device.serial in json.dumps(inbox.bodies[0])


def test_an_ingest_name_runs_in_one_process_and_a_second_stops_with_a_clear_error(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings, session_factory: Any,
        system_db: Any, mqtt_probe: ProbeFactory, tmp_path: Path) -> None:
    device = mosquitto_device(system_db, dynsec)
    name = f"t-clash-{uuid.uuid4().hex[:6]}"
    running_settings = mosquitto.settings(settings, port=0)
    process, _ = start(running_settings, "ingest", name=name)
    try:
        assert process.ingest_worker.client_id == f"leitstand-{name}"
        env = {**os.environ, "LEITSTAND_DATABASE_URL": settings.effective_database_url,
               "LEITSTAND_DATA_DIR": str(settings.data_dir), "LEITSTAND_SECRET_KEY": "test-installation-secret",
               "LEITSTAND_MQTT_BROKER": "mosquitto", "LEITSTAND_MQTT_HOST": "127.0.0.1",
               "LEITSTAND_MQTT_PORT": str(mosquitto.plain_port),
               "LEITSTAND_MQTT_SERVICE_USERNAME": mosquitto.service_user,
               "LEITSTAND_MQTT_SERVICE_PASSWORD": mosquitto.service_password,
               "LEITSTAND_CONFIG": "", "PYTHONPATH": str(REPO), "COLUMNS": "300"}
        second_ways = [
            [sys.executable, "-m", "leitstand.cli", "serve", "--role", "ingest", "--name", name],
            [sys.executable, "-m", "leitstand.worker", "--name", name],
        ]
        seconds = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True) for command in second_ways]
        outputs = []
        for second in seconds:
            try:
                outputs.append(second.communicate(timeout=60)[0])
            finally:
                stop_process(second)

        for second, output in zip(seconds, outputs, strict=True):
            assert second.returncode == 1, output[-3000:]
            flat = " ".join(output.split())  # rich wraps long lines
            assert f"another process of this installation runs an ingest worker named '{name}'" in flat, flat[-3000:]
        # The first process kept its session: it was never kicked off, and still stores.
        assert process.ingest_worker.subscribed.is_set()
        probe = connect_device(mosquitto, mqtt_probe, device)
        at = clock.now().replace(microsecond=0)
        probe.publish(topics.uplink(device.serial, "telemetry"), telemetry_json(at, 7))
        wait_for_points(session_factory, device, 1)
    finally:
        process.stop()
        end_session(mosquitto, mqtt_probe, f"leitstand-{name}")
    # Stopped, the name is free again.
    process, _ = start(running_settings, "ingest", name=name)
    process.stop()
    end_session(mosquitto, mqtt_probe, f"leitstand-{name}")


def wait_for_points(session_factory: Any, device: Any, count: int) -> None:
    from tests.transports.test_mqtt_ingest_worker import wait_until

    wait_until(lambda: len(stored_cycles(session_factory, device)) >= count, WAIT, f"{count} stored point(s)")
