"""The canonical device message: what a device said, whatever transport carried it.

Transport adapters (MQTT, HTTP, later OCPP, LoRaWAN, meter files) turn their frames
into `DeviceMessage`s and `CommandRequest`s back into frames. Everything past the
adapter (ingest, storage, rules, the portal) sees only these types.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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

    serial: the device's serial number, as authenticated by the transport.
    received_at: when the platform got it; readings carry the device's own timestamps.
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


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A command on its way to a device."""

    serial: str
    command_id: str
    name: str
    parameters: dict[str, Any]
    expires_at: datetime


class RejectReason:
    malformed = "malformed"  # not JSON, wrong shape, wrong types
    oversized = "oversized"
    unknown_device = "unknown_device"
    decommissioned = "decommissioned"
    unknown_key = "unknown_key"
    bad_value = "bad_value"  # NaN, Inf, out of the type's range, wrong type for the key
    bad_timestamp = "bad_timestamp"
    unlicensed = "unlicensed"  # dropped by the license gate, not an error of the device
    unknown_command = "unknown_command"
    bad_credentials = "bad_credentials"  # counted in metrics only: a stranger must not move a device's counters
    forbidden_topic = "forbidden_topic"  # published outside its own topics: the embedded broker closed the connection


@dataclass
class IngestReport:
    """What became of a batch: messages accepted, points stored, refusals by reason."""

    accepted: int = 0
    points_written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
