"""Keeping the stored device types in step with the shipped declarations."""

from __future__ import annotations

from sqlalchemy.orm import Session

from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import shipped_types


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
