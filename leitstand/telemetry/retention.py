"""Retention: raw points older than a tenant's `telemetry_retention_days` are deleted; rollups stay.

A tenant without a retention keeps everything. The cut-off is the local midnight
(in the tenant's time zone) `telemetry_retention_days` days before `today`, so a
retention of 30 days keeps today and the 30 calendar days before it. It applies to
the devices the tenant owns; a sub-tenant has its own setting. The scheduler runs
this daily; deleting happens in batches, each in its own short transaction, so a
first run over years of data never holds one huge transaction or lock.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from leitstand.devices.models import Device
from leitstand.telemetry.models import TelemetryPoint
from leitstand.telemetry.store import local_midnight
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)

DELETE_BATCH = 10_000
DEVICE_CHUNK = 500


def retention_cutoff(today: date, days: int, time_zone: str) -> datetime:
    """Points before this UTC instant are deleted: the local midnight `days` days before today."""
    return local_midnight(today - timedelta(days=days), time_zone)


def apply_retention(session_factory: sessionmaker[Session], today: date, batch_size: int = DELETE_BATCH) -> dict[int, int]:
    """Delete expired raw points of every tenant with a retention; returns deleted rows per tenant id."""
    # A job, not a request: no principal owns it, so it reads and deletes across all tenants.
    with system_session(session_factory, reason="telemetry retention job") as db:
        tenants = db.execute(
            select(Tenant.id, Tenant.telemetry_retention_days, Tenant.time_zone)
            .where(Tenant.telemetry_retention_days.is_not(None))
            .order_by(Tenant.id)
        ).all()
        deleted: dict[int, int] = {}
        for tenant_id, days, time_zone in tenants:
            cutoff = retention_cutoff(today, days, time_zone)
            device_ids = list(db.scalars(select(Device.id).where(Device.tenant_id == tenant_id).order_by(Device.id)))
            count = 0
            for offset in range(0, len(device_ids), DEVICE_CHUNK):
                count += _delete_before(db, device_ids[offset:offset + DEVICE_CHUNK], cutoff, batch_size)
            deleted[tenant_id] = count
            if count:
                log.info("retention: deleted %d raw points of tenant %d older than %s", count, tenant_id,
                         cutoff.isoformat())
        return deleted


def _delete_before(db: Session, device_ids: list[int], cutoff: datetime, batch_size: int) -> int:
    point = TelemetryPoint
    total = 0
    while True:
        # Oldest first, one bounded batch per transaction.
        batch = (
            select(point.device_id, point.key, point.ts)
            .where(point.device_id.in_(device_ids), point.ts < cutoff)
            .limit(batch_size)
        )
        result = db.execute(
            delete(point)
            .where(tuple_(point.device_id, point.key, point.ts).in_(batch))
            .execution_options(synchronize_session=False)
        )
        db.commit()
        removed = result.rowcount or 0  # type: ignore[attr-defined]
        total += removed
        if removed < batch_size:
            return total
