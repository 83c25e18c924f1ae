"""Applying accepted messages: a batch's points, live state, events and command results.

A `BatchWriter` checks each message against its device's type and collects the batch's
effects in memory; on `flush()` it hands them to the domains that store them, through
their ports (leitstand.ingest.ports), in few statements inside the ingest transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leitstand.devicetypes.service import UnknownCodeSighting, count_unknown_codes
from leitstand.ingest.checks import Rejection, check_reading, plausible_times
from leitstand.ingest.events import IngestedBatch, IngestedEvent, KnownDevice
from leitstand.ingest.message import (
    LIVE_BACKFILL, NETWORK_EVENTS, BackfillPolicy, DeviceMessage, MessageKind, RejectReason,
)
from leitstand.ingest.ports import DeviceUpdate, IngestPorts, LiveUpdate

MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 200


class BatchWriter:
    """One batch's effects, collected message by message and written on `flush()` through the ports."""

    def __init__(self, db: Session, ports: IngestPorts, backfill: BackfillPolicy = LIVE_BACKFILL) -> None:
        self.db = db
        self.ports = ports
        self.make_point = ports.points.point  # looked up once per batch, called for every reading
        self.backfill = backfill  # the source's: how old its readings may be
        self.points: list[Any] = []
        self.updates: dict[int, DeviceUpdate] = {}
        self.events: list[dict[str, Any]] = []
        # Codes the device's type does not list, per (type key, code): counted, and the rules
        # step raises one alarm per type and code (leitstand.alarms.evaluation).
        self.unknown_codes: dict[tuple[str, str], UnknownCodeSighting] = {}
        self.live_updates: list[LiveUpdate] = []

    def _update_for(self, device: KnownDevice) -> DeviceUpdate:
        update = self.updates.get(device.id)
        if update is None:
            update = self.updates[device.id] = DeviceUpdate(device)
        return update

    def add(self, device: KnownDevice, message: DeviceMessage, licensed: bool) -> None:
        """Validate one message fully, then record its effects. Raises Rejection, changing nothing."""
        getattr(self, _HANDLERS[message.kind])(device, message)

    def _heartbeat(self, device: KnownDevice, message: DeviceMessage) -> None:
        self._update_for(device).seen(message.received_at)

    def _telemetry(self, device: KnownDevice, message: DeviceMessage) -> None:
        readings = message.readings
        if not readings:
            raise Rejection(RejectReason.malformed, "telemetry without values")
        spec, received_at = device.type_spec, message.received_at
        times = plausible_times(received_at, self.backfill)
        for reading in readings:
            check_reading(spec, reading, times)
        update = self._update_for(device)
        update.seen(received_at)
        device_id, zone, append, point = device.id, device.time_zone, self.points.append, self.make_point
        for reading in readings:
            key, at, value = reading.key, reading.at, reading.value
            append(point(device_id, key, at, value, zone, reading.status, reading.interval_end))
            update.value(key, at, value)

    def _attributes(self, device: KnownDevice, message: DeviceMessage) -> None:
        attributes = message.attributes
        if not attributes or len(attributes) > MAX_ATTRIBUTES:
            raise Rejection(RejectReason.malformed, f"attributes must be 1 to {MAX_ATTRIBUTES} entries")
        for name, value in attributes.items():
            if not isinstance(name, str) or not 0 < len(name) <= 64:
                raise Rejection(RejectReason.malformed, "attribute names are 1 to 64 characters")
            if isinstance(value, float) and value != value:  # NaN
                raise Rejection(RejectReason.bad_value, f"attribute {name} is NaN")
            if not (value is None or isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= MAX_ATTRIBUTE_TEXT)):
                raise Rejection(RejectReason.bad_value, f"attribute {name} must be a number, flag or short text")
        update = self._update_for(device)
        update.seen(message.received_at)
        update.attributes.update(attributes)

    def _event(self, device: KnownDevice, message: DeviceMessage) -> None:
        code = message.event_code or ""
        if not 0 < len(code) <= 64:
            raise Rejection(RejectReason.malformed, "an event needs a code of 1 to 64 characters")
        known = {error.code: error for error in device.type_spec.errors}
        error = known.get(code)
        at = message.sent_at or message.received_at
        network = code in NETWORK_EVENTS  # what the transport's network saw, not a code of the device's type
        # A code outside the catalogue is kept as sent (newer firmware sends new codes) and marked.
        self.events.append({
            "device_id": device.id, "tenant_id": device.tenant_id, "at": at,
            "kind": "error" if error else ("network" if network else "event"), "code": code,
            "severity": error.severity.value if error else "", "data": message.event_data,
            "unknown_code": error is None and not network,
        })
        if error is None and not network:
            self._unknown_code(device, code, message.received_at)
        self._update_for(device).seen(message.received_at)

    def _unknown_code(self, device: KnownDevice, code: str, received_at: datetime) -> None:
        sighting = self.unknown_codes.get((device.type_spec.key, code))
        if sighting is None:
            self.unknown_codes[(device.type_spec.key, code)] = UnknownCodeSighting(
                device.type_spec.key, code, device.id, received_at, received_at)
        else:
            sighting.count += 1
            sighting.first_at, sighting.last_at = min(sighting.first_at, received_at), max(sighting.last_at, received_at)

    def _command_result(self, device: KnownDevice, message: DeviceMessage) -> None:
        status = self.ports.answer_command(self.db, device, message)  # raises Rejection for an unknown command
        self._update_for(device).seen(message.received_at)
        if status is None:
            return  # late or repeated answer: the command has moved on already
        self.live_updates.append((device.tenant_id, {
            "type": "command", "device_id": device.id, "command_id": message.command_id, "status": status,
        }))

    # --- writing ------------------------------------------------------------------------

    def flush(self) -> int:
        written = self.ports.points.write(self.db, self.points)
        self.ports.states(self.db, self)  # adds the events and live updates the states imply
        count_unknown_codes(self.db, self.unknown_codes.values())
        for event in self.events:
            self.live_updates.append((event["tenant_id"], {
                "type": "event", "device_id": event["device_id"], "code": event["code"],
                "severity": event["severity"], "unknown_code": event["unknown_code"], "at": event["at"].isoformat(),
            }))
        return written

    def ingested(self) -> IngestedBatch:
        """What the flushed batch did, for the subscribers: the writer's own collections, shared
        rather than copied (it is done with them), the events as typed records."""
        updates = self.updates
        return IngestedBatch(
            devices={device_id: update.device for device_id, update in updates.items()},
            last_seen={device_id: update.last_seen for device_id, update in updates.items()},
            latest={device_id: update.latest for device_id, update in updates.items()},
            events=[IngestedEvent(device_id=event["device_id"], kind=event["kind"], code=event["code"], at=event["at"],
                                  severity=event["severity"], data=event["data"], unknown_code=event["unknown_code"])
                    for event in self.events],
            unknown_codes=list(self.unknown_codes.values()),
        )


_HANDLERS = {
    MessageKind.telemetry: "_telemetry",
    MessageKind.attributes: "_attributes",
    MessageKind.event: "_event",
    MessageKind.heartbeat: "_heartbeat",
    MessageKind.command_result: "_command_result",
}
