"""Applying accepted messages to the store: points, live state, events, command results.

A `BatchWriter` collects a batch's effects in memory and writes them in few
statements on `flush()`, inside the ingest transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leitstand.commands.models import Command, CommandStatus
from leitstand.devicetypes.spec import MetricKind
from leitstand.ingest.message import CommandOutcome, DeviceMessage, MessageKind
from leitstand.ingest.pipeline import KnownDevice, RejectReason, Rejection, check_reading
from leitstand.state.models import DeviceEvent, DeviceState

MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 200

# Which command status may follow which: results can arrive late or twice, never backwards.
NEXT_STATUSES: dict[str, frozenset[str]] = {
    CommandStatus.requested: frozenset({CommandStatus.delivered, CommandStatus.succeeded, CommandStatus.failed}),
    CommandStatus.sent: frozenset({CommandStatus.delivered, CommandStatus.succeeded, CommandStatus.failed}),
    CommandStatus.delivered: frozenset({CommandStatus.succeeded, CommandStatus.failed}),
}


def insert_ignoring_duplicates(db: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))


class DeviceUpdate:
    """What one batch changes about one device's live state."""

    def __init__(self, device: KnownDevice) -> None:
        self.device = device
        self.last_seen: datetime | None = None
        self.latest: dict[str, tuple[datetime, Any]] = {}
        self.attributes: dict[str, Any] = {}

    def seen(self, at: datetime) -> None:
        self.last_seen = max(self.last_seen or at, at)

    def value(self, key: str, at: datetime, value: Any) -> None:
        current = self.latest.get(key)
        if current is None or at >= current[0]:
            self.latest[key] = (at, value)


