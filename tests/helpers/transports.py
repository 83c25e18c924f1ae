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

from sqlalchemy import select

from leitstand.clock import clock
from leitstand.devices.models import Device, DeviceBinding
from leitstand.devicetypes.codecs import UplinkContext, codec_for
from leitstand.devicetypes.spec import spec_for
from leitstand.ingest.message import BindingKey, CommandOutcome, CommandRequest, DeviceMessage, IngestReport, MessageKind
from leitstand.tenancy.scope import system_session
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

    def __init__(self, context: TransportContext) -> None:
        self.context = context
        self.delivered: list[CommandRequest] = []
        self.running = threading.Event()

    def start(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.running.clear()

    def deliver(self, request: CommandRequest) -> None:
        if not self.running.is_set():
            raise DeliveryFailed("the double transport is stopped")
        self.delivered.append(request)

    def receive(self, messages: list[DeviceMessage]) -> IngestReport:
        return self.context.ingest.accept(messages)

    def binding(self, connection_id: int, external_id: str) -> BindingKey:
        return BindingKey(DOUBLE, connection_id, external_id)

    def uplink(self, connection_id: int, external_id: str, payload: bytes, port: int | None = None) -> IngestReport:
        """A device's own bytes, decoded by the codec its type declares, as a LoRaWAN transport does."""
        binding = self.binding(connection_id, external_id)
        now = clock.now()
        with system_session(self.context.session_factory, reason="double transport: the device's type") as db:
            type_key = db.scalar(select(Device.type_key).join(DeviceBinding, DeviceBinding.device_id == Device.id)
                                 .where(DeviceBinding.connection_id == connection_id,
                                        DeviceBinding.external_id == external_id))
        if type_key is None:  # the pipeline refuses and counts the stranger
            return self.receive([DeviceMessage.via(binding, MessageKind.heartbeat, now)])
        decoded = codec_for(spec_for(type_key)).decode_uplink(payload, UplinkContext(received_at=now, port=port))
        return self.receive(decoded.messages(external_id, now, binding=binding))

    def answer(self, request: CommandRequest, outcome: CommandOutcome) -> IngestReport:
        """The device's answer to a command, coming back by the binding it left by."""
        assert request.binding is not None
        return self.receive([DeviceMessage.via(request.binding, MessageKind.command_result, clock.now(),
                                               command_id=request.command_id, command_outcome=outcome)])

    def frames(self) -> list[bytes]:
        """The downlinks as the device would receive them, encoded by its type's codec."""
        with system_session(self.context.session_factory, reason="double transport: the device's type") as db:
            types = {request.command_id: db.scalar(select(Device.type_key).where(Device.serial_number == request.serial))
                     for request in self.delivered}
        return [codec_for(spec_for(types[request.command_id])).encode_downlink(request) for request in self.delivered]

    def hello(self, external_id: str, model: str, timeout: float = 5.0) -> Any:
        return self.context.ask.ask(DoubleHello(external_id, model), timeout)


def register_double() -> None:
    register(TransportEntry(DOUBLE, build=DoubleTransport, delivers_for=(DOUBLE,), roles=frozenset({"all", "ingest"})))


def unregister_double() -> None:
    unregister(DOUBLE)
