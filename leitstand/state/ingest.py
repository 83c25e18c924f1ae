"""State's ports of ingest (leitstand.ingest.ports): the devices' live state, their events, refusals.

An ingest batch's live state and events are written here, in the batch's transaction and in
few statements: `write_live_state` is the `WriteStates` port, `count_rejections` the
`CountRejections` port.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.db.base import one_of
from leitstand.devicetypes.spec import MetricKind
from leitstand.ingest.events import KnownDevice
from leitstand.ingest.ports import Refusal, StagedBatch
from leitstand.state.models import DeviceEvent, DeviceState, IngestRejection

log = logging.getLogger("leitstand.ingest.pipeline")  # where refusals were always logged


def insert_ignoring_duplicates(db: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))


def write_live_state(db: Session, batch: StagedBatch) -> None:
    """The batch's device states, then its events: the ones its messages brought and the
    ones the states imply (a device coming online, a state key changing)."""
    _write_device_states(db, batch)
    insert_ignoring_duplicates(db, DeviceEvent.__table__, batch.events)


def _write_device_states(db: Session, batch: StagedBatch) -> None:
    if not batch.updates:
        return
    states = DeviceState.__table__
    dialect = db.get_bind().dialect.name
    # Plain rows, not ORM objects: this runs for every device of every batch. Locked in
    # device order, so two workers updating the same devices serialise instead of
    # overwriting each other's latest values (SQLite has one writer anyway). `latest`
    # comes as text for orjson; attributes only when the batch changes some.
    with_attributes = any(update.attributes for update in batch.updates.values())
    columns = [states.c.device_id, states.c.online, states.c.last_seen_at, cast(states.c.latest, Text)]
    if with_attributes:
        columns.append(states.c.attributes)
    existing = {
        row[0]: row
        for row in db.execute(
            select(*columns).where(one_of(states.c.device_id, sorted(batch.updates), dialect))
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
    for device_id, update in batch.updates.items():
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
            batch.events.append(_event(device, update.last_seen, "connectivity", "online"))
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
                batch.events.append(_event(device, at, "state", f"{key}={value}"))
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
        batch.live_updates.append((device.tenant_id, {
            "type": "device", "device_id": device_id, "online": online,
            "last_seen_at": stamp_of(last_seen) if last_seen else None,
            "latest": {key: latest[key] for key in update.latest},
        }))
    if inserts:
        db.execute(states.insert(), inserts)
    if not changes:
        return
    if dialect == "postgresql":
        _update_states_postgresql(db, changes)
        return
    # One UPDATE per set of changed columns: executemany needs the same columns in every row.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in changes:
        by_columns.setdefault(tuple(sorted(values)), []).append(values)
    for names, rows in by_columns.items():
        assignments = {name: _bound(name) for name in names if name != "b_device_id"}
        db.execute(
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


def _event(device: KnownDevice, at: datetime, kind: str, code: str) -> dict[str, Any]:
    return {"device_id": device.id, "tenant_id": device.tenant_id, "at": at, "kind": kind, "code": code,
            "severity": "", "data": {}, "unknown_code": False}


def count_rejections(db: Session, refusals: Sequence[Refusal]) -> None:
    """Count each refused message on its device, per reason, with the last one's detail."""
    now = clock.now()
    for device_id, reason, detail in refusals:
        log.info("ingest refused a message (%s): %s", reason, detail)
        if device_id is None:
            continue  # no device to count it on; the metrics count it
        row = db.get(IngestRejection, (device_id, reason)) or IngestRejection(device_id=device_id, reason=reason, count=0)
        row.count += 1
        row.last_at = now
        row.last_detail = detail[:300]
        db.add(row)