class BatchWriter:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.points: list[Any] = []
        self.updates: dict[int, DeviceUpdate] = {}
        self.events: list[dict[str, Any]] = []
        self.live_updates: list[tuple[int, dict[str, Any]]] = []

    def _update_for(self, device: KnownDevice) -> DeviceUpdate:
        return self.updates.setdefault(device.id, DeviceUpdate(device))

    def add(self, device: KnownDevice, message: DeviceMessage, licensed: bool) -> None:
        """Validate one message fully, then record its effects. Raises Rejection, changing nothing."""
        handler = {
            MessageKind.telemetry: self._telemetry,
            MessageKind.attributes: self._attributes,
            MessageKind.event: self._event,
            MessageKind.heartbeat: self._heartbeat,
            MessageKind.command_result: self._command_result,
        }[message.kind]
        handler(device, message)

    def _heartbeat(self, device: KnownDevice, message: DeviceMessage) -> None:
        self._update_for(device).seen(message.received_at)

    def _telemetry(self, device: KnownDevice, message: DeviceMessage) -> None:
        from leitstand.telemetry.store import Point

        if not message.readings:
            raise Rejection(RejectReason.malformed, "telemetry without values")
        for reading in message.readings:
            check_reading(device.type_spec, reading, message.received_at)
        update = self._update_for(device)
        update.seen(message.received_at)
        for reading in message.readings:
            self.points.append(Point(device.id, reading.key, reading.at, reading.value, device.time_zone))
            update.value(reading.key, reading.at, reading.value)

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
        self.events.append({
            "device_id": device.id, "tenant_id": device.tenant_id, "at": at,
            "kind": "error" if error else "event", "code": code,
            "severity": error.severity.value if error else "", "data": message.event_data,
        })
        self._update_for(device).seen(message.received_at)

    def _command_result(self, device: KnownDevice, message: DeviceMessage) -> None:
        command = self.db.scalar(
            select(Command).where(Command.public_id == message.command_id, Command.device_id == device.id)
        )
        if command is None:
            raise Rejection(RejectReason.unknown_command, f"no command {message.command_id!r} for {device.serial}")
        outcome = message.command_outcome
        self._update_for(device).seen(message.received_at)
        if outcome is None or outcome not in NEXT_STATUSES.get(command.status, frozenset()):
            return  # late or repeated answer: the command has moved on already
        command.status = outcome.value
        if outcome == CommandOutcome.delivered:
            command.delivered_at = message.received_at
        else:
            command.delivered_at = command.delivered_at or message.received_at
            command.finished_at = message.received_at
            command.detail = message.command_detail[:300]
        self.live_updates.append((device.tenant_id, {
            "type": "command", "device_id": device.id, "command_id": command.public_id, "status": command.status,
        }))

    # --- writing ------------------------------------------------------------------------

    def flush(self) -> int:
        from leitstand.telemetry.store import write_points

        written = write_points(self.db.connection(), self.points) if self.points else 0
        self._write_states()
        insert_ignoring_duplicates(self.db, DeviceEvent.__table__, self.events)
        for event in self.events:
            self.live_updates.append((event["tenant_id"], {
                "type": "event", "device_id": event["device_id"], "code": event["code"],
                "severity": event["severity"], "at": event["at"].isoformat(),
            }))
        return written

    def _write_states(self) -> None:
        if not self.updates:
            return
        states = DeviceState.__table__
        # Plain rows, not ORM objects: this runs for every device of every batch. Locked in
        # device order, so two workers updating the same devices serialise instead of
        # overwriting each other's latest values (SQLite has one writer anyway).
        existing = {
            row.device_id: row
            for row in self.db.execute(
                select(states.c.device_id, states.c.online, states.c.last_seen_at, states.c.latest, states.c.attributes)
                .where(states.c.device_id.in_(sorted(self.updates)))
                .order_by(states.c.device_id)
                .with_for_update()
            )
        }
        state_keys_by_type: dict[str, set[str]] = {}
        inserts: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for device_id, update in self.updates.items():
            device = update.device
            row = existing.get(device_id)
            online = bool(row and row.online)
            last_seen = row.last_seen_at if row else None
            values: dict[str, Any] = {"b_device_id": device_id}
            if update.last_seen and (last_seen is None or update.last_seen > last_seen):
                last_seen = values["last_seen_at"] = update.last_seen
            if not online and update.last_seen:
                online = values["online"] = True
                values["online_changed_at"] = update.last_seen
                self.events.append(_event(device, update.last_seen, "connectivity", "online"))
            state_keys = state_keys_by_type.setdefault(
                device.type_spec.key, {key.key for key in device.type_spec.telemetry if key.kind == MetricKind.state}
            )
            latest = dict(row.latest or {}) if row else {}
            changed_latest = False
            for key, (at, value) in update.latest.items():
                previous = latest.get(key)
                if previous is not None and previous["at"] > at.isoformat():
                    continue
                if key in state_keys and (previous is None or previous["value"] != value):
                    self.events.append(_event(device, at, "state", f"{key}={value}"))
                latest[key] = {"at": at.isoformat(), "value": value}
                changed_latest = True
            if changed_latest:
                values["latest"] = latest
            if update.attributes:
                values["attributes"] = {**((row.attributes or {}) if row else {}), **update.attributes}
            if row is None:
                inserts.append({"device_id": device_id, "tenant_id": device.tenant_id, "online": online,
                                "last_seen_at": last_seen, "online_changed_at": values.get("online_changed_at"),
                                "latest": latest, "attributes": values.get("attributes", {})})
            elif len(values) > 1:
                changes.append(values)
            self.live_updates.append((device.tenant_id, {
                "type": "device", "device_id": device_id, "online": online,
                "last_seen_at": last_seen.isoformat() if last_seen else None,
                "latest": {key: latest[key] for key in update.latest},
            }))
        if inserts:
            self.db.execute(states.insert(), inserts)
        # One UPDATE per set of changed columns: executemany needs the same columns in every row.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in changes:
            by_columns.setdefault(tuple(sorted(values)), []).append(values)
        for columns, rows in by_columns.items():
            assignments = {column: bindparam(column) for column in columns if column != "b_device_id"}
            self.db.execute(
                states.update().where(states.c.device_id == bindparam("b_device_id")).values(assignments), rows
            )


def _event(device: KnownDevice, at: datetime, kind: str, code: str) -> dict[str, Any]:
    return {"device_id": device.id, "tenant_id": device.tenant_id, "at": at, "kind": kind, "code": code,
            "severity": "", "data": {}}
