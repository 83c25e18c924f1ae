"""The embedded MQTT broker: amqtt inside a Leitstand process, the zero-set-up default.

Production uses Mosquitto (see `dynsec.py`); this broker lets a fresh machine run
`leitstand serve` with nothing else installed. It enforces the same rules as
Mosquitto's per-device roles:

- a device logs in with its serial number and its current, non-revoked credential
  (checked against the SHA-256 digest in `device_credentials`, in constant time);
- Leitstand's own service user logs in with the password from the settings;
- a device publishes only under `ls/v1/{its serial}/up/#`, subscribes and receives
  only under `ls/v1/{its serial}/down/#`; the service user may do everything;
- client ids starting with `leitstand-` belong to the service user, so a device can
  not take over the ingest worker's persistent session.

A publish outside the device's own topics (a `$SYS/...` topic too) is not acknowledged:
the broker closes the connection and counts the refusal on the device as
`forbidden_topic` (`GET /api/v1/devices/{id}/rejections`). MQTT 3.1.1 has no negative
acknowledgement, and closing is the only answer that never lets a device believe a
refused message was stored. Mosquitto 2.0 answers differently: on MQTT 3.1.1 it
acknowledges a denied publish and drops it (Leitstand cannot count that, and the shipped
mosquitto.conf does not log it), on MQTT 5 it answers PUBACK "Not authorized"; the
connection stays open.
A device that sends the refused message again after reconnecting is closed and counted
again: its firmware publishes where it must not.

A device's QoS 1 publish is acknowledged once the broker has taken it for its
subscribers (queued in memory for the ingest worker's session), not when it arrives, so
a message still waiting when its connection ends is not acknowledged and the device
sends it again. `LeitstandBroker` below holds the few changes to amqtt 0.12.1 (the newest
release) this takes, and why.

Limits compared with Mosquitto, by amqtt's design: MQTT 3.1.1 only, no shared
subscriptions, sessions live in memory only, and amqtt drops a message it sent to a
subscriber that does not acknowledge it within 5 s. So acknowledge-after-commit holds
end to end only with Mosquitto; with the embedded broker a message can be lost if the
process dies.

Run it in its own thread (`start()`/`stop()`, for synchronous callers and tests) or on
the caller's event loop (`await start_async()`/`await stop_async()`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.errors import ProtocolHandlerError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.puback import PubackPacket
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import INCOMING, ApplicationMessage, IncomingApplicationMessage, OutgoingApplicationMessage
from amqtt.session import Session as MqttSession
from sqlalchemy.orm import Session, sessionmaker

from leitstand.config import Settings
from leitstand.devices.credentials import authenticate_device
from leitstand.ingest.message import RejectReason
from leitstand.transports.base import Ingest
from leitstand.transports.native import topics

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600


class DeviceGate:
    """Who may log in, and which topics each principal may use."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], ingest: Ingest) -> None:
        self.factory = session_factory
        self.ingest = ingest  # counts the publishes it refuses on the device
        self.service_username = settings.mqtt_service_username
        self.service_password = settings.resolved_mqtt_service_password()

    # --- authentication -------------------------------------------------------------

    def authenticate(self, username: str | None, password: str | None, client_id: str | None) -> bool:
        if not username or password is None:
            return False
        if username == self.service_username:
            return hmac.compare_digest(password.encode(), self.service_password.encode())
        # As on Mosquitto (dynsec pins it), a device's client id is its serial: no device can
        # take over Leitstand's own sessions or another device's by borrowing a client id.
        if client_id != username:
            log.warning("device %s refused: client id %r is not its serial", username, client_id)
            return False
        if not topics.is_topic_level(username):
            return False
        return authenticate_device(self.factory, username, password, transport="MQTT device login") is not None

    # --- authorisation --------------------------------------------------------------

    def permits(self, username: str | None, topic: str | None, action: Action) -> bool:
        if not username or not topic:
            return False
        if username == self.service_username:
            return True
        if not topics.is_topic_level(username):
            return False
        if action == Action.PUBLISH:
            return topics.filter_matches(topics.device_publish_filter(username), topic)
        if action == Action.SUBSCRIBE:
            return topics.filter_within(topic, topics.device_subscribe_filter(username))
        # RECEIVE: also guards a session whose username changed on a reconnect.
        return topics.filter_matches(topics.device_subscribe_filter(username), topic)


