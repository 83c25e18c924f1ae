"""What a Leitstand process runs, by role: `leitstand serve --role api|ingest|scheduler|all`.

The start-up list is explicit and in order:

    broker     the embedded MQTT broker (role all or ingest, when mqtt_broker = "embedded")
    rollups    the rollup drainer (every role, on PostgreSQL; one process at a time drains)
    ingest     the MQTT ingest worker (role all or ingest), its name held once per installation
    notifier   alarm notifications (role ingest or scheduler; with the API, the app's own)
    scheduler  periodic jobs, one leader per installation (role all or scheduler)
    extra      a command's own components, after the role's (`leitstand demo`: its simulated fleet)
    api        the HTTP API and live stream (role all or api; runs in the foreground)

The standalone ingest worker (`run_ingest_worker`) starts rollups, notifier and ingest
with the same functions as role ingest.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leitstand.commands.dispatch import SendFailed
from leitstand.config import Settings
from leitstand.ingest.message import CommandRequest

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from leitstand.ingest.pipeline import Ingestor
    from leitstand.transports.mqtt.worker import Ingest, IngestWorker

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
    app: Any = None  # the FastAPI app of roles all and api
    ingest_worker: Any = None  # the MQTT ingest worker of roles all and ingest

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


def connect_broker_admin(settings: Settings) -> Callable[[], None]:
    """With Mosquitto, device users follow device credentials through dynamic security:
    the admin connection subscribes to `credential_listeners` (claims, rotations,
    decommissioning, the demo's and the simulator's credentials). Returns what
    disconnects it again; with the embedded broker (which reads the database) nothing to do.
    """
    if settings.mqtt_broker != "mosquitto" or not settings.mqtt_admin_username:
        return lambda: None
    from leitstand.devices.claiming import credential_listeners
    from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin

    admin = MosquittoDeviceAdmin.from_settings(settings)
    credential_listeners.append(admin.apply_credentials)

    def disconnect() -> None:
        if admin.apply_credentials in credential_listeners:
            credential_listeners.remove(admin.apply_credentials)
        admin.close()

    return disconnect


class IngestNameTaken(RuntimeError):
    """Another process of this installation runs an ingest worker under the same name."""


def default_ingest_name(settings: Settings) -> str:
    return f"ingest-{settings.port}"


# --- the components a role starts; each adds its own stopper ---------------------------------


def start_rollup_drainer(process: Process, engine: Engine) -> None:
    """Deferred rollups, on PostgreSQL (every role; one process at a time drains)."""
    from leitstand.telemetry.drainer import RollupDrainer

    drainer = RollupDrainer(engine, process.settings.rollup_drain_seconds)
    drainer.start()
    process.stoppers.append(drainer.stop)


def start_alarm_notifier(process: Process, factory: sessionmaker[Session]) -> None:
    """Alarms raised in this process are notified from here (an API process has the app's own)."""
    from leitstand.notifications.dispatch import start_notifier, stop_notifier

    notifier = start_notifier(process.settings, factory)
    process.stoppers.append(lambda: stop_notifier(notifier))


def ingest_without_api(settings: Settings, engine: Engine, factory: sessionmaker[Session]) -> Ingestor:
    """The ingest pipeline of a process without the API: live updates leave by PostgreSQL NOTIFY."""
    from leitstand.ingest.pipeline import Ingestor
    from leitstand.state.bridge import PgNotifier

    live = [PgNotifier(engine).publish_many] if engine.dialect.name == "postgresql" else []
    return Ingestor(factory, live_batch_listeners=live, defer_rollups=settings.telemetry_rollups == "deferred")


def start_ingest_worker(process: Process, engine: Engine, ingestor: Ingest, *, name: str,
                        wait: float | None = 10.0, **batching: int) -> IngestWorker:
    """The MQTT ingest worker under `name` (client id `leitstand-{name}`), once per installation.

    Two processes under one client id take the broker session from each other in turn,
    neither getting far; Mosquitto 2.0 just closes the older connection, with no reason a
    client could tell from any other disconnect. So the name is claimed in the database
    first, and a second process under it stops with IngestNameTaken.
    """
    from leitstand.db.locks import hold_name
    from leitstand.transports.mqtt.worker import IngestWorker

    worker = IngestWorker(process.settings, ingestor, name=name, **batching)  # checks the name
    release = hold_name(engine, worker.client_id)
    if release is None:
        raise IngestNameTaken(
            f"another process of this installation runs an ingest worker named {name!r} (MQTT client id "
            f"{worker.client_id}); give each ingest process its own name (leitstand serve --name, "
            f"python -m leitstand.transports.mqtt.worker --name)")
    process.stoppers.append(release)
    try:
        worker.start(wait)
    except BaseException:
        release()
        process.stoppers.remove(release)
        raise
    process.stoppers.append(worker.stop)
    process.ingest_worker = worker
    return worker


def start(settings: Settings, role: str, *, name: str | None = None,
          extra: Sequence[Callable[[Process], None]] = ()) -> tuple[Process, Any]:
    """Start the background parts of `role`; returns the process and the app (or None).

    name: the ingest worker's (roles all and ingest); default `ingest-{port}`.
    extra: components a command adds after the role's (the demo's simulated fleet); each
    appends its own stopper, so it stops before what it uses.
    """
    from leitstand.db.engine import make_engine

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in ("all", "ingest"):
        settings = embedded_broker_settings(settings)
    process = Process(settings, role)
    engine = make_engine(settings.effective_database_url)
    process.stoppers.append(engine.dispose)
    try:
        _start_role(process, engine, role, name or default_ingest_name(settings))
        for component in extra:
            component(process)
    except BaseException:
        process.stop()
        raise
    return process, process.app


def _start_role(process: Process, engine: Engine, role: str, ingest_name: str) -> None:
    from leitstand.bootstrap import initialise
    from leitstand.db.engine import make_session_factory

    settings = process.settings
    factory = make_session_factory(engine)
    initialise(settings, factory)
    postgres = engine.dialect.name == "postgresql"
    process.stoppers.append(connect_broker_admin(settings))

    app = None
    publish: Callable[[int, dict[str, Any]], None] = lambda tenant_id, update: None  # noqa: E731
    if role in ("all", "api"):
        from leitstand.web.app import create_app

        app = process.app = create_app(settings)
        publish = app.state.live_hub.publish
        if postgres and role == "api":
            from leitstand.state.bridge import PgListener

            listener = PgListener(settings.effective_database_url, app.state.live_hub)
            listener.start()
            process.stoppers.append(listener.stop)
    elif postgres:
        from leitstand.state.bridge import PgNotifier

        publish = PgNotifier(engine).publish  # a process without its own live hub

    if role in ("all", "ingest") and settings.mqtt_broker == "embedded":
        from leitstand.transports.mqtt.embedded import EmbeddedBroker

        broker = EmbeddedBroker(settings, factory)
        broker.start()
        process.stoppers.append(broker.stop)
        announce_embedded_broker(settings)
        process.stoppers.append(lambda: broker_file(settings).unlink(missing_ok=True))

    start_rollup_drainer(process, engine)

    if role in ("all", "ingest"):
        ingestor = app.state.ingestor if app is not None else ingest_without_api(settings, engine, factory)
        worker = start_ingest_worker(process, engine, ingestor, name=ingest_name)
        if app is not None:
            app.state.command_sender = MqttCommandSender(worker)
    elif app is not None:
        from leitstand.transports.mqtt.worker import CommandPublisher

        publisher = CommandPublisher(settings, name=f"commands-{settings.port}")
        publisher.start()
        process.stoppers.append(publisher.stop)
        app.state.command_sender = MqttCommandSender(publisher)

    if app is None and role in ("ingest", "scheduler"):
        start_alarm_notifier(process, factory)

    if role in ("all", "scheduler"):
        from leitstand.scheduler.loop import Scheduler

        scheduler = Scheduler(factory, publish, settings=settings)
        thread = threading.Thread(target=scheduler.run_forever, name="scheduler", daemon=True)
        thread.start()
        process.stoppers.append(scheduler.stop)
    if role in ("all", "ingest"):
        from leitstand.transports.mqtt.worker import settle_garbage_collector

        settle_garbage_collector()


def run_ingest_worker(settings: Settings, *, name: str, batch_messages: int, batch_ms: int,
                      stop: threading.Event | None = None) -> None:
    """The standalone ingest worker (`python -m leitstand.transports.mqtt.worker`): what
    `serve --role ingest` runs, on a broker running elsewhere and a database migrated
    already. Runs until SIGTERM/SIGINT (or `stop`); prints "ready" once subscribed."""
    from leitstand.db.engine import make_engine, make_session_factory
    from leitstand.transports.mqtt.worker import settle_garbage_collector

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    process = Process(settings, "ingest")
    # No ping before every checkout (a round trip per session, several per batch): a batch
    # whose connection broke fails, is retried, and the pool replaces the connection.
    engine = make_engine(settings.effective_database_url, pool_pre_ping=False)
    process.stoppers.append(engine.dispose)
    try:
        factory = make_session_factory(engine)
        start_rollup_drainer(process, engine)
        start_alarm_notifier(process, factory)
        settle_garbage_collector()
        worker = start_ingest_worker(process, engine, ingest_without_api(settings, engine, factory), name=name,
                                     wait=None, batch_messages=batch_messages, batch_ms=batch_ms)
        while not stop.is_set() and not worker.subscribed.wait(0.2):
            pass
        if worker.subscribed.is_set():
            print(f"ready {worker.client_id} {worker.subscription}", flush=True)
        stop.wait()
    finally:
        process.stop()


def serve(settings: Settings, role: str = "all", *, name: str | None = None,
          extra: Sequence[Callable[[Process], None]] = ()) -> None:
    """Run a process of `role` until interrupted (`name` and `extra`: see `start`)."""
    process, app = start(settings, role, name=name, extra=extra)
    try:
        if app is not None:
            import uvicorn

            # X-Forwarded-For is read by leitstand.web.deps.client_ip, from LEITSTAND_TRUSTED_PROXIES
            # only; uvicorn's own reading would trust 127.0.0.1 whatever the settings say.
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=False)
        else:
            stop = threading.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
            log.info("running role %s until stopped", role)
            stop.wait()
    finally:
        process.stop()
