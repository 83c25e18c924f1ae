"""The canonical device message: what a device said, whatever transport carried it.

Transport adapters (MQTT, HTTP, later OCPP, LoRaWAN, meter files) turn their frames
into `DeviceMessage`s and `CommandRequest`s back into frames. Everything past the
adapter (ingest, storage, rules, the portal) sees only these types.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple


Value = float | str | bool


class MessageKind(enum.StrEnum):
    telemetry = "telemetry"  # measured values, one or many timestamps
    attributes = "attributes"  # slow-changing facts: firmware, configuration
    event = "event"  # something happened: an error code, a button press
    heartbeat = "heartbeat"  # "I am alive", also the 24-hour license heartbeat
    command_result = "command_result"  # the device's answer to a command


class CommandOutcome(enum.StrEnum):
    # What a network that holds downlinks reports before the device has them (LoRaWAN).
    queued = "queued"  # the network server holds it for the device's next uplink
    sent = "sent"  # handed to a gateway for transmission
    delivered = "delivered"  # the device received the command and is working on it
    succeeded = "succeeded"
    failed = "failed"


# What a device itself may answer (the native protocol's `status`): the others are its network's.
DEVICE_OUTCOMES = (CommandOutcome.delivered, CommandOutcome.succeeded, CommandOutcome.failed)


class ReadingStatus(enum.StrEnum):
    """How trustworthy a value is, as meter data names it (e.g. MSCONS, EDIFACT energy data).

    A device measures; a meter operator's batch may also deliver a value it substituted for
    a missing one, a provisional value to be confirmed later, or an estimate. Live devices
    (the native protocol) always send measured values.
    """

    measured = "measured"
    substitute = "substitute"  # "Ersatzwert": filled in for a missing or faulty measurement
    provisional = "provisional"  # "vorläufiger Wert": may be corrected by a later delivery
    estimated = "estimated"  # "Schätzwert": forecast or extrapolated


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one key.

    at: the instant measured, or for a value over an interval (a quarter-hour energy value)
    the interval's start; interval_end is then the interval's (exclusive) end.
    """

    key: str
    at: datetime
    value: Value
    status: ReadingStatus = ReadingStatus.measured
    interval_end: datetime | None = None


# No reading from before this instant is stored, whatever its source: the API and the
# telemetry partitions start here too.
EARLIEST_READING = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BackfillPolicy:
    """How far from its arrival a source's readings may lie in time.

    A live device (MQTT, HTTP) reports what it measured a moment ago, or buffered while it
    was offline: a reading a year old or from the future means a dead clock, and is refused
    (`bad_timestamp`), so it never lands in 1970 or 2099. A batch source (a meter operator's
    files, an upload) delivers history on purpose: years of quarter-hour values.

    max_past: the oldest a reading may be; None for any age back to EARLIEST_READING.
    max_future: how far ahead of arrival a reading (or its interval end) may lie; covers
    clocks running a little fast.
    """

    name: str
    max_past: timedelta | None
    max_future: timedelta = timedelta(minutes=10)

    def window(self, received_at: datetime) -> tuple[datetime, datetime]:
        """The earliest and latest timestamp a reading received at `received_at` may carry."""
        earliest = EARLIEST_READING if self.max_past is None else max(received_at - self.max_past, EARLIEST_READING)
        return earliest, received_at + self.max_future


# Each source names its policy; Ingestor.accept() applies LIVE_BACKFILL unless told otherwise.
LIVE_BACKFILL = BackfillPolicy("live", max_past=timedelta(days=366))
BATCH_BACKFILL = BackfillPolicy("batch", max_past=None)


# The event a transport records when the device (re)joined its network: the network server
# forgot what was queued for it. Not one of a device type's own codes.
NETWORK_JOINED = "network.joined"
NETWORK_EVENTS = frozenset({NETWORK_JOINED})

NATIVE_TRANSPORT = "native"  # the binding of devices on Leitstand's own protocol (MQTT, HTTP)


class BindingKey(NamedTuple):
    """How a transport names a device: (transport, connection id, external id).
    A tuple, so that the ingest directory's cache lookup is one dict hit."""

    transport: str
    connection_id: int | None
    external_id: str


def native_key(serial: str) -> BindingKey:
    """The binding the native transports (MQTT, HTTP) reach a device by: its serial."""
    return BindingKey(NATIVE_TRANSPORT, None, serial)


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
    # A network's own id of the downlink that carried the command (a ChirpStack queue item),
    # for reports that name that instead of the command id.
    command_network_ref: str | None = None

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
    # The binding the command leaves by (set by the command router): a LoRaWAN transport
    # addresses the DevEUI it names, an OCPP one the charge point's identity.
    binding: BindingKey | None = None


class RejectReason:
    malformed = "malformed"  # not JSON, wrong shape, wrong types
    oversized = "oversized"
    unknown_device = "unknown_device"  # a native transport's serial that no device has
    unknown_binding = "unknown_binding"  # a non-native transport's (connection, external id) that no device has
    decommissioned = "decommissioned"
    unknown_key = "unknown_key"
    bad_value = "bad_value"  # NaN, Inf, out of the type's range, wrong type for the key
    bad_timestamp = "bad_timestamp"
    unlicensed = "unlicensed"  # dropped by the license gate, not an error of the device
    unknown_command = "unknown_command"
    bad_credentials = "bad_credentials"  # counted in metrics only: a stranger must not move a device's counters
    forbidden_topic = "forbidden_topic"  # published outside its own topics: the embedded broker closed the connection
    duplicate = "duplicate"  # an event a network server sent before (same event id)


@dataclass
class IngestReport:
    """What became of a batch: messages accepted, points stored, refusals by reason."""

    accepted: int = 0
    points_written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
