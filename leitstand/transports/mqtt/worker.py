"""The MQTT ingest worker: from the broker to `Ingestor.accept()`, acknowledged after commit.

The worker logs in as Leitstand's service user with a fixed client id
(`leitstand-{name}`) and a persistent session, and subscribes with QoS 1 to every
uplink (`ls/v1/+/up/#`, or `$share/{group}/ls/v1/+/up/#` when a shared-subscription
group is configured, so several workers split the stream).

Acknowledge after commit: acknowledgements are manual. Messages are collected for up
to `batch_ms` milliseconds or `batch_messages` messages, decoded, handed to
`Ingestor.accept()` in one call, and only after it has returned (committed) is a
PUBACK sent for every message of the batch, in the order they arrived. A payload that
cannot be decoded is counted with `Ingestor.reject()` and acknowledged too: it can
never succeed. If the database fails, nothing is acknowledged; the worker retries the
batch with back-off, and if it dies meanwhile the broker redelivers every unacknowledged
message when the worker's session reconnects. A message committed but not yet
acknowledged when the worker dies comes again; ingest stores it idempotently.

Acknowledgements belong to one connection: after a reconnect the broker resends what
was unacknowledged under new packet ids, so messages from the previous connection are
never acknowledged on the new one.

Retained messages the broker replays because the worker subscribed are acknowledged
and skipped: they are old news, and would make an offline device look alive.

`IngestWorker.publish_command()` sends a command request to a device (QoS 1) over the
worker's connection; `CommandPublisher` does the same for a process without a worker.
Run as a process: `python -m leitstand.transports.mqtt.worker --name ingest-1`.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import ssl
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.ingest.message import CommandRequest, DeviceMessage
from leitstand.transports.mqtt import codec, topics

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 24 * 3600  # how long the broker keeps a worker's queue while it is away
MAX_BACKOFF_SECONDS = 10.0


class Ingest(Protocol):
    """What the worker needs of `leitstand.ingest.pipeline.Ingestor`."""

    def accept(self, messages: Sequence[DeviceMessage]) -> Any: ...

    def reject(self, serial: str | None, reason: str, detail: str) -> None: ...


@dataclass(slots=True)
class Delivery:
    """One received PUBLISH, remembered until it is acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int  # which connection it came on; acks are only valid there
    received_at: datetime
    replayed: bool  # a retained message replayed on subscribing, not something the device just said


@dataclass
class WorkerStats:
    received: int = 0
    accepted: int = 0  # handed to Ingestor.accept() and committed
    undecodable: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    replayed: int = 0  # retained messages skipped
    batches: int = 0
    failed_attempts: int = 0


@dataclass(frozen=True)
class BatchDone:
    """Told to `on_batch` after a batch was committed and acknowledged."""

    messages: tuple[DeviceMessage, ...]
    undecodable: int
    acknowledged: int


class CommandNotSent(RuntimeError):
    """The broker did not take a command request in time."""


