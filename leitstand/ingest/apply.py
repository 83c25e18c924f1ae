"""Applying accepted messages to the store: points, live state, events, command results.

A `BatchWriter` collects a batch's effects in memory and writes them in few
statements on `flush()`, inside the ingest transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leitstand.commands.models import Command
from leitstand.commands.states import apply_device_answer
from leitstand.db.base import one_of
from leitstand.devicetypes.service import UnknownCodeSighting, count_unknown_codes
from leitstand.devicetypes.spec import MetricKind
from leitstand.ingest.checks import Rejection, check_reading, plausible_times
from leitstand.ingest.events import IngestedBatch, IngestedEvent, KnownDevice
from leitstand.ingest.message import LIVE_BACKFILL, BackfillPolicy, DeviceMessage, MessageKind, RejectReason
from leitstand.state.models import DeviceEvent, DeviceState
from leitstand.telemetry.store import Point, write_points

MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 200


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
    def __init__(self, db: Session, defer_rollups: bool = False, backfill: BackfillPolicy = LIVE_BACKFILL) -> None:
        self.db = db
        self.defer_rollups = defer_rollups
        self.backfill = backfill  # the source's: how old its readings may be
        self.points: list[Any] = []
        self.updates: dict[int, DeviceUpdate] = {}
        self.events: list[dict[str, Any]] = []
        # Codes the device's type does not list, per (type key, code): counted, and the rules
        # step raises one alarm per type and code (leitstand.alarms.evaluation).
        self.unknown_codes: dict[tuple[str, str], UnknownCodeSighting] = {}
        self.live_updates: list[tuple[int, dict[str, Any]]] = []

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
        device_id, zone, append = device.id, device.time_zone, self.points.append
        for reading in readings:
            key, at, value = reading.key, reading.at, reading.value
            append(Point(device_id, key, at, value, zone, reading.status, reading.interval_end))
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
        # A code outside the catalogue is kept as sent (newer firmware sends new codes) and marked.
        self.events.append({
            "device_id": device.id, "tenant_id": device.tenant_id, "at": at,
            "kind": "error" if error else "event", "code": code,
            "severity": error.severity.value if error else "", "data": message.event_data,
            "unknown_code": error is None,
        })
        if error is None:
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
        command = self.db.scalar(
            select(Command).where(Command.public_id == message.command_id, Command.device_id == device.id)
        )
        if command is None:
            raise Rejection(RejectReason.unknown_command, f"no command {message.command_id!r} for {device.serial}")
        outcome = message.command_outcome
        self._update_for(device).seen(message.received_at)
        if outcome is None or not apply_device_answer(command, outcome, message.received_at, message.command_detail):
            return  # late or repeated answer: the command has moved on already
        self.live_updates.append((device.tenant_id, {
            "type": "command", "device_id": device.id, "command_id": command.public_id, "status": command.status,
        }))

    # --- writing ------------------------------------------------------------------------

    def flush(self) -> int:
        written = write_points(self.db.connection(), self.points, defer_rollups=self.defer_rollups) if self.points else 0
        self._write_states()
        insert_ignoring_duplicates(self.db, DeviceEvent.__table__, self.events)
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

    def _write_states(self) -> None:
        if not self.updates:
            return
        states = DeviceState.__table__
        dialect = self.db.get_bind().dialect.name
        # Plain rows, not ORM objects: this runs for every device of every batch. Locked in
        # device order, so two workers updating the same devices serialise instead of
        # overwriting each other's latest values (SQLite has one writer anyway). `latest`
        # comes as text for orjson; attributes only when the batch changes some.
        with_attributes = any(update.attributes for update in self.updates.values())
        columns = [states.c.device_id, states.c.online, states.c.last_seen_at, cast(states.c.latest, Text)]
        if with_attributes:
            columns.append(states.c.attributes)
        existing = {
            row[0]: row
            for row in self.db.execute(
                select(*columns).where(one_of(states.c.device_id, sorted(self.updates), dialect))
                .order_by(states.c.device_id).with_for_update()
            )
        }
        state_keys_by_type: dict[str, set[str]] = {}
        stamps: dict[datetime, str] = {}

        def stamp_of(at: datetime) -> str:
            # A message's readings share their timestamp, a batch's messages their receive time.
            stamp = stamps.get(at)
            if stamp is None:
                stamp = stamps[at] = at.isoformat()
            return stamp

        inserts: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for device_id, update in self.updates.items():
            device = update.device
            row = existing.get(device_id)
            online = bool(row and row[1])
            last_seen = row[2] if row else None
            values: dict[str, Any] = {"b_device_id": device_id}
            if update.last_seen and (last_seen is None or update.last_seen > last_seen):
                last_seen = values["last_seen_at"] = update.last_seen
            if not online and update.last_seen:
                online = values["online"] = True
                values["online_changed_at"] = update.last_seen
                self.events.append(_event(device, update.last_seen, "connectivity", "online"))
            state_keys = state_keys_by_type.get(device.type_spec.key)
            if state_keys is None:
                state_keys = {key.key for key in device.type_spec.telemetry if key.kind == MetricKind.state}
                state_keys_by_type[device.type_spec.key] = state_keys
            latest = orjson.loads(row[3]) if row and row[3] else {}
            changed_latest: dict[str, Any] = {}
            for key, (at, value) in update.latest.items():
                stamp = stamp_of(at)
                previous = latest.get(key)
                if previous is not None and previous["at"] > stamp:
                    continue
                if key in state_keys and (previous is None or previous["value"] != value):
                    self.events.append(_event(device, at, "state", f"{key}={value}"))
                latest[key] = changed_latest[key] = {"at": stamp, "value": value}
            if changed_latest:
                values["latest"] = orjson.dumps(latest).decode()
            if update.attributes:
                values["attributes"] = {**((row[4] or {}) if row else {}), **update.attributes}
            if row is None:
                inserts.append({"device_id": device_id, "tenant_id": device.tenant_id, "online": online,
                                "last_seen_at": last_seen, "online_changed_at": values.get("online_changed_at"),
                                "latest": latest, "attributes": values.get("attributes", {})})
            elif len(values) > 1:
                changes.append(values)
            self.live_updates.append((device.tenant_id, {
                "type": "device", "device_id": device_id, "online": online,
                "last_seen_at": stamp_of(last_seen) if last_seen else None,
                "latest": {key: latest[key] for key in update.latest},
            }))
        if inserts:
            self.db.execute(states.insert(), inserts)
        if not changes:
            return
        if dialect == "postgresql":
            _update_states_postgresql(self.db, changes)
            return
        # One UPDATE per set of changed columns: executemany needs the same columns in every row.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in changes:
            by_columns.setdefault(tuple(sorted(values)), []).append(values)
        for names, rows in by_columns.items():
            assignments = {name: _bound(name) for name in names if name != "b_device_id"}
            self.db.execute(
                states.update().where(states.c.device_id == bindparam("b_device_id")).values(assignments), rows
            )


def _bound(name: str) -> Any:
    """A parameter for an UPDATE of device_states; `latest` arrives as JSON text already."""
    return type_coerce(bindparam(name), Text) if name == "latest" else bindparam(name)


_PG_STATE_CHANGES = (
    # Session-local, emptied at commit; NULL means "unchanged".
    "CREATE TEMP TABLE IF NOT EXISTS device_state_changes (device_id integer, last_seen_at timestamptz,"
    " online boolean, online_changed_at timestamptz, latest text, attributes text) ON COMMIT DELETE ROWS;"
    " DELETE FROM device_state_changes"
)
_PG_COPY_STATE_CHANGES = "COPY device_state_changes FROM STDIN (FORMAT BINARY)"
_PG_APPLY_STATE_CHANGES = (
    "UPDATE device_states AS s SET last_seen_at = coalesce(c.last_seen_at, s.last_seen_at),"
    " online = coalesce(c.online, s.online), online_changed_at = coalesce(c.online_changed_at, s.online_changed_at),"
    " latest = coalesce(CAST(c.latest AS json), s.latest), attributes = coalesce(CAST(c.attributes AS json), s.attributes)"
    " FROM device_state_changes AS c WHERE s.device_id = c.device_id"
)


def _update_states_postgresql(db: Session, changes: list[dict[str, Any]]) -> None:
    """All of a batch's state changes in one COPY and one UPDATE: a statement per device
    cost PostgreSQL more than everything else ingest asks of it."""
    driver = db.connection().connection.driver_connection  # psycopg 3, inside the ingest transaction
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_PG_STATE_CHANGES)
        with cursor.copy(_PG_COPY_STATE_CHANGES) as copy:
            copy.set_types(["int4", "timestamptz", "bool", "timestamptz", "text", "text"])
            for values in changes:
                attributes = values.get("attributes")
                copy.write_row((values["b_device_id"], values.get("last_seen_at"), values.get("online"),
                                values.get("online_changed_at"), values.get("latest"),
                                None if attributes is None else orjson.dumps(attributes).decode()))
        cursor.execute(_PG_APPLY_STATE_CHANGES)


_HANDLERS = {
    MessageKind.telemetry: "_telemetry",
    MessageKind.attributes: "_attributes",
    MessageKind.event: "_event",
    MessageKind.heartbeat: "_heartbeat",
    MessageKind.command_result: "_command_result",
}


def _event(device: KnownDevice, at: datetime, kind: str, code: str) -> dict[str, Any]:
    return {"device_id": device.id, "tenant_id": device.tenant_id, "at": at, "kind": kind, "code": code,
            "severity": "", "data": {}, "unknown_code": False}
