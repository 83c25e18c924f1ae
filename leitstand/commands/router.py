"""Which transport takes a device's command: the one that delivers for the device's binding.

Each process attaches the transports it runs (leitstand.runtime); a command for a device
whose binding no transport of this process delivers is not sent, stays requested with
the reason, and expires as any unanswered command does.
"""

from __future__ import annotations

import threading

import dataclasses
from collections.abc import Sequence

from leitstand.ingest.message import NATIVE_TRANSPORT, BindingKey, CommandRequest, native_key
from leitstand.transports.base import DeliveryFailed, Handover, Receipt, Transport


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

    def deliver(self, request: CommandRequest, bindings: Sequence[BindingKey] = ()) -> Receipt:
        """Hand the command to the transport of the first of the device's bindings (oldest first)
        that a transport of this process delivers to, naming that binding; raises DeliveryFailed."""
        for binding in bindings or [native_key(request.serial)]:
            transport = self._by_binding.get(binding.transport)
            if transport is not None:
                handed = transport.deliver(dataclasses.replace(request, binding=binding)) or Handover.sent
                return handed if isinstance(handed, Receipt) else Receipt(handed)
        names = ", ".join(sorted({binding.transport for binding in bindings})) or NATIVE_TRANSPORT
        raise DeliveryFailed(f"no transport of this process delivers to {names} devices")