class IngestWorker:
    def __init__(
        self,
        settings: Settings,
        ingestor: Ingest,
        *,
        name: str = "ingest-1",
        batch_messages: int = 500,
        batch_ms: int = 50,
        on_batch: Callable[[BatchDone], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if not topics.is_topic_level(name, max_length=40):
            raise ValueError(f"worker name {name!r} must be one topic level")
        self.settings = settings
        self.ingestor = ingestor
        self.client_id = f"leitstand-{name}"
        self.batch_messages = batch_messages
        self.batch_seconds = batch_ms / 1000
        self.on_batch = on_batch  # after a batch was committed and acknowledged
        self.on_error = on_error  # after an attempt to store a batch failed (nothing acknowledged)
        self.stats = WorkerStats()
        self.subscribed = threading.Event()  # set while the uplink subscription is in place

        group = settings.mqtt_shared_group
        if group and settings.mqtt_broker == "embedded":
            log.warning("the embedded broker has no shared subscriptions; ignoring mqtt_shared_group=%r", group)
            group = ""
        self.subscription = topics.ingest_subscription(group)
        self.mqtt5 = settings.mqtt_broker != "embedded"  # amqtt speaks MQTT 3.1.1 only

        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._stopping = threading.Event()
        self._connection = 0
        self._connection_lock = threading.Lock()
        self._batcher: threading.Thread | None = None
        self._client = self._make_client()

    # --- connection -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        settings = self.settings
        if self.mqtt5:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                                 manual_ack=True)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311,
                                 clean_session=False, manual_ack=True)
        client.username_pw_set(settings.mqtt_service_username, settings.resolved_mqtt_service_password())
        if settings.mqtt_tls_ca_file:
            client.tls_set(ca_certs=settings.mqtt_tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(min_delay=1, max_delay=int(MAX_BACKOFF_SECONDS))
        # Our own outgoing QoS 1 window (commands); unlimited queueing while disconnected.
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties | None:
        if not self.mqtt5:
            return None
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        # How many unacknowledged messages the broker may have in flight to us. Batches
        # are acknowledged as a whole, so this must exceed a batch (Mosquitto's default is 20).
        properties.ReceiveMaximum = min(65535, max(100, 2 * self.batch_messages))
        return properties

    def start(self, wait: float | None = 10.0) -> None:
        """Connect and start batching. With `wait`, return once the subscription is granted."""
        self._stopping.clear()
        self._batcher = threading.Thread(target=self._batch_loop, name=f"{self.client_id}-batcher", daemon=True)
        self._batcher.start()
        kwargs: dict[str, Any] = {"properties": self._connect_properties()}
        if self.mqtt5:
            kwargs["clean_start"] = False
        self._client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30, **kwargs)
        self._client.loop_start()
        if wait is not None and not self.subscribed.wait(wait):
            self.stop()
            raise TimeoutError(f"{self.client_id}: no subscription to {self.subscription} within {wait} s")

    def stop(self, timeout: float = 30.0, *, retire: bool = False) -> None:
        """Finish the batch in hand, then disconnect. Messages not yet committed stay
        unacknowledged in the broker's session for the next start under the same name.

        retire: end the broker session too (MQTT 5), for a worker that will not come back;
        whatever the broker still holds for it is then dropped, so drain it first.
        """
        self._stopping.set()
        if self._batcher is not None:
            self._batcher.join(timeout)
            self._batcher = None
        properties = None
        if retire and self.mqtt5:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self._client.disconnect(properties=properties)
        self._client.loop_stop()
        self.subscribed.clear()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("%s: broker refused the connection: %s", self.client_id, reason)
            return
        with self._connection_lock:
            self._connection += 1
        log.info("%s connected (session present: %s)", self.client_id, flags.session_present)
        # Subscribing again on a kept session is harmless and covers a lost one.
        client.subscribe(self.subscription, qos=1)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        with self._connection_lock:
            self._connection += 1  # whatever is in hand can no longer be acknowledged
        self.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("%s disconnected: %s", self.client_id, reason)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("%s: subscription to %s refused: %s", self.client_id, self.subscription, reasons)
            return
        self.subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        # A live message arrives with the retain flag cleared; a set flag means the broker
        # replays a stored retained message because we subscribed. Replaying it would make
        # an offline device look alive, so it is acknowledged and skipped.
        self._inbox.put(Delivery(message.topic, message.payload, message.mid, message.qos, self._connection,
                                 clock.now(), bool(message.retain)))

    # --- batches --------------------------------------------------------------------

    def _batch_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_seconds
            while len(batch) < self.batch_messages:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._inbox.get(timeout=remaining))
                except queue.Empty:
                    break
            try:
                self._process(batch)
            except Exception:  # keep the worker alive; the batch stays unacknowledged
                log.exception("%s: batch processing failed", self.client_id)

    def _process(self, batch: list[Delivery]) -> None:
        self.stats.received += len(batch)
        messages: list[DeviceMessage] = []
        refusals: list[tuple[str | None, str, str]] = []
        for delivery in batch:
            if delivery.replayed:
                self.stats.replayed += 1
                continue
            try:
                messages.append(codec.decode(delivery.topic, delivery.payload, delivery.received_at))
            except codec.DecodeError as error:
                refusals.append((error.serial, error.reason, error.detail))
                self.stats.undecodable[error.reason] += 1

        accepted = False
        counted = 0
        delay = 0.5
        while True:
            try:
                if not accepted:
                    self.ingestor.accept(messages)
                    accepted = True
                while counted < len(refusals):
                    self.ingestor.reject(*refusals[counted])
                    counted += 1
                break
            except Exception as error:
                self.stats.failed_attempts += 1
                log.exception("%s: ingest of %d messages failed; nothing acknowledged, retrying in %.1f s",
                              self.client_id, len(batch), delay)
                if self.on_error is not None:
                    self.on_error(error)
                if not accepted and not self._current(batch):
                    return  # the broker already resends them on the new connection
                if self._stopping.wait(delay):
                    return  # stopping: leave them unacknowledged for the broker to redeliver
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

        self.stats.accepted += len(messages)
        self.stats.batches += 1
        acknowledged = self._acknowledge(batch)
        if self.on_batch is not None:
            self.on_batch(BatchDone(tuple(messages), len(refusals), acknowledged))

    def _current(self, batch: list[Delivery]) -> bool:
        return any(delivery.connection == self._connection for delivery in batch)

    def _acknowledge(self, batch: list[Delivery]) -> int:
        sent = 0
        # Held so a reconnect cannot slip between the connection check and the PUBACK.
        with self._connection_lock:
            for delivery in batch:
                if delivery.connection == self._connection and delivery.qos > 0:
                    self._client.ack(delivery.mid, delivery.qos)
                    sent += 1
        self.stats.acknowledged += sent
        return sent

    # --- commands -------------------------------------------------------------------

    def publish_command(self, request: CommandRequest, timeout: float = 5.0) -> None:
        """Publish a command request (QoS 1); returns once the broker has acknowledged it.
        Not to be called from a paho callback."""
        _publish_command(self._client, request, timeout)


