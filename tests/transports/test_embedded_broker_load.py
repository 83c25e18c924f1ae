"""The embedded broker under load: 200 devices connect, publish with QoS 1, disconnect and
reconnect while 6 000 messages flow through it into the ingest worker and the database,
offered at up to 1 000 a second. Every publish a device saw acknowledged is stored, and the broker logs no
error on the way (amqtt used to lose messages to "dictionary changed size during
iteration" while clients came and went, and acknowledged messages it then dropped).

The devices run in a process of their own, so that paho's work does not compete with the
broker's for one interpreter lock."""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from leitstand.config import Settings
from leitstand.telemetry.models import TelemetryPoint
from leitstand.tenancy.scope import system_session
from leitstand.transports.native import codec, topics
from leitstand.transports.mqtt.embedded import EmbeddedBroker
from leitstand.transports.mqtt.worker import BatchDone, IngestWorker
from tests.helpers.ingest import bare_ingestor
from tests.transports.mqtt_support import WAIT, add_device

DEVICES = 200
RATE = 1000  # messages per second at most, offered by the whole fleet
MESSAGES_PER_DEVICE = 30
FLEET_TIMEOUT = 180.0  # a bound for a hung fleet, far above what a slow machine needs
SETTLE_SECONDS = 30.0  # upper bound for the worker to store what was acknowledged once the load stops


@dataclass
class SimulatedDevice:
    serial: str
    secret: str
    persistent: bool  # half the fleet keeps its session between connections, as the README advises
    sent: int = 0  # messages published, with cycles 0 … sent-1
    acknowledged: set[int] = field(default_factory=set)  # the cycles of those that got their PUBACK
    connections: int = 0
    failure: str = ""


# --- the fleet, in its own process ------------------------------------------------------------


def run_fleet(fleet: list[SimulatedDevice], port: int, first_ts: datetime, results: Any) -> None:
    """Run every device in a thread until each has sent its messages; send the fleet back with
    what happened. The load is a number of messages, not a time, so that a slow machine
    takes longer instead of testing less."""
    stop = threading.Event()
    threads = [threading.Thread(target=run_device, args=(device, port, first_ts, stop, seed), daemon=True)
               for seed, device in enumerate(fleet)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + FLEET_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    for device, thread in zip(fleet, threads, strict=True):
        thread.join(WAIT)
        if thread.is_alive():
            device.failure = "still running after the fleet's time was up"
    results.put(fleet)


def run_device(device: SimulatedDevice, port: int, first_ts: datetime, stop: threading.Event, seed: int) -> None:
    try:
        _come_and_go(device, port, first_ts, stop, random.Random(seed))
    except Exception as error:  # noqa: BLE001 - reported to the test
        device.failure = repr(error)


def _come_and_go(device: SimulatedDevice, port: int, first_ts: datetime, stop: threading.Event,
                 rng: random.Random) -> None:
    """Connect, publish a few messages at the device's share of RATE, disconnect (half the time
    without waiting for the last acknowledgements) and connect again, until all
    MESSAGES_PER_DEVICE are sent.
    paho runs in this thread (client.loop), so its callbacks do too."""
    interval = DEVICES / RATE
    due = time.monotonic() + rng.random() * interval
    while device.sent < MESSAGES_PER_DEVICE and not stop.is_set():
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device.serial, protocol=mqtt.MQTTv311,
                             clean_session=not device.persistent, reconnect_on_failure=False)
        client.username_pw_set(device.serial, device.secret)
        cycles_by_mid: dict[int, int] = {}
        client.on_publish = lambda _c, _u, mid, _r, _p: device.acknowledged.add(cycles_by_mid[mid])
        client.connect("127.0.0.1", port, keepalive=30)
        deadline = time.monotonic() + WAIT
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{device.serial} got no CONNACK")
            client.loop(0.05)
        device.connections += 1
        client.subscribe(topics.command_subscription(device.serial), qos=1)  # as real devices do on every connect
        for _ in range(rng.randint(2, 10)):
            while (wait := due - time.monotonic()) > 0:
                client.loop(wait)
            due += interval
            if stop.is_set() or device.sent >= MESSAGES_PER_DEVICE:
                break
            cycles = device.sent
            device.sent += 1
            body = {"ts": codec.format_time(first_ts + timedelta(seconds=cycles)), "values": {"cycles": cycles}}
            cycles_by_mid[client.publish(topics.uplink(device.serial, "telemetry"), codec._dump(body), qos=1).mid] = cycles
        if rng.random() < 0.5:  # let the outstanding acknowledgements arrive first
            deadline = time.monotonic() + WAIT
            while set(cycles_by_mid.values()) - device.acknowledged and time.monotonic() < deadline:
                client.loop(0.05)
        client.disconnect()


