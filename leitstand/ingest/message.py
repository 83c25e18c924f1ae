"""The canonical device message: what a device said, whatever transport carried it.

Transport adapters (MQTT, HTTP, later OCPP, LoRaWAN, meter files) turn their frames
into `DeviceMessage`s and `CommandRequest`s back into frames. Everything past the
adapter (ingest, storage, rules, the portal) sees only these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitstand.devices.models import BindingKey, native_key

Value = float | str | bool


class MessageKind(enum.StrEnum):
    telemetry = "telemetry"  # measured values, one or many timestamps
    attributes = "attributes"  # slow-changing facts: firmware, configuration
    event = "event"  # something happened: an error code, a button press
    heartbeat = "heartbeat"  # "I am alive", also the 24-hour license heartbeat
    command_result = "command_result"  # the device's answer to a command


class CommandOutcome(enum.StrEnum):
    delivered = "delivered"  # the device received the command and is working on it
    succeeded = "succeeded"
    failed = "failed"


@dataclass(frozen=True, slots=True)
class Reading:
    key: str
    at: datetime
    value: Value


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One message from one device.

    serial: the device's serial number, as authenticated by a native transport (MQTT, HTTP).
    received_at: when the platform got it; readings carry the device's own timestamps.
    binding: how a non-native transport names the device (its connection and the external
        id there: a DevEUI, a charge-point identity); None for the native transports, whose
        binding is the serial. Build such a message with `DeviceMessage.via(binding, ...)`.
    """

    serial: str
    kind: MessageKind
    received_at: datetime
    # The device's own timestamp of an attribute, event, heartbeat or result message.
    sent_at: datetime | None = None
    readings: tuple[Reading, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    event_code: str | None = None
    event_data: dict[str, Any] = field(default_factory=dict)
    command_id: str | None = None
    command_outcome: CommandOutcome | None = None
    command_detail: str = ""
    binding: BindingKey | None = None

    @classmethod
    def via(cls, binding: BindingKey, kind: MessageKind, received_at: datetime, **fields: Any) -> DeviceMessage:
        """A message that arrived through a binding; `serial` holds its external id, for logs."""
        return cls(serial=binding.external_id, kind=kind, received_at=received_at, binding=binding, **fields)

    @property
    def binding_key(self) -> BindingKey:
        """The binding ingest resolves the device by."""
        return self.binding or native_key(self.serial)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A command on its way to a device."""

    serial: str
    command_id: str
    name: str
    parameters: dict[str, Any]
    expires_at: datetime
