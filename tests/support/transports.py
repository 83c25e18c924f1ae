"""Transport doubles: what the platform hands a transport, kept for a test to look at.

`RecordingTransport` stands in for the device's network where a test wants to see the
commands that left (every test app's native binding goes to one). `DoubleTransport` is a
whole transport of the registry: it carries a message in through the `Ingest` port, a
command out through `deliver`, and asks the `Ask` port as an OCPP station's connection
would; it needs no edit of the runtime or the app.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from leitstand.ingest.message import CommandRequest, DeviceMessage, IngestReport
from leitstand.transports.base import DeliveryFailed, Handover, TransportContext
from leitstand.transports.registry import TransportEntry, register, unregister


class RecordingTransport:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[CommandRequest] = []
        self.fail_with: str | None = None
        self.hand_over_as = Handover.sent  # Handover.queued: act as a network that queues downlinks

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def deliver(self, request: CommandRequest) -> Handover:
        if self.fail_with:
            raise DeliveryFailed(self.fail_with)
        self.sent.append(request)
        return self.hand_over_as


@dataclass(frozen=True)
class DoubleHello:
    """The double's question at connection time (as an OCPP BootNotification would ask)."""

    external_id: str
    model: str


DOUBLE = "double"  # the transport's name, and the binding transport it delivers to


class DoubleTransport:
    """A transport whose far end is the test: `receive` plays a device's frame, `delivered` the downlinks."""

    name = DOUBLE
    instances: list[DoubleTransport] = []

    def __init__(self, context: TransportContext) -> None:
        self.context = context
        self.delivered: list[CommandRequest] = []
        self.running = threading.Event()
        DoubleTransport.instances.append(self)

    def start(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.running.clear()
        DoubleTransport.instances.remove(self)

    def deliver(self, request: CommandRequest) -> None:
        if not self.running.is_set():
            raise DeliveryFailed("the double transport is stopped")
        self.delivered.append(request)

    def receive(self, messages: list[DeviceMessage]) -> IngestReport:
        return self.context.ingest.accept(messages)

    def hello(self, external_id: str, model: str, timeout: float = 5.0) -> Any:
        return self.context.ask.ask(DoubleHello(external_id, model), timeout)


def register_double() -> None:
    register(TransportEntry(DOUBLE, build=DoubleTransport, delivers_for=(DOUBLE,), roles=frozenset({"all", "ingest"})))


def unregister_double() -> None:
    unregister(DOUBLE)
