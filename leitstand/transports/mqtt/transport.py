"""The native protocol over MQTT as one transport of the registry.

In a process of role all or ingest it runs the embedded broker (when `mqtt_broker` is
"embedded") and the ingest worker, which also publishes the commands; in an API process
it runs only a command publisher. Commands for native bindings are delivered here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leitstand.config import Settings
from leitstand.db.locks import hold_name
from leitstand.ingest.message import CommandRequest
from leitstand.transports.base import DeliveryFailed, TransportContext

log = logging.getLogger(__name__)


class IngestNameTaken(RuntimeError):
    """Another process of this installation runs an ingest worker under the same name."""


def broker_file(settings: Settings) -> Path:
    return settings.data_dir / "embedded-broker.json"


def announce_embedded_broker(settings: Settings) -> None:
    """Leave the running embedded broker's address in the data dir, for `leitstand simulate`."""
    broker_file(settings).write_text(json.dumps({"host": settings.mqtt_host, "port": settings.mqtt_port}))


class MqttTransport:
    name = "mqtt"

    def __init__(self, context: TransportContext) -> None:
        self.context = context
        self.worker = None  # the ingest worker (roles all and ingest)
        self.broker = None  # the embedded broker, when this process runs it
        self._publisher = None  # what publishes commands: the worker, or an API process's publisher
        self._stoppers: list[Callable[[], None]] = []

    def start(self) -> None:
        options = dict(self.context.options)
        # The standalone ingest worker connects to a broker that runs elsewhere.
        run_broker = options.pop("embedded_broker", True) and self.context.settings.mqtt_broker == "embedded"
        try:
            if self.context.role in ("all", "ingest"):
                if run_broker:
                    self._start_embedded_broker()
                self._start_ingest_worker(options)
            else:
                self._start_command_publisher()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._stoppers:
            try:
                self._stoppers.pop()()
            except Exception:  # stop the rest regardless
                log.exception("error while stopping the MQTT transport")

    def deliver(self, request: CommandRequest) -> None:
        from leitstand.transports.mqtt.worker import CommandNotSent

        if self._publisher is None:
            raise DeliveryFailed("the MQTT transport of this process is not running")
        try:
            self._publisher.publish_command(request)
        except CommandNotSent as error:
            raise DeliveryFailed(str(error)) from error

    # --- the parts --------------------------------------------------------------------

    def _start_embedded_broker(self) -> None:
        from leitstand.transports.mqtt.embedded import EmbeddedBroker

        settings = self.context.settings
        broker = EmbeddedBroker(settings, self.context.session_factory, self.context.ingest)
        broker.start()
        self._stoppers.append(broker.stop)
        self.broker = broker
        announce_embedded_broker(settings)
        self._stoppers.append(lambda: broker_file(settings).unlink(missing_ok=True))

    def _start_ingest_worker(self, options: dict[str, Any]) -> None:
        """The ingest worker under the process's name (client id `leitstand-{name}`), once per installation.

        Two processes under one client id take the broker session from each other in turn,
        neither getting far; Mosquitto 2.0 just closes the older connection, with no reason a
        client could tell from any other disconnect. So the name is claimed in the database
        first, and a second process under it stops with IngestNameTaken.
        """
        from leitstand.transports.mqtt.worker import IngestWorker

        wait = options.pop("wait", 10.0)
        worker = IngestWorker(self.context.settings, self.context.ingest, name=self.context.name, **options)
        release = hold_name(self.context.engine, worker.client_id)
        if release is None:
            raise IngestNameTaken(
                f"another process of this installation runs an ingest worker named {self.context.name!r} (MQTT "
                f"client id {worker.client_id}); give each ingest process its own name (leitstand serve --name, "
                f"python -m leitstand.worker --name)")
        self._stoppers.append(release)
        worker.start(wait)
        self._stoppers.append(worker.stop)
        self.worker = self._publisher = worker

    def _start_command_publisher(self) -> None:
        from leitstand.transports.mqtt.worker import CommandPublisher

        publisher = CommandPublisher(self.context.settings, name=f"commands-{self.context.settings.port}")
        publisher.start()
        self._stoppers.append(publisher.stop)
        self._publisher = publisher
