"""The maintenance traffic light (Ampel), computed in SQL so lists of 10 000 devices stay one query.

Per plan:
- *red*: overdue: the due date has passed, or the counter has reached its due reading;
- *yellow*: due soon: within 30 days or the plan's lead time, whichever is longer (stored as
  `warn_on`), or the counter is within the lead count of its due reading;
- *green*: otherwise, also while a counter plan's device has not reported the counter yet.

A device shows its worst active plan, a site its worst device (at it and below). Devices
without an active plan have no light.

The counter reading comes from the device's latest state (`device_states.latest`), read
with a JSON path per counter key, so nothing is copied when telemetry arrives.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, null, or_, select
from sqlalchemy.orm import Session

from leitstand.access.rules import below_site, path_within
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.maintenance.models import MaintenancePlan, PlanKind
from leitstand.sites.models import Site
from leitstand.state.models import DeviceState

WARN_WINDOW_DAYS = 30
# Plans and states as plain tables: reached only through the scoped Device, they need no
# criteria of their own (the same reasoning as in portal/sites_queries.py).
plans = MaintenancePlan.__table__
device_states = DeviceState.__table__


class Light(enum.IntEnum):
    """Ordered, so the worst of several is their maximum."""

    green = 0
    yellow = 1
    red = 2


def counter_reading(keys: Iterable[str]) -> ColumnElement[Any]:
    """The current value of each plan's counter key, from the device's latest state."""
    whens = [(plans.c.counter_key == key, device_states.c.latest[(key, "value")].as_float()) for key in sorted(set(keys))]
    return case(*whens, else_=null()) if whens else null()


def light_of_plan(reading: ColumnElement[Any], today: date) -> ColumnElement[int]:
    is_interval = plans.c.kind == PlanKind.interval.value
    is_counter = plans.c.kind == PlanKind.counter.value
    red = or_(and_(is_interval, plans.c.due_on < today), and_(is_counter, reading >= plans.c.due_count))
    yellow = or_(and_(is_interval, plans.c.warn_on <= today), and_(is_counter, reading >= plans.c.warn_count))
    return case((red, Light.red.value), (yellow, Light.yellow.value), else_=Light.green.value)


def counter_keys(db: Session) -> list[str]:
    """The counter keys any visible plan uses: a handful (one per device type's counter)."""
    return [key for key in db.scalars(select(MaintenancePlan.counter_key).distinct().where(
        MaintenancePlan.counter_key.is_not(None))) if key]


def active_plans(*columns: Any) -> Select[Any]:
    """Active plans of visible, not decommissioned devices, with their device's state."""
    return (
        select(*columns)
        .select_from(Device)  # the scope
        .join(plans, and_(plans.c.device_id == Device.id, plans.c.active.is_(True)))
        .outerjoin(device_states, device_states.c.device_id == Device.id)
        .where(Device.decommissioned_at.is_(None))
    )


def plan_lights(db: Session, device_id: int, today: date | None = None) -> dict[int, tuple[Light, float | None]]:
    """{plan id: (light, current counter reading)} for the active plans of one device."""
    reading = counter_reading(counter_keys(db))
    light = light_of_plan(reading, today or clock.now().date())
    rows = db.execute(active_plans(plans.c.id, light, reading).where(Device.id == device_id))
    return {plan_id: (Light(value), count) for plan_id, value, count in rows}


def device_lights(db: Session, today: date | None = None) -> Select[Any]:
    """(device_id, site_id, light) per visible device with an active plan: the worst plan."""
    light = light_of_plan(counter_reading(counter_keys(db)), today or clock.now().date())
    return active_plans(Device.id.label("device_id"), Device.site_id.label("site_id"),
                        func.max(light).label("light")).group_by(Device.id, Device.site_id)


def light_counts(db: Session, today: date | None = None) -> dict[Light, int]:
    """How many devices are green, yellow and red (devices without plans not counted)."""
    worst = device_lights(db, today).subquery()
    rows = db.execute(select(worst.c.light, func.count()).group_by(worst.c.light))
    found = {Light(value): int(count) for value, count in rows}
    return {light: found.get(light, 0) for light in Light}


def light_by_device(db: Session, device_ids: Iterable[int] | None = None, today: date | None = None) -> dict[int, Light]:
    statement = device_lights(db, today)
    if device_ids is not None:
        statement = statement.where(Device.id.in_(sorted(set(device_ids))))
    return {device_id: Light(value) for device_id, _site, value in db.execute(statement)}


def light_by_site(db: Session, today: date | None = None) -> dict[int, Light]:
    """The worst device light per site a device is placed at (not rolled up; see roll_up)."""
    worst = device_lights(db, today).subquery()
    rows = db.execute(select(worst.c.site_id, func.max(worst.c.light))
                      .where(worst.c.site_id.is_not(None)).group_by(worst.c.site_id))
    return {site_id: Light(value) for site_id, value in rows}


def site_light(db: Session, site: Site, today: date | None = None) -> Light | None:
    """The worst light of the devices at `site` and below; None if none has a plan."""
    worst = device_lights(db, today).where(
        Device.site_id.in_(select(Site.id).where(path_within(Site.path, site.path)))).subquery()
    value = db.scalar(select(func.max(worst.c.light)))
    return None if value is None else Light(value)


def roll_up(site_paths: dict[int, str], lights: dict[int, Light], top_paths: Iterable[str]) -> dict[str, Light]:
    """The worst light below each of `top_paths`, from lights per site and each site's path."""
    tops = set(top_paths)
    rolled: dict[str, Light] = {}
    for site_id, light in lights.items():
        path = site_paths.get(site_id, "")
        for top in tops:
            if below_site(path, top) and (top not in rolled or light > rolled[top]):
                rolled[top] = light
    return rolled
