"""`leitstand simulate`: a fleet of simulated devices speaking Leitstand's MQTT protocol.

Each simulated device logs in with its own credentials (issued fresh when the fleet
starts), reports telemetry and heartbeats, answers commands, now and then reports an
error code, and now and then drops off the network for a while.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.simulator.devices import MODELS, SimulatedDevice
from leitstand.tenancy.scope import system_session
from leitstand.transports.mqtt import codec, topics

log = logging.getLogger(__name__)


@dataclass
class FleetMember:
    device: SimulatedDevice
    password: str
    client: mqtt.Client | None = None
    offline_until: float = 0.0


def prepare_fleet(factory: sessionmaker[Session], count: int, seed: int = 1) -> list[FleetMember]:
    """Pick up to `count` licensed barriers, bollards and thermostats and give each new credentials."""
    from leitstand.devices.claiming import rotate_credentials

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
        for device in devices:
            _credential, secret = rotate_credentials(db, device)
            model = MODELS[device.type_key]
            members.append(FleetMember(device=model(serial=device.serial_number, rng=random.Random(rng.random())),
                                       password=secret))
        db.commit()
    return members


@dataclass
class FleetStats:
    published: int = 0
    commands_answered: int = 0
    disconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, published: int = 0, answered: int = 0, disconnects: int = 0) -> None:
        with self.lock:
            self.published += published
            self.commands_answered += answered
            self.disconnects += disconnects


class Fleet:
    def __init__(self, members: list[FleetMember], host: str, port: int, telemetry_every: float = 10.0,
                 offline_rate: float = 0.0005, offline_seconds: float = 60.0) -> None:
        self.members = members
        self.host, self.port = host, port
        self.telemetry_every = telemetry_every
        self.offline_rate = offline_rate
        self.offline_seconds = offline_seconds
        self.stats = FleetStats()
        self._stop = threading.Event()

    def _publish(self, member: FleetMember, messages: list) -> None:  # type: ignore[type-arg]
        if member.client is None:
            return
        for message in messages:
            topic, payload = codec.encode_uplink(message)
            member.client.publish(topic, payload, qos=1)
        self.stats.add(published=len(messages))

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

    def connect(self, member: FleetMember) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=member.device.serial,
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.username_pw_set(member.device.serial, member.password)
        client.on_message = self._on_command(member)
        client.on_connect = lambda c, *_: c.subscribe(topics.command_subscription(member.device.serial), qos=1)
        client.connect(self.host, self.port, keepalive=60)
        client.loop_start()
        member.client = client

    def disconnect(self, member: FleetMember) -> None:
        if member.client is not None:
            member.client.disconnect()
            member.client.loop_stop()
            member.client = None

    def run(self, duration: timedelta | None = None) -> FleetStats:
        for member in self.members:
            self.connect(member)
        started = clock.now()
        rng = random.Random(7)
        try:
            while not self._stop.is_set() and (duration is None or clock.now() - started < duration):
                now = clock.now()
                for member in self.members:
                    if member.client is None:
                        if now.timestamp() >= member.offline_until:
                            self.connect(member)
                        continue
                    if rng.random() < self.offline_rate:
                        self.disconnect(member)
                        member.offline_until = now.timestamp() + self.offline_seconds
                        self.stats.add(disconnects=1)
                        continue
                    self._publish(member, [member.device.heartbeat(now), *member.device.tick(now)])
                self._stop.wait(self.telemetry_every)
        finally:
            for member in self.members:
                self.disconnect(member)
        return self.stats

    def stop(self) -> None:
        self._stop.set()
