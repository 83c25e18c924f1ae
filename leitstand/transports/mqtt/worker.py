"""The MQTT ingest worker: from the broker to `Ingestor.accept()`, acknowledged after commit.

The worker logs in as Leitstand's service user with a fixed client id
(`leitstand-{name}`) and a persistent session, and subscribes with QoS 1 to every
uplink (`ls/v1/+/up/#`, or `$share/{group}/ls/v1/+/up/#` when a shared-subscription
group is configured, so several workers split the stream). Its connection is the lean
`UplinkStream` (stream.py), made for this one job; everything else uses paho.

Acknowledge after commit: messages are collected for up to `batch_ms` milliseconds or
`batch_messages` messages, decoded, handed to `Ingestor.accept()` in one call, and only
after it has returned (committed) is a PUBACK sent for every message of the batch, in
the order they arrived (one write for the whole batch). A payload that cannot be decoded
is counted with `Ingestor.reject()` and acknowledged too: it can never succeed. If the
database fails, nothing is acknowledged; the worker retries the batch with back-off,
and if it dies meanwhile the broker redelivers every unacknowledged message when the
worker's session reconnects. A message committed but not yet acknowledged when the
worker dies comes again; ingest stores it idempotently.

Acknowledgements belong to one connection: after a reconnect the broker resends what
was unacknowledged under new packet ids, so messages from the previous connection are
never acknowledged on the new one.

Retained messages the broker replays because the worker subscribed are acknowledged
and skipped: they are old news, and would make an offline device look alive.

`IngestWorker.publish_command()` sends a command request to a device (QoS 1) over the
worker's connection; `CommandPublisher` does the same for a process without a worker.
The process around a standalone worker is built by the composition root
(`python -m leitstand.worker --name ingest-1`, leitstand/worker.py), which hands the
worker its Ingest port: a transport does not know the start-up list.
"""

from __future__ import annotations

import gc
import logging
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.ingest.message import CommandRequest, DeviceMessage
from leitstand.transports.base import Ingest
from leitstand.transports.native import codec, topics
from leitstand.transports.mqtt.stream import Publish, StreamSettings, UplinkStream

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 24 * 3600  # how long the broker keeps a worker's queue while it is away
MAX_BACKOFF_SECONDS = 10.0
# The most messages one transaction takes. Under load a batch fills while the one before
# is stored; at 10 000 msg/s a cap of 500 left half of each batch's fixed cost (commit,
# live-state lock, alarm and notification round trips) on too few messages.
BATCH_MESSAGES = 1000


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
        batch_messages: int = BATCH_MESSAGES,
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

        # Received, not yet taken into a batch: (received at, PUBLISH), in arrival order.
        self._pending: list[tuple[datetime, Publish]] = []
        self._first_pending_at = 0.0  # monotonic time the oldest pending message arrived
        self._arrived = threading.Condition()
        self._stopping = threading.Event()
        self._batcher: threading.Thread | None = None
        self._stream = UplinkStream(
            StreamSettings(
                host=settings.mqtt_host, port=settings.mqtt_port, client_id=self.client_id,
                username=settings.mqtt_service_username, password=settings.resolved_mqtt_service_password(),
                subscription=self.subscription, mqtt5=self.mqtt5, keepalive=30,
                session_expiry=SESSION_EXPIRY_SECONDS,
                # Batches are acknowledged as a whole, so the broker's window must exceed a batch.
                receive_maximum=min(65535, max(100, 2 * batch_messages)),
                tls_ca_file=settings.mqtt_tls_ca_file or None, max_backoff=MAX_BACKOFF_SECONDS),
            on_messages=self._on_messages, on_subscribed=self.subscribed.set,
            on_disconnected=self._on_disconnected)

    # --- connection -----------------------------------------------------------------

    def start(self, wait: float | None = 10.0) -> None:
        """Connect and start batching. With `wait`, return once the subscription is granted."""
        self._stopping.clear()
        self._batcher = threading.Thread(target=self._batch_loop, name=f"{self.client_id}-batcher", daemon=True)
        self._batcher.start()
        self._stream.start()
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
        with self._arrived:
            self._arrived.notify_all()
        if self._batcher is not None:
            self._batcher.join(timeout)
            self._batcher = None
        self._stream.stop(end_session=retire and self.mqtt5)
        self.subscribed.clear()

    def _on_disconnected(self, reason: str) -> None:
        self.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("%s disconnected: %s", self.client_id, reason)

    def _on_messages(self, publishes: list[Publish]) -> None:
        received_at = clock.now()
        with self._arrived:
            if not self._pending:
                self._first_pending_at = time.monotonic()
            self._pending.extend([(received_at, publish) for publish in publishes])
            self._arrived.notify()

    # --- batches --------------------------------------------------------------------

    def _next_batch(self) -> list[tuple[datetime, Publish]]:
        """Wait for the first message, then up to `batch_ms` for a full batch."""
        with self._arrived:
            if not self._pending and not self._arrived.wait_for(
                    lambda: self._pending or self._stopping.is_set(), timeout=0.2):
                return []
            deadline = self._first_pending_at + self.batch_seconds
            while len(self._pending) < self.batch_messages and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            batch = self._pending[:self.batch_messages]
            del self._pending[:self.batch_messages]
            if self._pending:
                self._first_pending_at = time.monotonic()
            return batch

    def _batch_loop(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if not batch:
                continue
            try:
                self._process(batch)
            except Exception:  # keep the worker alive; the batch stays unacknowledged
                log.exception("%s: batch processing failed", self.client_id)

    def _process(self, batch: list[tuple[datetime, Publish]]) -> None:
        self.stats.received += len(batch)
        messages: list[DeviceMessage] = []
        refusals: list[tuple[str | None, str, str]] = []
        decode = codec.decode
        for received_at, publish in batch:
            # A live message arrives with the retain flag cleared; a set flag means the broker
            # replays a stored retained message because we subscribed. Replaying it would make
            # an offline device look alive, so it is acknowledged and skipped.
            if publish.retain:
                self.stats.replayed += 1
                continue
            try:
                messages.append(decode(publish.topic, publish.payload, received_at))
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

    def _current(self, batch: list[tuple[datetime, Publish]]) -> bool:
        connection = self._stream.connection
        return any(publish.connection == connection for _, publish in batch)

    def _acknowledge(self, batch: list[tuple[datetime, Publish]]) -> int:
        # Only what came on the current connection: the broker resends the rest under new ids.
        connection = self._stream.connection
        mids = [publish.mid for _, publish in batch if publish.qos and publish.connection == connection]
        sent = self._stream.acknowledge(mids, connection)
        self.stats.acknowledged += sent
        return sent

    # --- commands -------------------------------------------------------------------

    def publish_command(self, request: CommandRequest, timeout: float = 5.0) -> None:
        """Publish a command request (QoS 1); returns once the broker has acknowledged it."""
        topic, payload = codec.encode_command(request)
        if not self._stream.publish(topic, payload, timeout):
            raise CommandNotSent(f"command {request.command_id} to {request.serial}: no acknowledgement in {timeout} s")


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


def settle_garbage_collector() -> None:
    """Before a long run of many short-lived objects: freeze what start-up built.

    A process with the whole platform imported holds about a million long-lived objects
    (models, mappers, schemas); every full collection walked them all, which cost ingest
    a third of its CPU. Frozen, they are never walked again, and a larger first
    generation makes collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