# --- the platform side ------------------------------------------------------------------------


class BrokerErrors(logging.Handler):
    """Every error the broker (amqtt, our integration) or its event loop (asyncio) logs.

    Except one: amqtt gives a subscriber 5 s to acknowledge a message and logs the timeout
    (a limit documented in embedded.py). Here that is the worker's commit taking longer on
    a machine busy with other work; the worker has the message, and whether it was stored
    is checked message by message."""

    LOGGERS = ("amqtt", "asyncio", "leitstand.transports.mqtt.embedded")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TimeoutError) and str(error).startswith("Timeout waiting for PUBACK"):
            return
        self.seen.append(f"{record.name}: {record.getMessage()}" + (f" ({error!r})" if error else ""))


@pytest.fixture
def broker_errors() -> Iterator[BrokerErrors]:
    handler = BrokerErrors()
    for name in BrokerErrors.LOGGERS:
        logging.getLogger(name).addHandler(handler)
    yield handler
    for name in BrokerErrors.LOGGERS:
        logging.getLogger(name).removeHandler(handler)


class Stored:
    """What the worker committed, as (serial, cycles), told through its on_batch report."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.changed = threading.Condition()

    def on_batch(self, done: BatchDone) -> None:
        with self.changed:
            self.seen.update((m.serial, int(r.value)) for m in done.messages for r in m.readings if r.key == "cycles")
            self.changed.notify_all()

    def missing(self, wanted: set[tuple[str, int]], timeout: float) -> set[tuple[str, int]]:
        """Wait until every wanted message was stored; return those that were not."""
        with self.changed:
            self.changed.wait_for(lambda: wanted <= self.seen, timeout)
            return wanted - self.seen


@pytest.mark.slow
def test_every_acknowledged_message_is_stored_while_devices_come_and_go(
        embedded_broker: EmbeddedBroker, embedded_settings: Settings, session_factory: Any, system_db: Any,
        broker_errors: BrokerErrors) -> None:
    logins = [add_device(system_db) for _ in range(DEVICES)]
    device_ids = {login.serial: login.device.id for login in logins}
    stored = Stored()
    worker = IngestWorker(embedded_settings, bare_ingestor(session_factory), name=f"t-load-{uuid.uuid4().hex[:6]}",
                          batch_ms=20, on_batch=stored.on_batch)
    worker.start()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    first_ts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    fleet = [SimulatedDevice(login.serial, login.secret, persistent=i % 2 == 1) for i, login in enumerate(logins)]
    devices = context.Process(target=run_fleet, args=(fleet, embedded_broker.port, first_ts, results))
    try:
        devices.start()
        fleet = results.get(timeout=FLEET_TIMEOUT + 4 * WAIT)
        devices.join(WAIT)
        acknowledged = {(device.serial, cycles) for device in fleet for cycles in device.acknowledged}
        missing = stored.missing(acknowledged, SETTLE_SECONDS)
    finally:
        if devices.is_alive():
            devices.kill()
        worker.stop(retire=True)

    assert [(device.serial, device.failure) for device in fleet if device.failure] == []
    assert all(device.sent == MESSAGES_PER_DEVICE for device in fleet)
    # Devices that leave without waiting lose some acknowledgements, never most of them.
    assert len(acknowledged) > DEVICES * MESSAGES_PER_DEVICE / 2
    assert sum(device.connections for device in fleet) > 3 * DEVICES  # the devices did come and go
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages were never stored"

    with system_session(session_factory, reason="test check") as db:
        rows = db.execute(select(TelemetryPoint.device_id, TelemetryPoint.num)
                          .where(TelemetryPoint.key == "cycles")).all()
    in_database: dict[int, set[int]] = defaultdict(set)
    for device_id, cycles in rows:
        in_database[device_id].add(int(cycles))
    for device in fleet:
        assert device.acknowledged <= in_database[device_ids[device.serial]] <= set(range(device.sent)), device.serial
    assert broker_errors.seen == []