class _GatedPlugin:
    """What both plugins share: amqtt hands each its `DeviceGate` through the plugin config."""

    @dataclass
    class Config:
        gate: Any = None

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)  # type: ignore[call-arg]
        self.gate: DeviceGate = self.config.gate  # type: ignore[attr-defined]


class LeitstandAuthPlugin(_GatedPlugin, BaseAuthPlugin):
    """amqtt authentication plugin backed by `DeviceGate`."""

    async def authenticate(self, *, session: MqttSession) -> bool:
        # The database lookup blocks; keep the broker's loop serving other clients.
        return await asyncio.to_thread(self.gate.authenticate, session.username, session.password, session.client_id)


class LeitstandTopicPlugin(_GatedPlugin, BaseTopicPlugin):
    """amqtt topic plugin: the per-device ACL."""

    async def topic_filtering(self, *, session: MqttSession | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        if session is None or action is None:
            return False
        allowed = self.gate.permits(session.username, topic, action)
        if not allowed:
            log.info("MQTT %s refused for %s on %r", action, session.username, topic)
        return allowed


class AcknowledgeWhenTaken(BrokerProtocolHandler):
    """amqtt's protocol handler, acknowledging a client's QoS 1 publish only once the broker
    has taken it.

    amqtt sends the PUBACK as soon as the publish is queued for the broker, before the
    broker has looked at it: a refused publish, and one still queued when the connection
    ended, were acknowledged and lost. Here the PUBACK waits for `taken()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._untaken: dict[int, asyncio.Future[bool]] = {}  # by id() of the message

    async def _handle_qos1_message_flow(
            self, app_message: IncomingApplicationMessage | OutgoingApplicationMessage) -> None:
        if app_message.direction != INCOMING or self.session is None:
            await super()._handle_qos1_message_flow(app_message)
            return
        taken: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._untaken[id(app_message)] = taken
        try:
            await self.session.delivered_message_queue.put(app_message)
            if not await taken:  # refused: the broker closes the connection instead
                return
        finally:  # also when the connection ends first, which cancels this task
            del self._untaken[id(app_message)]
        app_message.puback_packet = PubackPacket.build(app_message.packet_id)
        try:
            await self._send_packet(app_message.puback_packet)
        except ProtocolHandlerError:  # amqtt's word for "cancelled": the connection ended meanwhile
            pass

    def taken(self, message: ApplicationMessage, passed_on: bool) -> None:
        """The broker handed the message on (acknowledge it) or refused it (do not)."""
        untaken = self._untaken.get(id(message))  # absent: from an earlier connection of the session
        if untaken is not None and not untaken.done():
            untaken.set_result(passed_on)


class SubscriptionTable(dict[str, list[tuple[MqttSession, int]]]):
    """amqtt's topic filters and their subscribers, iterated over a snapshot.

    amqtt walks this table across awaits (broadcasting a message, resuming a session)
    while other clients subscribe, unsubscribe and go away. Walking the live dict raised
    "dictionary changed size during iteration", which lost the message for every
    subscriber not yet served; removing a subscriber from a live list skipped the next."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().__iter__()))

    def items(self) -> list[tuple[str, list[tuple[MqttSession, int]]]]:  # type: ignore[override]
        return [(topic_filter, list(subscribers)) for topic_filter, subscribers in super().items()]


class LeitstandBroker(Broker):
    """amqtt's broker with the changes Leitstand needs, each where amqtt 0.12.1 loses messages:

    - every client gets an `AcknowledgeWhenTaken` handler;
    - the subscriptions are a `SubscriptionTable`;
    - a publish the `DeviceGate` refuses, or amqtt does (a `$` topic, wildcards), closes
      the connection and is counted. amqtt itself stopped serving such a connection
      without closing it: every later publish was acknowledged and lost;
    - the session monitor cleans up only sessions that are still disconnected. It lists
      the disconnected ones and cleans them up one by one, across awaits, by client id:
      a device that reconnected meanwhile (its client id is its serial) had its new, live
      connection closed under it."""

    def __init__(self, config: dict[str, Any], gate: DeviceGate) -> None:
        super().__init__(config)
        self.gate = gate
        self._subscriptions = SubscriptionTable()
        self._counting = asyncio.Lock()  # one count at a time: two of one device would race for its row
        self._shutting_down = False

    async def shutdown(self) -> None:
        self._shutting_down = True  # now every session goes, connected or not
        await super().shutdown()

    async def _cleanup_session(self, client_id: str) -> None:
        session, _ = self._sessions.get(client_id, (None, None))
        if session is not None and session.transitions.is_connected() and not self._shutting_down:
            return
        await super()._cleanup_session(client_id)

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: MqttSession,
                                     handler: BrokerProtocolHandler, server: Any, listener_name: str) -> None:
        # amqtt made `handler` from the CONNECT packet and has not attached it yet: ours takes its place.
        ours = AcknowledgeWhenTaken(self.plugins_manager, loop=self._loop)
        await super()._handle_client_session(reader, writer, client_session, ours, server, listener_name)

    async def _handle_message_delivery(self, client_session: MqttSession,  # type: ignore[override]
                                       handler: AcknowledgeWhenTaken, wait_deliver: asyncio.Future[Any]) -> bool:
        message = wait_deliver.result()
        if message is None:
            return await super()._handle_message_delivery(client_session, handler, wait_deliver)
        passed_on = (self.gate.permits(client_session.username, message.topic, Action.PUBLISH)
                     and await super()._handle_message_delivery(client_session, handler, wait_deliver))
        handler.taken(message, passed_on)
        if not passed_on:
            await self._refuse(client_session, handler, message.topic)
        return True  # amqtt's loop goes on, sees the connection closed and ends the session its usual way

    async def _refuse(self, session: MqttSession, handler: BrokerProtocolHandler, topic: str) -> None:
        serial, shown = session.username or "", topic[:100]
        log.warning("MQTT publish by %s to %r refused: closing the connection", serial, shown)
        if serial != self.gate.service_username:
            detail = f"publish to {shown!r} refused: a device publishes only under {topics.device_publish_filter(serial)}"
            async with self._counting:
                try:
                    await asyncio.to_thread(self.gate.ingest.reject, serial, RejectReason.forbidden_topic, detail)
                except Exception:  # the broker must go on serving everyone else
                    log.exception("could not count the refused publish of %s", serial)
        await handler.handle_connection_closed()


class EmbeddedBroker:
    """amqtt on settings.mqtt_host:mqtt_port with Leitstand's login and ACL."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], ingest: Ingest) -> None:
        self.host = settings.mqtt_host
        self.port = settings.mqtt_port
        self.gate = DeviceGate(settings, session_factory, ingest)
        self._broker: LeitstandBroker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _config(self) -> dict[str, Any]:
        plugin = f"{__name__}."
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "session_expiry_interval": SESSION_EXPIRY_SECONDS,
            "plugins": {
                plugin + LeitstandAuthPlugin.__name__: {"gate": self.gate},
                plugin + LeitstandTopicPlugin.__name__: {"gate": self.gate},
            },
        }

    # --- on the caller's event loop ---------------------------------------------------

    async def start_async(self) -> None:
        """Start listening on the running loop; returns once the port is bound."""
        self._broker = LeitstandBroker(self._config(), self.gate)
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    async def stop_async(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None

    # --- in a thread of its own -------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start in a background thread; returns once the port is bound, raises if it could not be."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as error:  # noqa: BLE001 - reported to the starting thread
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="leitstand-mqtt-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"embedded MQTT broker did not start within {timeout} s")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._loop = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
