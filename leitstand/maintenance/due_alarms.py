"""Maintenance-due alarms: a yellow plan raises a warning, a red one a major alarm, a green
one (or a plan that is gone or switched off) clears it.

One alarm per plan, keyed `maintenance:<plan id>`. It is raised again only when its
severity changes, so a plan that stays red does not count a new occurrence every run.
Run by the scheduler for every device, and right after a change to a device's plans or
inspection book for that device, so the alarm follows without waiting for the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.alarms.models import Alarm
from leitstand.alarms.service import clear_alarm, raise_alarm
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.maintenance.traffic_light import Light, active_plans, counter_keys, counter_reading, light_of_plan, plans
from leitstand.i18n import Message

ALARM_KIND = "maintenance_due"
SEVERITY = {Light.yellow: "warning", Light.red: "major"}


def alarm_key(plan_id: int) -> str:
    return f"maintenance:{plan_id}"


@dataclass
class SyncReport:
    raised: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def _titles(name: str, light: Light) -> tuple[str, str]:
    """The alarm's English and German title. A shipped plan's name has a German text too."""
    if light == Light.red:
        title = Message("Maintenance overdue: %(name)s", name=Message(name))
    else:
        title = Message("Maintenance due soon: %(name)s", name=Message(name))
    return title.in_language("en"), title.in_language("de")


def sync_due_alarms(db: Session, device_id: int | None = None, today: date | None = None) -> SyncReport:
    """Bring the maintenance alarms in line with the traffic lights (all devices, or one).
    Does not commit."""
    reading = counter_reading(counter_keys(db))
    light = light_of_plan(reading, today or clock.now().date())
    statement = active_plans(plans.c.id, plans.c.device_id, plans.c.name, plans.c.due_on, plans.c.due_count, light, reading)
    open_alarms = select(Alarm).where(Alarm.kind == ALARM_KIND, Alarm.open_key.is_not(None))
    if device_id is not None:
        statement = statement.where(Device.id == device_id)
        open_alarms = open_alarms.where(Alarm.device_id == device_id)
    still_open = {(alarm.device_id, alarm.key): alarm for alarm in db.scalars(open_alarms)}
    report = SyncReport()
    for plan_id, plan_device_id, name, due_on, due_count, value, count in db.execute(statement).all():
        key, current = alarm_key(plan_id), Light(value)
        alarm = still_open.pop((plan_device_id, key), None)
        if current == Light.green:
            if alarm is not None:
                clear_alarm(db, device_id=plan_device_id, key=key)
                report.cleared.append(key)
            continue
        if alarm is not None and alarm.severity == SEVERITY[current]:
            continue
        title, title_de = _titles(name, current)
        details = {"plan_id": plan_id, "due_on": due_on.isoformat() if due_on else None, "due_count": due_count,
                   "counter": count}
        raise_alarm(db, device_id=plan_device_id, kind=ALARM_KIND, key=key, severity=SEVERITY[current],
                    title=title, title_de=title_de, details=details, rule_key="maintenance")
        report.raised.append(key)
    for (alarm_device_id, key) in still_open:  # plans deleted, switched off, or of decommissioned devices
        clear_alarm(db, device_id=alarm_device_id, key=key)
        report.cleared.append(key)
    return report