def _publish_command(client: mqtt.Client, request: CommandRequest, timeout: float) -> None:
    topic, payload = codec.encode_command(request)
    info = client.publish(topic, payload, qos=1)
    try:
        info.wait_for_publish(timeout)
    except (ValueError, RuntimeError) as error:
        raise CommandNotSent(f"command {request.command_id} to {request.serial}: {error}") from error
    if not info.is_published():
        raise CommandNotSent(f"command {request.command_id} to {request.serial}: no acknowledgement in {timeout} s")


class CommandPublisher:
    """Sends command requests for a process that runs no ingest worker (an API worker).

    Logs in as the service user with a throw-away session (client id
    `leitstand-{name}-{random}`) and subscribes to nothing.
    """

    def __init__(self, settings: Settings, name: str = "commands") -> None:
        mqtt5 = settings.mqtt_broker != "embedded"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"leitstand-{name}-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311)
        self._client.username_pw_set(settings.mqtt_service_username, settings.resolved_mqtt_service_password())
        if settings.mqtt_tls_ca_file:
            self._client.tls_set(ca_certs=settings.mqtt_tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self._client.reconnect_delay_set(min_delay=1, max_delay=int(MAX_BACKOFF_SECONDS))
        self._connected = threading.Event()
        self._client.on_connect = lambda _c, _u, _f, reason, _p: (
            self._connected.set() if not reason.is_failure else log.error("command publisher refused: %s", reason))
        self._client.on_disconnect = lambda *_: self._connected.clear()
        self._host, self._port = settings.mqtt_host, settings.mqtt_port

    def start(self, wait: float | None = 10.0) -> None:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if wait is not None and not self._connected.wait(wait):
            self.stop()
            raise TimeoutError(f"command publisher: no connection to {self._host}:{self._port} within {wait} s")

    def publish_command(self, request: CommandRequest, timeout: float = 5.0) -> None:
        """Publish (QoS 1) and return once the broker has acknowledged; raises CommandNotSent."""
        _publish_command(self._client, request, timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- as a process ---------------------------------------------------------------------


def run_worker(settings: Settings, *, name: str = "ingest-1", batch_messages: int = 500, batch_ms: int = 50,
               stop: threading.Event | None = None) -> None:
    """Run one ingest worker until SIGTERM/SIGINT (or `stop` is set). Prints "ready" once subscribed."""
    from leitstand.db.engine import make_engine, make_session_factory
    from leitstand.ingest.pipeline import Ingestor

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    engine = make_engine(settings.effective_database_url)
    worker = IngestWorker(settings, Ingestor(make_session_factory(engine)), name=name,
                          batch_messages=batch_messages, batch_ms=batch_ms)
    worker.start(wait=None)
    try:
        while not stop.is_set() and not worker.subscribed.wait(0.2):
            pass
        if worker.subscribed.is_set():
            print(f"ready {worker.client_id} {worker.subscription}", flush=True)
        stop.wait()
    finally:
        worker.stop()
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Leitstand MQTT ingest worker (settings from LEITSTAND_* variables)")
    parser.add_argument("--name", default="ingest-1", help="fixed per worker: its MQTT client id is leitstand-NAME")
    parser.add_argument("--batch-messages", type=int, default=500)
    parser.add_argument("--batch-ms", type=int, default=50)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(Settings(), name=args.name, batch_messages=args.batch_messages, batch_ms=args.batch_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
