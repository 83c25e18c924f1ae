"""The ingest worker's own MQTT connection: every uplink in, acknowledgements out in bulk.

Why not paho here: at thousands of messages per second, paho spends about 100 µs of
CPU per received message (it reads the socket a byte at a time for every packet header,
builds a message object, and sends each PUBACK with its own write). This connection
reads whatever the socket has, cuts all complete packets out of it in one pass, and
writes a whole batch's PUBACKs with one `sendall`. It speaks exactly what ingest needs
of MQTT 5 (Mosquitto) and MQTT 3.1.1 (the embedded broker): CONNECT with a persistent
session, one QoS 1 subscription, PUBLISH in (QoS 0/1), PUBACK out in arrival order,
QoS 1 PUBLISH out for commands, PINGREQ keep-alive, reconnection with back-off.
Everything else a client may do (publishing uplinks, simulators, tests) stays on paho.

Packet ids belong to one connection: `Publish.connection` says which, and `acknowledge`
drops acknowledgements for an earlier connection (the broker resends those messages
under new ids once the session is back).
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

log = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
RECEIVE_BYTES = 256 * 1024
PINGREQ_PACKET = b"\xc0\x00"
_PUBACK = struct.Struct(">BBH")
_UINT16 = struct.Struct(">H")


class Publish(NamedTuple):
    """One PUBLISH the broker sent us."""

    topic: str
    payload: bytes
    mid: int  # 0 for QoS 0
    qos: int
    retain: bool
    connection: int


class ProtocolError(ConnectionError):
    """The broker sent something this connection cannot make sense of, or refused us."""


@dataclass(frozen=True)
class StreamSettings:
    host: str
    port: int
    client_id: str
    username: str
    password: str
    subscription: str
    mqtt5: bool = True
    clean_start: bool = False  # False: the broker keeps our session (and queue) between connections
    keepalive: int = 30
    session_expiry: int = 24 * 3600  # MQTT 5: how long the broker keeps our queue while we are away
    receive_maximum: int = 1000  # MQTT 5: unacknowledged messages the broker may have in flight to us
    tls_ca_file: str | None = None
    max_backoff: float = 10.0


# --- encoding -------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return _UINT16.pack(len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def connect_packet(settings: StreamSettings) -> bytes:
    flags = 0xC0 | (0x02 if settings.clean_start else 0)  # user name, password, clean start/session
    header = _text("MQTT") + bytes([5 if settings.mqtt5 else 4, flags]) + _UINT16.pack(settings.keepalive)
    if settings.mqtt5:
        properties = b"\x11" + struct.pack(">I", settings.session_expiry) + b"\x21" + _UINT16.pack(
            max(1, min(65535, settings.receive_maximum)))
        header += _varint(len(properties)) + properties
    payload = _text(settings.client_id) + _text(settings.username) + _text(settings.password)
    return _packet(CONNECT << 4, header + payload)


def subscribe_packet(settings: StreamSettings, mid: int) -> bytes:
    body = _UINT16.pack(mid)
    if settings.mqtt5:
        body += b"\x00" + _text(settings.subscription) + b"\x01"
    else:
        body += _text(settings.subscription) + b"\x01"
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def publish_packet(topic: str, payload: bytes, mid: int, mqtt5: bool) -> bytes:
    body = _text(topic) + _UINT16.pack(mid) + (b"\x00" if mqtt5 else b"") + payload
    return _packet((PUBLISH << 4) | 0x02, body)


def disconnect_packet(mqtt5: bool, *, end_session: bool = False) -> bytes:
    if mqtt5 and end_session:
        return _packet(DISCONNECT << 4, b"\x00\x05\x11\x00\x00\x00\x00")
    return bytes([DISCONNECT << 4, 0])


def puback_packets(mids: Sequence[int]) -> bytes:
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, mid) for mid in mids])


# --- decoding -------------------------------------------------------------------------


def _read_varint(data: bytes, position: int) -> tuple[int, int] | None:
    """(value, position after it), or None if the bytes end inside it."""
    value, shift, end = 0, 0, len(data)
    while True:
        if position >= end:
            return None
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 21:
            raise ProtocolError("remaining length longer than four bytes")


def split_packets(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete packets as (first byte, body) and the incomplete rest."""
    packets: list[tuple[int, bytes]] = []
    position, end = 0, len(data)
    while end - position >= 2:
        first = data[position]
        if data[position + 1] < 0x80:  # a one-byte length: almost every packet
            length, body_start = data[position + 1], position + 2
        else:
            decoded = _read_varint(data, position + 1)
            if decoded is None:
                break
            length, body_start = decoded
        body_end = body_start + length
        if body_end > end:
            break
        packets.append((first, data[body_start:body_end]))
        position = body_end
    return packets, data[position:]


