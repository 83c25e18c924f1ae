"""What the start dashboard counts. Each figure is one aggregate query on a scoped session.

The dashboard is read on every live update, so nothing here loops over devices: the
device counts are one `count … sum(case …)` over devices and their states, the lists are
small `LIMIT` queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.devicetypes.spec import Severity
from leitstand.licenses.models import License
from leitstand.portal.sites_queries import alarming_device_ids, device_events, device_states, problem_since

EXPIRY_WINDOW_DAYS = 30
LIST_LENGTH = 8
RECENT_EVENTS_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class ExpiringLicenses:
    total: int
    auto_renew: int  # of those, how many renew by themselves

    @property
    def need_action(self) -> int:
        return self.total - self.auto_renew


def expiring_licenses(db: Session, today: date | None = None) -> ExpiringLicenses:
    """Licenses whose term ends within the next 30 days (today included)."""
    today = today or clock.now().date()
    total, auto_renew = db.execute(
        select(func.count(License.id), func.coalesce(func.sum(case((License.auto_renew.is_(True), 1), else_=0)), 0))
        .where(License.ends_on >= today, License.ends_on <= today + timedelta(days=EXPIRY_WINDOW_DAYS))
    ).one()
    return ExpiringLicenses(int(total), int(auto_renew))


def error_reports_by_severity(db: Session) -> dict[str, int]:
    """Error reports of the last 24 hours by severity, every severity present (zeros included)."""
    rows = db.execute(
        select(device_events.c.severity, func.count())
        .select_from(Device)  # the scope: only events of visible devices
        .join(device_events, device_events.c.device_id == Device.id)
        .where(device_events.c.kind == "error", device_events.c.at >= problem_since())
        .group_by(device_events.c.severity)
    ).all()
    found = {severity: int(count) for severity, count in rows}
    return {severity.value: found.get(severity.value, 0) for severity in Severity}


@dataclass(frozen=True)
class ProblemDevice:
    id: int
    name: str
    online: bool
    last_seen_at: Any
    problem: bool


def problem_devices(db: Session, limit: int = LIST_LENGTH) -> list[ProblemDevice]:
    """Devices offline (or never seen) or with an open alarm: those in alarm first, then the
    most recently gone, the never seen last."""
    problem = Device.id.in_(alarming_device_ids())
    rows = db.execute(
        select(Device.id, Device.name, device_states.c.online, device_states.c.last_seen_at, problem)
        .outerjoin(device_states, device_states.c.device_id == Device.id)
        .where(Device.decommissioned_at.is_(None), or_(device_states.c.online.is_not(True), problem))
        .order_by(problem.desc(), device_states.c.online_changed_at.desc().nulls_last(), Device.id)
        .limit(limit)
    ).all()
    return [ProblemDevice(id_, name, bool(online), seen, bool(flag)) for id_, name, online, seen, flag in rows]


@dataclass(frozen=True)
class RecentEvent:
    device_id: int
    device_name: str
    type_key: str
    at: Any
    kind: str
    code: str
    severity: str


def recent_events(db: Session, limit: int = LIST_LENGTH) -> list[RecentEvent]:
    rows = db.execute(
        select(device_events.c.device_id, Device.name, Device.type_key, device_events.c.at, device_events.c.kind,
               device_events.c.code, device_events.c.severity)
        .select_from(Device)  # the scope: only events of visible devices
        .join(device_events, device_events.c.device_id == Device.id)
        .where(device_events.c.at >= clock.now() - RECENT_EVENTS_WINDOW)
        .order_by(device_events.c.at.desc(), device_events.c.id.desc())
        .limit(limit)
    ).all()
    return [RecentEvent(*row) for row in rows]


def maintenance_lights(db: Session) -> dict[str, int]:
    """Devices with maintenance plans by traffic light: {"green": n, "yellow": n, "red": n}."""
    from leitstand.maintenance.traffic_light import light_counts

    return {light.name: count for light, count in light_counts(db).items()}


def open_alarms_by_severity(db: Session) -> dict[str, int]:
    """Open alarms (active, or acknowledged but not cleared) by severity, zeros included."""
    from leitstand.alarms.models import Alarm, AlarmState

    rows = db.execute(
        select(Alarm.severity, func.count()).where(Alarm.state != AlarmState.cleared).group_by(Alarm.severity)
    ).all()
    found = {severity: int(count) for severity, count in rows}
    return {severity.value: found.get(severity.value, 0) for severity in Severity}
