"""What a Leitstand process runs, by role: `leitstand serve --role api|ingest|scheduler|all`.

`STARTUP` is the one list of components, in the order they start; each role starts a
subset of it, and the standalone ingest worker (`run_ingest_worker`) starts the same
components as role ingest:

    database     migrate, sync the shipped device types, make sure a root tenant exists
    api          the HTTP API and live stream (role all or api; served in the foreground)
    broker-admin device users follow credentials on Mosquitto (dynamic security)
    rollups      the rollup drainer (every role, on PostgreSQL; one process at a time drains)
    transports   the transports the settings enable (leitstand.transports.registry), which
                 attach to the command router for the bindings they deliver to
    notifier     alarm notifications (every role raises alarms: rules at ingest, API acknowledgements, jobs)
    scheduler    periodic jobs, one leader per installation (role all or scheduler)
    settle-memory  freeze what start-up built, so garbage collection skips it (ingest)

After them, a command's own components (`extra`: the demo's simulated fleet).

Who listens to what is decided here too, on the process's session factory (its listeners,
leitstand.listeners, are the process's own, not a module's): the notifier component subscribes
to alarm changes (alarms.service.ALARM_CHANGES), the broker-admin component to device
credentials (devices.claiming.CREDENTIAL_CHANGES); each unsubscribes again when its process
stops. The app is made on that same factory, so what its requests change is heard too.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from leitstand.commands.router import CommandRouter
from leitstand.config import Settings
from leitstand.transports import registry
from leitstand.transports.base import Ask, Ingest, Transport, TransportContext
from leitstand.transports.mqtt.transport import IngestNameTaken, broker_file

log = logging.getLogger(__name__)
ROLES = ("all", "api", "ingest", "scheduler")
__all__ = ["ROLES", "STARTUP", "IngestNameTaken", "Process", "broker_file", "run_ingest_worker", "serve", "start"]


@dataclass
class Process:
    """One running process: what its components built, and how to stop them again."""

    settings: Settings
    role: str
    engine: Engine
    factory: sessionmaker[Session]
    name: str  # the ingest worker's among its peers
    options: dict[str, Any] = field(default_factory=dict)  # the transports' start options
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    app: Any = None  # the FastAPI app of roles all and api
    ingest: Ingest | None = None
    commands: CommandRouter = field(default_factory=CommandRouter)
    ask: Ask = field(default_factory=Ask)
    transports: dict[str, Transport] = field(default_factory=dict)
    publish: Callable[[int, dict[str, Any]], None] = lambda tenant_id, update: None  # noqa: E731

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def ingest_worker(self) -> Any:
        """The MQTT ingest worker of roles all and ingest."""
        mqtt = self.transports.get("mqtt")
        return getattr(mqtt, "worker", None)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # stop everything else regardless
                log.exception("error while stopping")


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


def connect_broker_admin(settings: Settings, factory: sessionmaker[Session]) -> Callable[[], None]:
    """With Mosquitto, device users follow device credentials through dynamic security:
    the admin connection subscribes to the `CREDENTIAL_CHANGES` of `factory`'s sessions
    (claims, rotations, decommissioning, the demo's and the simulator's credentials). Returns
    what unsubscribes and disconnects it again; with the embedded broker (which reads the
    database) nothing to do.
    """
    if settings.mqtt_broker != "mosquitto" or not settings.mqtt_admin_username:
        return lambda: None
    from leitstand.devices.claiming import CREDENTIAL_CHANGES
    from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin

    admin = MosquittoDeviceAdmin.from_settings(settings)
    stop_listening = CREDENTIAL_CHANGES.listeners(factory).subscribe(admin.apply_credentials)

    def disconnect() -> None:
        stop_listening()
        admin.close()

    return disconnect


def default_ingest_name(settings: Settings) -> str:
    return f"ingest-{settings.port}"


# --- the components; each adds its own stopper -----------------------------------------------


def start_database(process: Process) -> None:
    from leitstand.bootstrap import initialise

    initialise(process.settings, process.factory)


def start_api(process: Process) -> None:
    from leitstand.app import create_app

    app = process.app = create_app(process.settings, process.engine, process.factory)
    process.publish = app.state.live_hub.publish
    process.ingest = app.state.ingestor
    process.commands = app.state.commands
    if process.postgres and process.role == "api":
        from leitstand.state.bridge import PgListener

        listener = PgListener(process.settings.effective_database_url, app.state.live_hub)
        listener.start()
        process.stoppers.append(listener.stop)


def start_broker_admin(process: Process) -> None:
    process.stoppers.append(connect_broker_admin(process.settings, process.factory))


def start_rollup_drainer(process: Process) -> None:
    """Deferred rollups, on PostgreSQL (every role; one process at a time drains)."""
    from leitstand.telemetry.drainer import RollupDrainer

    drainer = RollupDrainer(process.engine, process.settings.rollup_drain_seconds)
    drainer.start()
    process.stoppers.append(drainer.stop)


def ingest_of(process: Process) -> Ingest:
    """The process's ingest pipeline: the app's, or one whose live updates leave by PostgreSQL NOTIFY."""
    if process.ingest is None:
        from leitstand.state.bridge import PgNotifier

        live = [PgNotifier(process.engine).publish_many] if process.postgres else []
        from leitstand.app import ingestor_for

        process.ingest = ingestor_for(process.factory, live_batch_listeners=live,
                                      defer_rollups=process.settings.telemetry_rollups == "deferred")
    return process.ingest


def start_transports(process: Process) -> None:
    """Every transport the settings enable for this role, attached to the command router."""
    process.stoppers.append(process.ask.close)
    for entry in registry.enabled(process.settings.transports, process.role):
        assert entry.build is not None
        context = TransportContext(settings=process.settings, role=process.role, engine=process.engine,
                                   session_factory=process.factory, ingest=ingest_of(process), ask=process.ask,
                                   name=process.name, options=dict(process.options.get(entry.name, {})))
        transport = entry.build(context)
        transport.start()
        process.stoppers.append(transport.stop)
        process.transports[entry.name] = transport
        for binding_transport in entry.delivers_for:
            process.commands.attach(binding_transport, transport)
        process.stoppers.append(lambda transport=transport: process.commands.detach(transport))


def start_alarm_notifier(process: Process) -> None:
    """Alarms raised in this process (every role raises some) are notified from here: the
    notifier listens to the alarm changes of the process's sessions until it stops."""
    from leitstand.notifications.dispatch import start_notifier, stop_notifier

    notifier = start_notifier(process.settings, process.factory)
    process.stoppers.append(lambda: stop_notifier(notifier))
    if process.app is not None:
        process.app.state.notifier = notifier


