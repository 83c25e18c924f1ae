"""`leitstand simulate`: a fleet of simulated devices speaking Leitstand's MQTT protocol.

Each simulated device logs in with its own credentials (issued fresh when the fleet
starts, and handed to the broker the way a claim or rotation does it: through the session
factory's `CREDENTIAL_CHANGES` listeners, so Mosquitto's dynamic security learns them),
reports telemetry and heartbeats, answers commands, now and then reports an error code,
and now and then drops off the network for a while.

The fleet counts what the broker did, not what it was asked: a publish counts once the
broker acknowledged it (PUBACK); a refused login, a publish without a connection and a
publish still unacknowledged at an outage or at the end are failures, with their reason.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.devicetypes.spec import spec_for, type_keys
from leitstand.simulator.devices import MODELS, RADIO_TYPES, SimulatedDevice
from leitstand.sites.models import Site
from leitstand.tenancy.scope import system_session
from leitstand.transports.native import codec, topics

log = logging.getLogger(__name__)

CONNACK_WAIT_SECONDS = 10.0  # for the first logins, and for the last acknowledgements at the end


@dataclass
class FleetMember:
    device: SimulatedDevice
    password: str
    setup_failure: str = ""  # why this device cannot take part (its credentials did not reach the broker)
    client: mqtt.Client | None = None
    offline_until: float = 0.0
    connected: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)  # the broker answered the login
    refused: bool = False  # the broker refused the login: this device sits the run out
    in_flight: list[mqtt.MQTTMessageInfo] = field(default_factory=list)  # publishes awaiting their PUBACK
    lock: threading.Lock = field(default_factory=threading.Lock)  # in_flight: the loop and paho's thread


def prepare_fleet(factory: sessionmaker[Session], count: int, seed: int = 1) -> list[FleetMember]:
    """Pick up to `count` licensed barriers, bollards and thermostats and give each new credentials.

    The credentials are rotated like an operator's rotation: committed, then announced to
    the `CREDENTIAL_CHANGES` listeners of `factory` (the broker's device users). A device whose announcement
    failed keeps the reason in `setup_failure`; the database already has its new secret,
    so the next run rotates it again.
    """
    from leitstand.devices.claiming import announce_credentials, rotate_credentials

    rng = random.Random(seed)
    today = clock.now().date()
    members: list[FleetMember] = []
    with system_session(factory, reason="simulator: issue device credentials") as db:
        devices = db.scalars(
            select(Device).join(License, License.device_id == Device.id)
            .where(Device.type_key.in_(list(MODELS)), Device.decommissioned_at.is_(None),
                   License.starts_on <= today, License.ends_on >= today)
            .order_by(Device.id).limit(count)
        ).all()
        gateways = _gateways_by_site(db)
        for device in devices:
            _credential, secret = rotate_credentials(db, device)
            model = MODELS[device.type_key]
            simulated = model(serial=device.serial_number, rng=random.Random(rng.random()),
                              gateway=_nearest_gateway(db, device, gateways))
            members.append(FleetMember(device=simulated, password=secret))
        db.commit()
    for member in members:
        failures = announce_credentials(factory, member.device.serial, member.password)
        if failures:
            member.setup_failure = f"credentials did not reach the broker: {'; '.join(failures)}"
    return members


def _gateways_by_site(db: Session) -> dict[tuple[int, str], str]:
    """(tenant, site path) -> serial of a gateway placed there (its type carries uplinks)."""
    carriers = [key for key in type_keys() if spec_for(key).carries_uplinks]
    found = db.execute(
        select(Device.tenant_id, Site.path, Device.serial_number).join(Site, Site.id == Device.site_id)
        .where(Device.type_key.in_(carriers), Device.decommissioned_at.is_(None)).order_by(Device.id)
    )
    gateways: dict[tuple[int, str], str] = {}
    for tenant_id, path, serial in found:
        gateways.setdefault((tenant_id, path), serial)
    return gateways


def _nearest_gateway(db: Session, device: Device, gateways: dict[tuple[int, str], str]) -> str | None:
    """The gateway in the device's own site or the closest one above it (its room's building)."""
    if device.type_key not in RADIO_TYPES or device.site_id is None:
        return None
    site = db.get(Site, device.site_id)
    path = site.path if site else ""
    while path:
        if (serial := gateways.get((device.tenant_id, path))) is not None:
            return serial
        path = path[: path.rstrip("/").rfind("/") + 1]  # one level up: "/a/b/" -> "/a/"
    return None


@dataclass
class FleetStats:
    acknowledged: int = 0  # publishes the broker acknowledged (PUBACK)
    commands_answered: int = 0
    disconnects: int = 0  # simulated outages
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason -> serial per failure
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, acknowledged: int = 0, answered: int = 0, disconnects: int = 0) -> None:
        with self.lock:
            self.acknowledged += acknowledged
            self.commands_answered += answered
            self.disconnects += disconnects

    def fail(self, serial: str, reason: str, times: int = 1) -> None:
        with self.lock:
            self.failures[reason].extend([serial] * times)

    @property
    def failed(self) -> int:
        return sum(len(serials) for serials in self.failures.values())


class Fleet:
    def __init__(self, members: list[FleetMember], host: str, port: int, telemetry_every: float = 10.0,
                 offline_rate: float = 0.0005, offline_seconds: float = 60.0, tls_ca_file: str | None = None) -> None:
        self.members = members
        self.host, self.port = host, port
        self.tls_ca_file = tls_ca_file
        self.telemetry_every = telemetry_every
        self.offline_rate = offline_rate
        self.offline_seconds = offline_seconds
        self.stats = FleetStats()
        self._stop = threading.Event()

    def _publish(self, member: FleetMember, messages: list) -> None:  # type: ignore[type-arg]
        client = member.client
        if client is None:
            return
        if not member.connected.is_set():
            self.stats.fail(member.device.serial, "not sent: no connection to the broker", len(messages))
            return
        for message in messages:
            topic, payload = codec.encode_uplink(message)
            info = client.publish(topic, payload, qos=1)
            with member.lock:
                member.in_flight.append(info)

    def _on_command(self, member: FleetMember):  # type: ignore[no-untyped-def]
        def handle(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            try:
                request = codec.decode_command(message.topic, message.payload)
            except ValueError:
                log.warning("%s: unreadable command on %s", member.device.serial, message.topic)
                return
            self._publish(member, member.device.execute(request, clock.now()))
            self.stats.add(answered=1)
        return handle

    def _on_connect(self, member: FleetMember):  # type: ignore[no-untyped-def]
        def handle(client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
            if reason.is_failure:
                member.refused = True
                self.stats.fail(member.device.serial, f"login refused: {reason}")
                client.disconnect()  # a refused login does not get better by retrying
            else:
                member.connected.set()
                client.subscribe(topics.command_subscription(member.device.serial), qos=1)
            member.answered.set()
        return handle

    def _on_publish(self, member: FleetMember):  # type: ignore[no-untyped-def]
        def handle(_client: mqtt.Client, _userdata: Any, _mid: int, reason: Any, _properties: Any) -> None:
            if reason.is_failure:  # MQTT 5 only; a 3.1.1 PUBACK has no reason
                self.stats.fail(member.device.serial, f"publish refused: {reason}")
            else:
                self.stats.add(acknowledged=1)
        return handle

    def connect(self, member: FleetMember) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=member.device.serial,
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.username_pw_set(member.device.serial, member.password)
        if self.tls_ca_file:
            client.tls_set(ca_certs=self.tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.on_message = self._on_command(member)
        client.on_connect = self._on_connect(member)
        client.on_publish = self._on_publish(member)
        client.on_disconnect = lambda *_: member.connected.clear()
        member.connected.clear()
        member.answered.clear()
        member.client = client
        try:
            client.connect(self.host, self.port, keepalive=60)
        except OSError as error:
            self.stats.fail(member.device.serial, f"no connection: {error}")
            member.client = None
            member.offline_until = float("inf")
            return
        client.loop_start()

    def disconnect(self, member: FleetMember, why: str) -> None:
        if member.client is not None:
            member.client.disconnect()
            member.client.loop_stop()
            member.client = None
        member.connected.clear()
        self._settle(member, why)

    def _settle(self, member: FleetMember, why: str) -> None:
        """Forget acknowledged publishes; those still waiting are failures `why`."""
        with member.lock:
            waiting = [info for info in member.in_flight if not info.is_published()]
            member.in_flight = [] if why else waiting
        if why and waiting:
            self.stats.fail(member.device.serial, f"not acknowledged before {why}", len(waiting))

    def run(self, duration: timedelta | None = None) -> FleetStats:
        active = []
        for member in self.members:
            if member.setup_failure:
                self.stats.fail(member.device.serial, member.setup_failure)
            else:
                self.connect(member)
                active.append(member)
        for member in active:  # the first logins, so the first tick does not find them pending
            if member.client is not None:
                member.answered.wait(CONNACK_WAIT_SECONDS)
        started = clock.now()
        rng = random.Random(7)
        try:
            while not self._stop.is_set() and (duration is None or clock.now() - started < duration):
                now = clock.now()
                for member in active:
                    if member.client is None:
                        if now.timestamp() >= member.offline_until:
                            self.connect(member)
                        continue
                    if member.refused:
                        continue  # counted once, at the refusal
                    if rng.random() < self.offline_rate:
                        self.disconnect(member, "a simulated outage")
                        member.offline_until = now.timestamp() + self.offline_seconds
                        self.stats.add(disconnects=1)
                        continue
                    self._settle(member, "")
                    self._publish(member, [member.device.heartbeat(now), *member.device.tick(now)])
                self._stop.wait(self.telemetry_every)
        finally:
            self._wait_for_acknowledgements(active)
            for member in active:
                self.disconnect(member, "the end")
        return self.stats

    def _wait_for_acknowledgements(self, members: list[FleetMember]) -> None:
        """Give the last publishes a moment for their PUBACK; what is still waiting then is counted."""
        deadline = time.monotonic() + CONNACK_WAIT_SECONDS
        for member in members:
            with member.lock:
                waiting = list(member.in_flight)
            for info in waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not member.connected.is_set():
                    break
                try:
                    info.wait_for_publish(remaining)
                except (ValueError, RuntimeError):
                    break  # the connection went: what is left counts as unacknowledged

    def stop(self) -> None:
        self._stop.set()
