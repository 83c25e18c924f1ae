"""Keeping the stored device types in step with the shipped declarations, and counting
the event codes their catalogues lack."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leitstand.devicetypes.models import DeviceType, UnknownEventCode
from leitstand.devicetypes.spec import shipped_types
from leitstand.tenancy.models import Tenant


def sync_shipped_types(db: Session) -> int:
    """Insert or update every shipped type; returns how many there are. Idempotent."""
    specs = shipped_types()
    for spec in specs.values():
        row = db.get(DeviceType, spec.key) or DeviceType(key=spec.key, tenant_id=None)
        row.name = spec.name.en
        row.category = spec.category
        row.spec = spec.model_dump(mode="json")
        db.add(row)
    db.flush()
    return len(specs)


@dataclass
class UnknownCodeSighting:
    """One batch's messages with a code their type's catalogue lacks: how many, the first
    device that sent it in the batch, and when the batch got the first and the last."""

    type_key: str
    code: str
    device_id: int
    first_at: datetime
    last_at: datetime
    count: int = 1


def count_unknown_codes(db: Session, sightings: Collection[UnknownCodeSighting]) -> None:
    """Add a batch's sightings to their `UnknownEventCode` counters: one statement for all,
    in the caller's (the ingest) transaction, so two workers never lose a count."""
    if not sightings:
        return
    keepers = dict(db.execute(select(DeviceType.key, DeviceType.tenant_id)
                              .where(DeviceType.key.in_({sighting.type_key for sighting in sightings}))).all())
    # A shipped type has no tenant: the platform, the root tenant, keeps its catalogue.
    root_id = db.scalar(select(Tenant.id).where(Tenant.parent_id.is_(None))) if None in keepers.values() else None
    rows = [{"type_key": sighting.type_key, "code": sighting.code, "count": sighting.count,
             "tenant_id": keepers.get(sighting.type_key) or root_id, "first_device_id": sighting.device_id,
             "first_seen_at": sighting.first_at, "last_seen_at": sighting.last_at} for sighting in sightings]
    table = UnknownEventCode.__table__
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(rows)
    db.execute(statement.on_conflict_do_update(
        index_elements=[table.c.type_key, table.c.code],
        set_={"count": table.c.count + statement.excluded.count, "last_seen_at": statement.excluded.last_seen_at},
    ))
