"""Which transport takes a device's command: the one that delivers for the device's binding.

Each process attaches the transports it runs (leitstand.runtime); a command for a device
whose binding no transport of this process delivers is not sent, stays requested with
the reason, and expires as any unanswered command does.
"""

from __future__ import annotations

import threading

from leitstand.ingest.message import CommandRequest
from leitstand.transports.base import DeliveryFailed, Handover, Transport

NATIVE = "native"  # the binding of devices speaking Leitstand's own protocol over MQTT or HTTP


class CommandRouter:
    def __init__(self) -> None:
        self._by_binding: dict[str, Transport] = {}
        self._lock = threading.Lock()

    def attach(self, binding_transport: str, transport: Transport) -> None:
        with self._lock:
            self._by_binding[binding_transport] = transport

    def detach(self, transport: Transport) -> None:
        with self._lock:
            for key in [key for key, attached in self._by_binding.items() if attached is transport]:
                del self._by_binding[key]

    def transport_for(self, binding_transport: str) -> Transport | None:
        return self._by_binding.get(binding_transport)

    def deliver(self, request: CommandRequest, binding_transport: str = NATIVE) -> Handover:
        """Hand the command to the transport of the device's binding; raises DeliveryFailed."""
        transport = self._by_binding.get(binding_transport)
        if transport is None:
            raise DeliveryFailed(f"no transport of this process delivers to {binding_transport} devices")
        return transport.deliver(request) or Handover.sent
