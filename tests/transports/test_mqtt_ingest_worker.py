"""The ingest worker against real brokers and the real ingest pipeline.

Acknowledge-after-commit is shown from the outside: with the database down nothing is
acknowledged, so the broker hands every message to the next worker of the same name;
a worker killed with SIGKILL mid-stream and started again loses nothing and stores
nothing twice; a payload that can never be decoded is acknowledged and not seen again.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leitstand.config import Settings
from leitstand.db.engine import make_engine
from leitstand.db.models import make_session_factory
from leitstand.ingest.message import CommandRequest, MessageKind
from leitstand.ingest.pipeline import RejectReason
from leitstand.state.models import IngestRejection
from leitstand.telemetry.models import TelemetryPoint
from leitstand.tenancy.scope import system_session
from leitstand.transports.native import codec, topics
from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin
from leitstand.transports.mqtt.embedded import EmbeddedBroker
from leitstand.transports.mqtt.worker import BatchDone, CommandPublisher, IngestWorker
from tests.conftest import free_port
from tests.helpers.ingest import bare_ingestor
from tests.transports.mqtt_support import WAIT, DeviceLogin, Mosquitto, MqttProbe, add_device

REPO = Path(__file__).resolve().parents[2]
ProbeFactory = Callable[..., MqttProbe]


def telemetry_json(at: datetime, cycles: int) -> bytes:
    return codec._dump({"ts": codec.format_time(at), "values": {"cycles": cycles}})


def stored_cycles(session_factory: Any, device: DeviceLogin) -> list[tuple[datetime, float]]:
    with system_session(session_factory, reason="test check") as db:
        rows = db.execute(select(TelemetryPoint.ts, TelemetryPoint.num)
                          .where(TelemetryPoint.device_id == device.device.id, TelemetryPoint.key == "cycles")
                          .order_by(TelemetryPoint.ts)).all()
    return [(ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts, num) for ts, num in rows]


class Batches:
    """Collects what workers report, so tests wait for events."""

    def __init__(self) -> None:
        self.done: queue.Queue[BatchDone] = queue.Queue()
        self.errors: queue.Queue[BaseException] = queue.Queue()

    def wait_for_messages(self, count: int) -> list[BatchDone]:
        seen: list[BatchDone] = []
        while sum(len(b.messages) + b.undecodable for b in seen) < count:
            seen.append(self.done.get(timeout=WAIT))
        return seen


@pytest.fixture
def worker_factory() -> Iterator[Callable[..., tuple[IngestWorker, Batches]]]:
    running: list[IngestWorker] = []

    def start(settings: Settings, ingestor: Any, name: str | None = None, **kwargs: Any) -> tuple[IngestWorker, Batches]:
        batches = Batches()
        worker = IngestWorker(settings, ingestor, name=name or f"t-{uuid.uuid4().hex[:8]}", batch_ms=10,
                              on_batch=batches.done.put, on_error=batches.errors.put, **kwargs)
        worker.start()
        running.append(worker)
        return worker, batches

    yield start
    for worker in running:
        if worker.subscribed.is_set() or worker._batcher is not None:
            worker.stop(retire=True)


def mosquitto_device(system_db: Any, dynsec: MosquittoDeviceAdmin) -> DeviceLogin:
    device = add_device(system_db)
    dynsec.provision(device.serial, device.secret)
    return device


def connect_device(mosquitto: Mosquitto, mqtt_probe: ProbeFactory, device: DeviceLogin) -> MqttProbe:
    probe = mqtt_probe(mosquitto.tls_port, device.serial, device.secret, tls_ca=mosquitto.pki.ca_file)
    assert not probe.connect().is_failure
    return probe


def test_worker_stores_then_acknowledges(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings,
                                         session_factory: Any, system_db: Any, mqtt_probe: ProbeFactory,
                                         worker_factory: Any) -> None:
    device = mosquitto_device(system_db, dynsec)
    committed_at_ack: list[int] = []
    worker, batches = worker_factory(mosquitto.settings(settings), bare_ingestor(session_factory))
    worker.on_batch = lambda done: (committed_at_ack.append(len(stored_cycles(session_factory, device))),
                                    batches.done.put(done))
    probe = connect_device(mosquitto, mqtt_probe, device)

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    for i in range(20):
        assert not probe.publish(topics.uplink(device.serial, "telemetry"), telemetry_json(start + timedelta(seconds=i), i)).is_failure
    batches.wait_for_messages(20)

    assert stored_cycles(session_factory, device) == [(start + timedelta(seconds=i), float(i)) for i in range(20)]
    # Each batch was visible to another session (committed) by the time it was acknowledged.
    assert committed_at_ack == sorted(committed_at_ack) and committed_at_ack[-1] == 20
    assert worker.stats.acknowledged == 20 and worker.stats.failed_attempts == 0


def test_nothing_is_acknowledged_while_the_database_is_down(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                            settings: Settings, session_factory: Any, system_db: Any,
                                                            mqtt_probe: ProbeFactory, worker_factory: Any) -> None:
    device = mosquitto_device(system_db, dynsec)
    name = f"t-down-{uuid.uuid4().hex[:6]}"
    unreachable = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/leitstand")
    broken, broken_batches = worker_factory(mosquitto.settings(settings), bare_ingestor(make_session_factory(unreachable)),
                                            name=name)
    probe = connect_device(mosquitto, mqtt_probe, device)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    for i in range(5):
        probe.publish(topics.uplink(device.serial, "telemetry"), telemetry_json(start + timedelta(seconds=i), i))

    broken_batches.errors.get(timeout=WAIT)  # the worker has the messages and cannot store them
    broken.stop()
    assert broken.stats.acknowledged == 0 and stored_cycles(session_factory, device) == []

    # The same worker, with the database back: the broker redelivers what was never acknowledged.
    _, batches = worker_factory(mosquitto.settings(settings), bare_ingestor(session_factory), name=name)
    batches.wait_for_messages(5)
    assert stored_cycles(session_factory, device) == [(start + timedelta(seconds=i), float(i)) for i in range(5)]
    unreachable.dispose()


def test_undecodable_payloads_are_counted_and_acknowledged(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                           settings: Settings, session_factory: Any, system_db: Any,
                                                           mqtt_probe: ProbeFactory, worker_factory: Any) -> None:
    device = mosquitto_device(system_db, dynsec)
    name = f"t-bad-{uuid.uuid4().hex[:6]}"
    worker, batches = worker_factory(mosquitto.settings(settings), bare_ingestor(session_factory), name=name)
    probe = connect_device(mosquitto, mqtt_probe, device)
    probe.publish(topics.uplink(device.serial, "telemetry"), b'{"values": {"cycles": NaN}}')
    (done,) = batches.wait_for_messages(1)
    assert done.undecodable == 1 and done.acknowledged == 1
    with system_session(session_factory, reason="test check") as db:
        rejection = db.get(IngestRejection, (device.device.id, RejectReason.malformed))
        assert rejection is not None and rejection.count == 1
    worker.stop()

    # Restarted: the bad payload does not come back; the first thing is the marker.
    _, batches = worker_factory(mosquitto.settings(settings), bare_ingestor(session_factory), name=name)
    probe.publish(topics.uplink(device.serial, "heartbeat"), b"")
    (done,) = batches.wait_for_messages(1)
    assert done.undecodable == 0 and [m.kind for m in done.messages] == [MessageKind.heartbeat]


def test_commands_reach_the_device(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings,
                                   session_factory: Any, system_db: Any, mqtt_probe: ProbeFactory,
                                   worker_factory: Any) -> None:
    device = mosquitto_device(system_db, dynsec)
    worker, _ = worker_factory(mosquitto.settings(settings), bare_ingestor(session_factory))
    probe = connect_device(mosquitto, mqtt_probe, device)
    assert not probe.subscribe(topics.command_subscription(device.serial)).is_failure

    request = CommandRequest(serial=device.serial, command_id="cmd0001", name="open", parameters={"hold_open_s": 5},
                             expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    worker.publish_command(request)
    message = probe.next_message()
    assert codec.decode_command(message.topic, message.payload) == request

    # An API process without an ingest worker sends through a CommandPublisher.
    publisher = CommandPublisher(mosquitto.settings(settings))
    publisher.start()
    try:
        second = CommandRequest(serial=device.serial, command_id="cmd0002", name="close", parameters={},
                                expires_at=datetime(2030, 1, 1, tzinfo=UTC))
        publisher.publish_command(second)
        message = probe.next_message()
        assert codec.decode_command(message.topic, message.payload) == second
    finally:
        publisher.stop()


def test_retained_uplinks_are_not_replayed_into_ingest(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin,
                                                       settings: Settings, session_factory: Any, system_db: Any,
                                                       mqtt_probe: ProbeFactory, worker_factory: Any) -> None:
    device = mosquitto_device(system_db, dynsec)
    probe = connect_device(mosquitto, mqtt_probe, device)
    heartbeat = topics.uplink(device.serial, "heartbeat")
    probe.client.publish(heartbeat, b"", qos=1, retain=True)  # an empty retained payload stores nothing
    probe.client.publish(heartbeat, b'{"ts": 0}', qos=1, retain=True).wait_for_publish(WAIT)
    try:
        # A new worker's subscription makes the broker replay the retained message first.
        worker, batches = worker_factory(mosquitto.settings(settings), bare_ingestor(session_factory))
        probe.publish(heartbeat, b"")
        seen = batches.wait_for_messages(1)
        assert [m.sent_at for done in seen for m in done.messages] == [None]  # only the live heartbeat
        assert worker.stats.replayed == 1
    finally:
        probe.client.publish(heartbeat, b"", qos=1, retain=True).wait_for_publish(WAIT)


def test_two_workers_share_the_stream(mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings,
                                      session_factory: Any, system_db: Any, mqtt_probe: ProbeFactory,
                                      worker_factory: Any) -> None:
    device = mosquitto_device(system_db, dynsec)
    shared = mosquitto.settings(settings, mqtt_shared_group=f"g{uuid.uuid4().hex[:6]}")
    first, first_batches = worker_factory(shared, bare_ingestor(session_factory))
    second, second_batches = worker_factory(shared, bare_ingestor(session_factory))
    assert first.subscription.startswith("$share/")
    probe = connect_device(mosquitto, mqtt_probe, device)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for i in range(100):
        probe.publish(topics.uplink(device.serial, "telemetry"), telemetry_json(start + timedelta(seconds=i), i))

    received = 0
    while received < 100:
        for batches in (first_batches, second_batches):
            try:
                received += len(batches.done.get(timeout=0.05).messages)
            except queue.Empty:
                pass
    assert first.stats.accepted > 0 and second.stats.accepted > 0
    assert first.stats.accepted + second.stats.accepted == 100
    assert len(stored_cycles(session_factory, device)) == 100


def test_worker_on_the_embedded_broker(embedded_broker: EmbeddedBroker, embedded_settings: Settings,
                                       session_factory: Any, system_db: Any, mqtt_probe: ProbeFactory,
                                       worker_factory: Any) -> None:
    device = add_device(system_db)
    worker, batches = worker_factory(embedded_settings, bare_ingestor(session_factory))
    assert not worker.mqtt5
    probe = mqtt_probe(embedded_broker.port, device.serial, device.secret, mqtt5=False)
    assert not probe.connect().is_failure
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    for i in range(10):
        probe.publish(topics.uplink(device.serial, "telemetry"), telemetry_json(start + timedelta(seconds=i), i))
    batches.wait_for_messages(10)
    assert stored_cycles(session_factory, device) == [(start + timedelta(seconds=i), float(i)) for i in range(10)]

    request = CommandRequest(serial=device.serial, command_id="emb0001", name="close", parameters={},
                             expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert not probe.subscribe(topics.command_subscription(device.serial)).is_failure
    worker.publish_command(request)
    message = probe.next_message()
    assert codec.decode_command(message.topic, message.payload) == request


def test_publishes_on_off_scheme_topics_are_counted_on_their_device(
        embedded_broker: EmbeddedBroker, embedded_settings: Settings, session_factory: Any, system_db: Any,
        mqtt_probe: ProbeFactory, worker_factory: Any) -> None:
    """Each topic below the device's own ls/v1/{serial}/up, which the ACL lets it publish to
    and the scheme does not know, is refused and counted on that device, not lost in the log."""
    device = add_device(system_db)
    ingestor = bare_ingestor(session_factory)
    _, batches = worker_factory(embedded_settings, ingestor)
    probe = mqtt_probe(embedded_broker.port, device.serial, device.secret, mqtt5=False)
    assert not probe.connect().is_failure
    off_scheme = [f"ls/v1/{device.serial}/up/teleportation", f"ls/v1/{device.serial}/up",
                  f"ls/v1/{device.serial}/up/telemetry/extra", f"ls/v1/{device.serial}/up/commands"]
    for topic in off_scheme:
        assert not probe.publish(topic, b'{"values": {"cycles": 1}}').is_failure
    # A serial no device has: nothing to count it on, so only the process totals count it.
    service = mqtt_probe(embedded_broker.port, embedded_settings.mqtt_service_username,
                         embedded_settings.mqtt_service_password, mqtt5=False)
    assert not service.connect().is_failure
    assert not service.publish("ls/v1/NO-SUCH-DEVICE/up/teleportation", b"{}").is_failure
    batches.wait_for_messages(len(off_scheme) + 1)

    with system_session(session_factory, reason="test check") as db:
        rows = db.scalars(select(IngestRejection)).all()
        assert [(row.device_id, row.reason, row.count) for row in rows] == [
            (device.device.id, RejectReason.malformed, len(off_scheme))]
        assert "commands" in rows[0].last_detail
    assert ingestor.totals.rejected[RejectReason.malformed] == len(off_scheme) + 1


# --- durability: SIGKILL mid-stream ------------------------------------------------------------


def start_worker_process(settings: Settings, name: str, log_file: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "LEITSTAND_DATABASE_URL": settings.effective_database_url,
           "LEITSTAND_DATA_DIR": str(settings.data_dir), "LEITSTAND_MQTT_BROKER": settings.mqtt_broker,
           "LEITSTAND_MQTT_HOST": settings.mqtt_host, "LEITSTAND_MQTT_PORT": str(settings.mqtt_port),
           "LEITSTAND_MQTT_SERVICE_USERNAME": settings.mqtt_service_username,
           "LEITSTAND_MQTT_SERVICE_PASSWORD": settings.mqtt_service_password,
           "PYTHONPATH": str(REPO)}
    env.pop("LEITSTAND_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "leitstand.worker", "--name", name, "--batch-messages", "25",
         "--batch-ms", "5"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log_file.open("a"), text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until "ready …" or the process ends
    assert line.startswith("ready"), f"worker did not start: {line!r}\n{log_file.read_text()[-3000:]}"
    return process


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition on another process's work (a database row count)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.slow
def test_worker_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
        mosquitto: Mosquitto, dynsec: MosquittoDeviceAdmin, settings: Settings, session_factory: Any, system_db: Any,
        mqtt_probe: ProbeFactory, tmp_path: Path) -> None:
    device = mosquitto_device(system_db, dynsec)
    worker_settings = mosquitto.settings(settings)
    name = f"t-kill-{uuid.uuid4().hex[:6]}"
    total = 600
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    probe = connect_device(mosquitto, mqtt_probe, device)

    def count() -> int:
        with system_session(session_factory, reason="test check") as db:
            return db.scalar(select(func.count()).select_from(TelemetryPoint)
                             .where(TelemetryPoint.device_id == device.device.id)) or 0

    process = start_worker_process(worker_settings, name, tmp_path / "worker.log")
    acknowledged_by_broker = threading.Event()

    def publish_all() -> None:
        infos = [probe.client.publish(topics.uplink(device.serial, "telemetry"),
                                      telemetry_json(start + timedelta(seconds=i), i), qos=1) for i in range(total)]
        for info in infos:
            info.wait_for_publish(60)
        acknowledged_by_broker.set()

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    try:
        wait_until(lambda: count() >= total // 4, 60, "the first quarter to be stored")
        process.send_signal(signal.SIGKILL)  # mid-stream: batches in hand, committed and not
        process.wait(WAIT)
        killed_at = count()
        assert killed_at < total, "the worker finished before it could be killed; raise `total`"
        publisher.join(120)
        assert acknowledged_by_broker.is_set()  # the broker accepted every message

        process = start_worker_process(worker_settings, name, tmp_path / "worker.log")
        wait_until(lambda: count() >= total, 120, "every message to be stored")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(WAIT)
        publisher.join(WAIT)
        # End the worker's broker session, which would otherwise queue every later uplink.
        mqtt_probe(mosquitto.plain_port, mosquitto.service_user, mosquitto.service_password,
                   client_id=f"leitstand-{name}").connect()

    rows = stored_cycles(session_factory, device)
    assert rows == [(start + timedelta(seconds=i), float(i)) for i in range(total)]
    with system_session(session_factory, reason="test check") as db:
        assert db.scalar(select(func.count()).select_from(IngestRejection)
                         .where(IngestRejection.device_id == device.device.id)) == 0
