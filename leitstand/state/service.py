"""Online/offline detection: a device is offline when it missed its expected heartbeat.

The expected interval is the device type's `heartbeat_seconds`, or 24 hours (the
license heartbeat) for a device whose license is not active, since such a device is
only expected to send that. A grace factor absorbs jitter in reporting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.devicetypes.spec import UnknownDeviceType, spec_for
from leitstand.ingest.pipeline import LICENSE_HEARTBEAT
from leitstand.licenses.models import License, LicenseStatus, status_on
from leitstand.state.ingest import insert_ignoring_duplicates
from leitstand.state.models import DeviceEvent, DeviceState

GRACE = 1.5


def expected_interval(type_key: str, licensed: bool) -> timedelta:
    if not licensed:
        return LICENSE_HEARTBEAT
    try:
        return timedelta(seconds=spec_for(type_key).heartbeat_seconds)
    except UnknownDeviceType:
        return timedelta(seconds=900)  # a tenant's own type: the sensor default


def mark_offline(db: Session) -> list[tuple[int, dict[str, Any]]]:
    """Mark devices that missed their heartbeat offline; returns live updates to publish."""
    now = clock.now()
    today = now.date()
    rows = db.execute(
        select(DeviceState, Device.type_key, License.starts_on, License.ends_on)
        .join(Device, Device.id == DeviceState.device_id)
        .outerjoin(License, License.device_id == Device.id)
        .where(DeviceState.online.is_(True))
    ).all()
    updates: list[tuple[int, dict[str, Any]]] = []
    events = []
    for state, type_key, starts_on, ends_on in rows:
        licensed = status_on(today, starts_on, ends_on) == LicenseStatus.active
        deadline = expected_interval(type_key, licensed) * GRACE
        if state.last_seen_at is None or now - state.last_seen_at > deadline:
            state.online = False
            state.online_changed_at = now
            events.append({"device_id": state.device_id, "tenant_id": state.tenant_id, "at": now,
                           "kind": "connectivity", "code": "offline", "severity": "", "data": {}})
            updates.append((state.tenant_id, {"type": "device", "device_id": state.device_id, "online": False,
                                               "last_seen_at": state.last_seen_at.isoformat() if state.last_seen_at else None,
                                               "latest": {}}))
    insert_ignoring_duplicates(db, DeviceEvent.__table__, events)
    return updates
