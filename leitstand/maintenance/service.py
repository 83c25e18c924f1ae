"""Maintenance plans: creating them (from a device type's defaults or by hand) and moving
their due points on when an inspection completes them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.licenses.service import add_months
from leitstand.maintenance.models import InspectionEntry, MaintenancePlan, PlanKind
from leitstand.maintenance.traffic_light import WARN_WINDOW_DAYS
from leitstand.state.models import DeviceState

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")


# --- what device types suggest -------------------------------------------------------------


@dataclass(frozen=True)
class TypeDefaults:
    plans: tuple[dict[str, Any], ...]
    checklist: tuple[str, ...]


@cache
def _defaults() -> dict[str, TypeDefaults]:
    with DEFAULTS_FILE.open("rb") as source:
        data = tomllib.load(source)
    return {
        key: TypeDefaults(tuple(section.get("plans", [])), tuple(section.get("checklist", [])))
        for key, section in data.items()
    }


def defaults_for(type_key: str) -> TypeDefaults:
    return _defaults().get(type_key, TypeDefaults((), ()))


def checklist_for(type_key: str) -> list[str]:
    return list(defaults_for(type_key).checklist)


# --- due points ----------------------------------------------------------------------------


def commissioned_on(device: Device) -> date:
    """When the device went into service: its claim, else its registration."""
    return (device.claimed_at or device.created_at or clock.now()).astimezone(UTC).date()


def current_count(db: Session, device_id: int, key: str | None) -> float | None:
    """The device's latest reported value of a counter key, if it reported one."""
    if not key:
        return None
    latest = db.scalar(select(DeviceState.latest).where(DeviceState.device_id == device_id)) or {}
    value = (latest.get(key) or {}).get("value")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def warn_days(plan: MaintenancePlan) -> int:
    """Yellow this many days ahead: 30 days or the plan's lead time, whichever is longer."""
    return max(WARN_WINDOW_DAYS, plan.lead_days or 0)


def reschedule(plan: MaintenancePlan, due_on: date | None = None) -> None:
    """Recompute the stored due point from the start of the current period.

    `due_on` overrides the computed date (an inspection's "next due" entry)."""
    if plan.kind == PlanKind.interval:
        plan.due_on = due_on or (add_months(plan.last_done_on, plan.interval_months or 0) if plan.last_done_on else None)
        plan.warn_on = plan.due_on - timedelta(days=warn_days(plan)) if plan.due_on else None
        plan.due_count = plan.warn_count = None
    else:
        baseline = plan.baseline_count or 0.0
        plan.due_count = baseline + (plan.counter_every or 0)
        plan.warn_count = plan.due_count - (plan.lead_count or 0)
        plan.due_on = plan.warn_on = None


def new_plan(db: Session, device: Device, values: dict[str, Any]) -> MaintenancePlan:
    """A plan for `device`. Its first period starts at `last_done_on` (default: commissioning)
    or, for a counter, at `baseline_count` (default: the counter's current reading)."""
    values = dict(values)
    last_done_on = values.pop("last_done_on", None)
    baseline = values.pop("baseline_count", None)
    fields = {"active": True, "lead_days": 0, "lead_count": 0, "checklist": checklist_for(device.type_key), **values}
    plan = MaintenancePlan(device_id=device.id, tenant_id=device.tenant_id, **fields)
    if plan.kind == PlanKind.interval:
        plan.last_done_on = last_done_on or commissioned_on(device)
    else:
        plan.last_done_on = last_done_on
        plan.baseline_count = baseline if baseline is not None else (current_count(db, device.id, plan.counter_key) or 0.0)
    reschedule(plan)
    db.add(plan)
    return plan


def update_plan(db: Session, plan: MaintenancePlan, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        setattr(plan, field, value)
    reschedule(plan)


def apply_defaults(db: Session, device: Device) -> list[MaintenancePlan]:
    """Create the plans the device's type suggests that the device does not have yet."""
    have = set(db.scalars(select(MaintenancePlan.default_key).where(
        MaintenancePlan.device_id == device.id, MaintenancePlan.default_key.is_not(None))))
    created = []
    for suggestion in defaults_for(device.type_key).plans:
        default_key = f"{device.type_key}:{suggestion['key']}"
        if default_key in have:
            continue
        values = {name: value for name, value in suggestion.items() if name != "key"}
        values["kind"] = PlanKind.counter if "counter_key" in values else PlanKind.interval
        created.append(new_plan(db, device, {**values, "default_key": default_key}))
    return created


# --- the inspection book -------------------------------------------------------------------


class PlanNotOfDevice(ValueError):
    pass


def record_inspection(db: Session, device: Device, values: dict[str, Any], user_id: int | None) -> InspectionEntry:
    """Write an entry into the device's inspection book. Each plan it completes starts a new
    period on the inspection day (and, for counters, at the reading taken then)."""
    plan_ids = list(dict.fromkeys(values.pop("completed_plan_ids", None) or []))
    completed = list(db.scalars(select(MaintenancePlan).where(
        MaintenancePlan.id.in_(plan_ids), MaintenancePlan.device_id == device.id))) if plan_ids else []
    if len(completed) != len(plan_ids):
        raise PlanNotOfDevice("Every completed plan must be a plan of this device.")
    entry = InspectionEntry(device_id=device.id, tenant_id=device.tenant_id, created_by_user_id=user_id,
                            completed_plan_ids=plan_ids, **values)
    given_reading = entry.counter_reading
    for plan in completed:
        plan.last_done_on = entry.performed_on
        if plan.kind == PlanKind.counter:
            # The reading written down at the inspection, else what the device reports now.
            reading = given_reading if given_reading is not None else current_count(db, device.id, plan.counter_key)
            plan.baseline_count = reading or 0.0
            if entry.counter_reading is None:
                entry.counter_reading = reading
        reschedule(plan, entry.next_due_on if plan.kind == PlanKind.interval else None)
    db.add(entry)
    return entry