def parse_publish(first: int, body: bytes, mqtt5: bool, connection: int) -> Publish:
    topic_end = 2 + ((body[0] << 8) | body[1])
    qos = (first >> 1) & 0x03
    position = topic_end
    mid = 0
    if qos:
        mid = (body[position] << 8) | body[position + 1]
        position += 2
    if mqtt5:
        if body[position] < 0x80:
            position += 1 + body[position]
        else:
            decoded = _read_varint(body, position)
            if decoded is None:
                raise ProtocolError("PUBLISH properties cut short")
            position = decoded[1] + decoded[0]
    return Publish(body[2:topic_end].decode("utf-8", "replace"), body[position:], mid, qos, bool(first & 0x01),
                   connection)


# --- the connection -------------------------------------------------------------------


class UplinkStream:
    """A persistent MQTT session that hands received PUBLISH packets to `on_messages`.

    `on_messages(publishes)` runs on the reader thread with every PUBLISH cut from one
    read of the socket; it must only queue them. `on_subscribed` / `on_disconnected`
    report the subscription's state.
    """

    def __init__(self, settings: StreamSettings, on_messages: Callable[[list[Publish]], None],
                 on_subscribed: Callable[[], None] = lambda: None,
                 on_disconnected: Callable[[str], None] = lambda reason: None) -> None:
        self.settings = settings
        self.on_messages = on_messages
        self.on_subscribed = on_subscribed
        self.on_disconnected = on_disconnected
        self.connection = 0  # raised on every connect and disconnect
        self._socket: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sent = 0.0
        self._next_mid = 0
        self._waiting: dict[int, threading.Event] = {}  # our QoS 1 publishes awaiting PUBACK

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.settings.client_id}-reader", daemon=True)
        self._thread.start()

    def stop(self, *, end_session: bool = False, timeout: float = 10.0) -> None:
        self._stopping.set()
        current = self._socket
        if current is not None:
            try:
                self._send(disconnect_packet(self.settings.mqtt5, end_session=end_session), current)
            except OSError:
                pass
            try:
                current.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # --- sending --------------------------------------------------------------------

    def acknowledge(self, mids: Sequence[int], connection: int) -> int:
        """PUBACK every id, in order, if they came on the current connection. Returns how many."""
        with self._state_lock:
            current = self._socket if connection == self.connection else None
            if current is None or not mids:
                return 0
            try:
                self._send(puback_packets(mids), current)
            except OSError as error:
                log.warning("%s: acknowledgements not sent: %s", self.settings.client_id, error)
                return 0
        return len(mids)

    def publish(self, topic: str, payload: bytes, timeout: float) -> bool:
        """QoS 1 publish; True once the broker acknowledged it within `timeout`."""
        acknowledged = threading.Event()
        with self._state_lock:
            current = self._socket
            if current is None:
                return False
            self._next_mid = self._next_mid % 65535 + 1
            mid = self._next_mid
            self._waiting[mid] = acknowledged
            try:
                self._send(publish_packet(topic, payload, mid, self.settings.mqtt5), current)
            except OSError:
                self._waiting.pop(mid, None)
                return False
        try:
            return acknowledged.wait(timeout)
        finally:
            with self._state_lock:
                self._waiting.pop(mid, None)

    def _send(self, data: bytes, target: socket.socket) -> None:
        with self._send_lock:
            target.sendall(data)
            self._last_sent = time.monotonic()

    # --- the reader thread ----------------------------------------------------------

    def _run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                self._session()
                delay = 0.5
            except (OSError, ProtocolError, ssl.SSLError) as error:
                reason = str(error) or type(error).__name__
            else:
                reason = "closed"
            self._drop_socket()
            if self._stopping.is_set():
                break
            self.on_disconnected(reason)
            log.warning("%s: connection lost (%s); reconnecting in %.1f s", self.settings.client_id, reason, delay)
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, self.settings.max_backoff)

    def _open_socket(self) -> socket.socket:
        settings = self.settings
        raw = socket.create_connection((settings.host, settings.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if settings.tls_ca_file:
            context = ssl.create_default_context(cafile=settings.tls_ca_file)
            return context.wrap_socket(raw, server_hostname=settings.host)
        return raw

    def _session(self) -> None:
        settings = self.settings
        current = self._open_socket()
        with self._state_lock:
            self._socket = current
        self._send(connect_packet(settings), current)
        keepalive = settings.keepalive
        pending = b""
        last_received = time.monotonic()
        current.settimeout(max(0.5, keepalive / 4))
        while not self._stopping.is_set():
            try:
                chunk = current.recv(RECEIVE_BYTES)
            except TimeoutError:
                chunk = None
            now = time.monotonic()
            if chunk == b"":
                raise ConnectionError("closed by the broker")
            if chunk:
                last_received = now
                packets, pending = split_packets(pending + chunk if pending else chunk)
                publishes: list[Publish] = []
                for first, body in packets:
                    kind = first >> 4
                    if kind == PUBLISH:
                        publishes.append(parse_publish(first, body, settings.mqtt5, self.connection))
                    elif kind == PUBACK:
                        waiter = self._waiting.get((body[0] << 8) | body[1])
                        if waiter is not None:
                            waiter.set()
                    elif kind == CONNACK:
                        keepalive = self._connected(body, current, keepalive)
                    elif kind == SUBACK:
                        codes = body[3 + body[2]:] if settings.mqtt5 else body[2:]
                        if any(code >= 0x80 for code in codes):
                            raise ProtocolError(f"subscription to {settings.subscription} refused: {codes.hex()}")
                        self.on_subscribed()
                    elif kind == DISCONNECT:
                        raise ConnectionError(f"disconnected by the broker (reason {body[:1].hex() or '00'})")
                    # PINGRESP and anything else: nothing to do beyond having heard from the broker.
                if publishes:
                    self.on_messages(publishes)
            if now - last_received > 1.5 * keepalive:
                raise ConnectionError(f"nothing heard from the broker for {now - last_received:.0f} s")
            if now - self._last_sent > keepalive / 2:
                self._send(PINGREQ_PACKET, current)

    def _connected(self, body: bytes, current: socket.socket, keepalive: int) -> int:
        settings = self.settings
        code = body[1]
        if code != 0:
            raise ProtocolError(f"broker refused the connection (reason code 0x{code:02x})")
        if settings.mqtt5 and len(body) > 2:
            decoded = _read_varint(body, 2)
            if decoded is not None:
                length, position = decoded
                keepalive = _server_keepalive(body[position:position + length]) or keepalive
        with self._state_lock:
            self.connection += 1
        log.info("%s connected (session present: %s)", settings.client_id, bool(body[0] & 0x01))
        self._send(subscribe_packet(settings, 1), current)
        return keepalive

    def _drop_socket(self) -> None:
        with self._state_lock:
            current, self._socket = self._socket, None
            self.connection += 1  # whatever is in hand can no longer be acknowledged
        if current is not None:
            try:
                current.close()
            except OSError:
                pass


def _server_keepalive(properties: bytes) -> int | None:
    """MQTT 5 CONNACK property 0x13 (Server Keep Alive), which overrides ours."""
    position = 0
    while position < len(properties):
        identifier = properties[position]
        position += 1
        if identifier == 0x13:
            return (properties[position] << 8) | properties[position + 1]
        size = _PROPERTY_SIZES.get(identifier)
        if size is None:  # a string, binary or pair: length-prefixed
            if identifier == 0x26:  # user property: two strings
                for _ in range(2):
                    position += 2 + ((properties[position] << 8) | properties[position + 1])
                continue
            position += 2 + ((properties[position] << 8) | properties[position + 1])
        elif size == 0:  # a variable byte integer
            decoded = _read_varint(properties, position)
            if decoded is None:
                return None
            position = decoded[1]
        else:
            position += size
    return None


# Fixed sizes of MQTT 5 property values by identifier (0 = variable byte integer);
# identifiers not listed carry a length-prefixed string or binary value.
_PROPERTY_SIZES = {
    0x01: 1, 0x02: 4, 0x0B: 0, 0x11: 4, 0x13: 2, 0x17: 1, 0x19: 1, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1,
    0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}
