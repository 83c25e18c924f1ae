"""What a Leitstand process runs, by role: `leitstand serve --role api|ingest|scheduler|all`.

The start-up list is explicit and in order:

    broker     the embedded MQTT broker (role all or ingest, when mqtt_broker = "embedded")
    rollups    the rollup drainer (every role, on PostgreSQL; one process at a time drains)
    ingest     the MQTT ingest worker (role all or ingest)
    scheduler  periodic jobs, one leader per installation (role all or scheduler)
    api        the HTTP API and live stream (role all or api; runs in the foreground)

Live updates: in one process (role all) ingest feeds the API's hub directly. Across
processes they travel through PostgreSQL NOTIFY: ingest and scheduler processes
notify, every API process listens (leitstand.state.bridge).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leitstand.commands.dispatch import SendFailed
from leitstand.config import Settings
from leitstand.ingest.message import CommandRequest

log = logging.getLogger(__name__)
ROLES = ("all", "api", "ingest", "scheduler")


class MqttCommandSender:
    """The command service's transport: publishes over an MQTT connection of this process."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher

    def send(self, request: CommandRequest) -> None:
        from leitstand.transports.mqtt.worker import CommandNotSent

        try:
            self.publisher.publish_command(request)
        except CommandNotSent as error:
            raise SendFailed(str(error)) from error


@dataclass
class Process:
    settings: Settings
    role: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # stop everything else regardless
                log.exception("error while stopping")


def broker_file(settings: Settings) -> Path:
    return settings.data_dir / "embedded-broker.json"


def announce_embedded_broker(settings: Settings) -> None:
    """Leave the running embedded broker's address in the data dir, for `leitstand simulate`."""
    broker_file(settings).write_text(json.dumps({"host": settings.mqtt_host, "port": settings.mqtt_port}))


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def embedded_broker_settings(settings: Settings) -> Settings:
    """The embedded broker's port, moved to a free one if another broker already holds
    the default and none was configured (a developer machine running Mosquitto)."""
    if settings.mqtt_broker != "embedded" or "LEITSTAND_MQTT_PORT" in os.environ:
        return settings
    port = settings.mqtt_port
    while not port_is_free(settings.mqtt_host, port) and port < settings.mqtt_port + 100:
        port += 1
    if port != settings.mqtt_port:
        log.warning("MQTT port %s is taken; the embedded broker listens on %s", settings.mqtt_port, port)
    return settings.model_copy(update={"mqtt_port": port})


def running_broker_settings(settings: Settings) -> Settings:
    """Settings pointing at the embedded broker a `serve`/`demo` of this data dir announced."""
    if "LEITSTAND_MQTT_PORT" in os.environ or not broker_file(settings).exists():
        return settings
    address = json.loads(broker_file(settings).read_text())
    return settings.model_copy(update={"mqtt_host": address["host"], "mqtt_port": int(address["port"])})


def _connect_broker_admin(settings: Settings) -> None:
    """With Mosquitto, device users follow device credentials through dynamic security."""
    if settings.mqtt_broker != "mosquitto" or not settings.mqtt_admin_username:
        return
    from leitstand.devices.claiming import credential_listeners
    from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin

    admin = MosquittoDeviceAdmin(settings.mqtt_host, settings.mqtt_port, settings.mqtt_admin_username,
                                 settings.mqtt_admin_password, tls_ca_file=settings.mqtt_tls_ca_file or None)
    credential_listeners.append(admin.apply_credentials)


def start(settings: Settings, role: str) -> tuple[Process, Any]:
    """Start the background parts of `role`; returns the process and the app (or None)."""
    from leitstand.bootstrap import initialise
    from leitstand.db.engine import make_engine, make_session_factory

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in ("all", "ingest"):
        settings = embedded_broker_settings(settings)
    process = Process(settings, role)
    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    initialise(settings, factory)
    postgres = engine.dialect.name == "postgresql"
    _connect_broker_admin(settings)

    app = None
    notifier = None  # PostgreSQL NOTIFY, for a process without its own live hub
    publish: Callable[[int, dict[str, Any]], None] = lambda tenant_id, update: None  # noqa: E731
    if role in ("all", "api"):
        from leitstand.web.app import create_app

        app = create_app(settings)
        publish = app.state.live_hub.publish
        if postgres and role == "api":
            from leitstand.state.bridge import PgListener

            listener = PgListener(settings.effective_database_url, app.state.live_hub)
            listener.start()
            process.stoppers.append(listener.stop)
    elif postgres:
        from leitstand.state.bridge import PgNotifier

        notifier = PgNotifier(engine)
        publish = notifier.publish

    if role in ("all", "ingest") and settings.mqtt_broker == "embedded":
        from leitstand.transports.mqtt.embedded import EmbeddedBroker

        broker = EmbeddedBroker(settings, factory)
        broker.start()
        process.stoppers.append(broker.stop)
        announce_embedded_broker(settings)
        process.stoppers.append(lambda: broker_file(settings).unlink(missing_ok=True))

    if postgres:
        from leitstand.telemetry.drainer import RollupDrainer

        drainer = RollupDrainer(engine, settings.rollup_drain_seconds)
        drainer.start()
        process.stoppers.append(drainer.stop)

    if role in ("all", "ingest"):
        from leitstand.ingest.pipeline import Ingestor
        from leitstand.transports.mqtt.worker import IngestWorker

        ingestor = app.state.ingestor if app is not None else Ingestor(
            factory, live_batch_listeners=[notifier.publish_many] if notifier else [],
            defer_rollups=settings.telemetry_rollups == "deferred")
        worker = IngestWorker(settings, ingestor, name=f"ingest-{settings.port}")
        worker.start()
        process.stoppers.append(worker.stop)
        if app is not None:
            app.state.command_sender = MqttCommandSender(worker)
    elif app is not None:
        from leitstand.transports.mqtt.worker import CommandPublisher

        publisher = CommandPublisher(settings, name=f"commands-{settings.port}")
        publisher.start()
        process.stoppers.append(publisher.stop)
        app.state.command_sender = MqttCommandSender(publisher)

    if app is None and role in ("ingest", "scheduler"):
        from leitstand.notifications.dispatch import start_notifier, stop_notifier

        notifier = start_notifier(settings, factory)  # alarms raised here are notified from here
        process.stoppers.append(lambda: stop_notifier(notifier))

    if role in ("all", "scheduler"):
        from leitstand.scheduler.loop import Scheduler

        scheduler = Scheduler(factory, publish, settings=settings)
        thread = threading.Thread(target=scheduler.run_forever, name="scheduler", daemon=True)
        thread.start()
        process.stoppers.append(scheduler.stop)
    process.stoppers.append(engine.dispose)
    if role in ("all", "ingest"):
        from leitstand.transports.mqtt.worker import settle_garbage_collector

        settle_garbage_collector()
    return process, app


def serve(settings: Settings, role: str = "all") -> None:
    """Run a process of `role` until interrupted."""
    process, app = start(settings, role)
    try:
        if app is not None:
            import uvicorn

            uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
        else:
            stop = threading.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
            log.info("running role %s until stopped", role)
            stop.wait()
    finally:
        process.stop()