@contextmanager
def app_without_transports(settings: Settings, **notifier_options: Any) -> Iterator[Any]:
    """The app on an engine of its own, with its notifier but no transports, stopped on exit:
    what tests and the portal benchmark serve in-process (TestClient) without `serve`."""
    from leitstand.db.engine import make_engine
    from leitstand.notifications.dispatch import start_notifier, stop_notifier
    from leitstand.app import create_app

    engine = make_engine(settings.effective_database_url)
    app = create_app(settings, engine)
    app.state.notifier = start_notifier(settings, app.state.session_factory, **notifier_options)
    try:
        yield app
    finally:
        stop_notifier(app.state.notifier)
        engine.dispose()


def start_scheduler(process: Process) -> None:
    from leitstand.scheduler.loop import Scheduler

    if process.app is None and process.postgres:
        from leitstand.state.bridge import PgNotifier

        process.publish = PgNotifier(process.engine).publish  # a process without its own live hub
    scheduler = Scheduler(process.factory, process.publish, settings=process.settings, commands=process.commands)
    thread = threading.Thread(target=scheduler.run_forever, name="scheduler", daemon=True)
    thread.start()
    process.stoppers.append(scheduler.stop)


def settle_memory(process: Process) -> None:
    from leitstand.transports.mqtt.worker import settle_garbage_collector

    settle_garbage_collector()


@dataclass(frozen=True)
class Component:
    name: str
    roles: frozenset[str]
    start: Callable[[Process], None]


EVERY_ROLE = frozenset(ROLES)
STARTUP: tuple[Component, ...] = (
    Component("database", EVERY_ROLE, start_database),
    Component("api", frozenset({"all", "api"}), start_api),
    Component("broker-admin", EVERY_ROLE, start_broker_admin),
    Component("rollups", EVERY_ROLE, start_rollup_drainer),
    Component("transports", frozenset({"all", "ingest", "api", "scheduler"}), start_transports),
    Component("notifier", EVERY_ROLE, start_alarm_notifier),
    Component("scheduler", frozenset({"all", "scheduler"}), start_scheduler),
    Component("settle-memory", frozenset({"all", "ingest"}), settle_memory),
)


def start(settings: Settings, role: str, *, name: str | None = None, skip: frozenset[str] = frozenset(),
          options: dict[str, dict[str, Any]] | None = None, pool_pre_ping: bool = True,
          extra: Sequence[Callable[[Process], None]] = ()) -> tuple[Process, Any]:
    """Start the components of `role` (but those in `skip`); returns the process and the app (or None).

    name: the ingest worker's (roles all and ingest); default `ingest-{port}`.
    options: start options per transport name (the MQTT worker's batching, say).
    extra: components a command adds after the role's (the demo's simulated fleet); each
    appends its own stopper, so it stops before what it uses.
    """
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in ("all", "ingest") and "mqtt" in settings.transports:
        settings = embedded_broker_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_pre_ping=pool_pre_ping)
    process = Process(settings, role, engine, make_session_factory(engine), name or default_ingest_name(settings),
                      options or {})
    process.stoppers.append(engine.dispose)
    try:
        for component in STARTUP:
            if role in component.roles and component.name not in skip:
                component.start(process)
        for start_extra in extra:
            start_extra(process)
    except BaseException:
        process.stop()
        raise
    return process, process.app


def run_ingest_worker(settings: Settings, *, name: str, batch_messages: int, batch_ms: int,
                      stop: threading.Event | None = None) -> None:
    """The standalone ingest worker (`python -m leitstand.worker`): role ingest
    on a broker running elsewhere and a database migrated already. Runs until SIGTERM/SIGINT
    (or `stop`); prints "ready" once subscribed."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    mqtt = {"embedded_broker": False, "wait": None, "batch_messages": batch_messages, "batch_ms": batch_ms}
    # No ping before every checkout (a round trip per session, several per batch): a batch
    # whose connection broke fails, is retried, and the pool replaces the connection.
    process, _ = start(settings.model_copy(update={"transports": ["mqtt"]}), "ingest", name=name,
                       skip=frozenset({"database", "broker-admin"}), options={"mqtt": mqtt}, pool_pre_ping=False)
    try:
        worker = process.ingest_worker
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
