"""`leitstand bench command`: command round trip through the API, the broker and a device.

The platform runs in this process as `leitstand serve --role all` does
(`leitstand.runtime.start`), on a throw-away database, with the embedded broker or a
Mosquitto subprocess (password file with the service user and the device). A
simulated barrier (paho) answers every command with `delivered` and `succeeded`.
A platform admin's API token sends N commands one after another through the HTTP API
(FastAPI TestClient against the app); the round trip of each is the time from the
POST until ingest has committed its result (the live update
`{"type": "command", "status": "confirmed"}` from `app.state.ingestor`: the device's
`succeeded`, in the platform's words).
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from leitstand.bench import free_port, machine_line, percentile, start_mosquitto, throwaway_database

DEVICE_SERIAL = "BENCH-CMD-0001"
WAIT = 10.0


@dataclass
class CommandBenchReport:
    backend: str
    broker: str
    commands: int
    round_trips_ms: list[float] = field(default_factory=list)
    timed_out: int = 0
    machine: str = ""

    @property
    def p50_ms(self) -> float:
        return percentile(self.round_trips_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.round_trips_ms, 99)

    @property
    def max_ms(self) -> float:
        return max(self.round_trips_ms, default=0.0)


def _prepare(factory: Any) -> tuple[int, str, str]:
    """A platform admin with an API token and a licensed barrier with MQTT credentials."""
    from leitstand.auth.models import ApiToken
    from leitstand.auth.secrets import new_token, token_digest
    from leitstand.bootstrap import create_user, root_tenant
    from leitstand.devices.models import Device, DeviceCredential
    from leitstand.licenses.models import License
    from leitstand.permissions import Permission
    from leitstand.tenancy.scope import system_session

    with system_session(factory, reason="bench command prepares") as db:
        root = root_tenant(db)
        assert root is not None
        user = create_user(db, tenant=root, email="bench-admin@example.com", display_name="Bench admin",
                           password=None, role="platform_admin")
        raw = new_token("lst_")
        db.add(ApiToken(user_id=user.id, name="bench", prefix=raw[:10], token_hash=token_digest(raw),
                        scopes=sorted(permission.value for permission in Permission)))
        device = Device(tenant_id=root.id, type_key="barrier", serial_number=DEVICE_SERIAL, name="Bench barrier",
                        claimed_at=datetime.now(UTC))
        db.add(device)
        db.flush()
        secret = new_token()
        db.add(DeviceCredential(device_id=device.id, tenant_id=root.id, username=DEVICE_SERIAL,
                                secret_hash=token_digest(secret)))
        starts = date.today() - timedelta(days=10)
        db.add(License(device_id=device.id, tenant_id=root.id, starts_on=starts, ends_on=starts + timedelta(days=365),
                       term_months=12, auto_renew=False))
        db.commit()
        return device.id, raw, secret


class SimulatedDevice:
    """Answers every command request with delivered, then succeeded."""

    def __init__(self, port: int, serial: str, secret: str, mqtt5: bool) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.serial = serial
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=serial,
                                  protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311)
        self.client.username_pw_set(serial, secret)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        from leitstand.transports.native import topics

        if not reason.is_failure:
            client.subscribe(topics.command_subscription(self.serial), qos=1)

    def _on_message(self, client: Any, _u: Any, message: Any) -> None:
        from leitstand.ingest.message import CommandOutcome, DeviceMessage, MessageKind
        from leitstand.transports.native import codec

        request = codec.decode_command(message.topic, message.payload)
        for outcome in (CommandOutcome.delivered, CommandOutcome.succeeded):
            now = datetime.now(UTC)
            topic, payload = codec.encode_uplink(DeviceMessage(
                serial=self.serial, kind=MessageKind.command_result, received_at=now, sent_at=now,
                command_id=request.command_id, command_outcome=outcome))
            client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def bench_command(database_server: str, *, commands: int = 200, broker: str = "embedded",
                  out: Callable[[str], None] = print) -> CommandBenchReport:
    """Run the benchmark, print the figures and return them."""
    from fastapi.testclient import TestClient

    from leitstand.commands.states import CommandStatus
    from leitstand.config import Settings
    from leitstand.runtime import start

    if broker not in ("embedded", "mosquitto"):
        raise ValueError("broker is embedded or mosquitto")
    if commands < 1:
        raise ValueError("commands >= 1")
    for chatty in ("amqtt", "transitions"):
        logging.getLogger(chatty).setLevel(logging.ERROR)
    device_secret = secrets.token_urlsafe(24)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leitstand-bench-command-")))
        url = stack.enter_context(throwaway_database(database_server))
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        out(f"bench command: {backend} at {make_url(url).render_as_string(hide_password=True)}, broker {broker}, "
            f"{commands} commands")
        if broker == "mosquitto":
            mosquitto = stack.enter_context(start_mosquitto({DEVICE_SERIAL: device_secret}))
            mqtt: dict[str, Any] = {"mqtt_broker": "mosquitto", "mqtt_port": mosquitto.port,
                                    "mqtt_service_username": mosquitto.service_user,
                                    "mqtt_service_password": mosquitto.service_password}
        else:
            mqtt = {"mqtt_broker": "embedded", "mqtt_port": free_port(),
                    "mqtt_service_password": secrets.token_urlsafe(16)}
        settings = Settings(database_url=url, data_dir=folder, secret_key="bench", port=free_port(),
                            mqtt_host="127.0.0.1", **mqtt)
        process, app = start(settings, "all")
        stack.callback(process.stop)
        device_id, token, secret = _prepare(app.state.session_factory)
        if broker == "embedded":
            device_secret = secret  # the embedded broker checks the credential in the database

        done: dict[str, float] = {}
        events: dict[str, threading.Event] = {}
        lock = threading.Lock()

        def event_for(command_id: str) -> threading.Event:
            with lock:
                return events.setdefault(command_id, threading.Event())

        def on_update(_tenant_id: int, update: dict[str, Any]) -> None:
            if update.get("type") == "command" and str(update.get("status")) == CommandStatus.confirmed:
                done.setdefault(update["command_id"], time.perf_counter())
                event_for(update["command_id"]).set()

        app.state.ingestor.listeners.append(on_update)
        device = SimulatedDevice(settings.mqtt_port, DEVICE_SERIAL, device_secret, mqtt5=broker == "mosquitto")
        stack.callback(device.close)
        if not device.subscribed.wait(WAIT):
            raise RuntimeError("the simulated device did not subscribe to its commands")

        client = stack.enter_context(TestClient(app))
        headers = {"Authorization": f"Bearer {token}"}
        report = CommandBenchReport(backend, broker, commands, machine=machine_line())
        path = f"/api/v1/devices/{device_id}/commands"
        for n in range(commands + 1):  # the first one warms up
            started = time.perf_counter()
            response = client.post(path, json={"name": "open"}, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
            command_id = response.json()["id"]
            if not event_for(command_id).wait(WAIT):
                report.timed_out += 1
                continue
            if n:
                report.round_trips_ms.append((done[command_id] - started) * 1000)
    out(render(report))
    return report


def render(report: CommandBenchReport) -> str:
    return "\n".join([
        f"bench command on {report.backend} + {report.broker}: {report.commands} commands, one after another "
        f"(after 1 warm-up)",
        f"  round trip POST -> result 'confirmed' committed: p50 {report.p50_ms:.0f} ms, p99 {report.p99_ms:.0f} ms, "
        f"max {report.max_ms:.0f} ms ({len(report.round_trips_ms)} measured, {report.timed_out} not answered "
        f"within {WAIT:.0f} s)",
        f"  {report.machine}",
    ])
