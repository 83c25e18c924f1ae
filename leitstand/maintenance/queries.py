"""Reads shared by the maintenance API and the portal: plans with their lights, the board,
the inspection book of a period, and the service history."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from leitstand.access.rules import path_within
from leitstand.db.stored_rows import presentable
from leitstand.devices.models import Device
from leitstand.maintenance import book
from leitstand.maintenance.models import InspectionEntry, MaintenancePlan, PlanKind
from leitstand.maintenance.schemas import AttachmentPublic, BoardDevice, EntryPublic, HistoryItem, PlanPublic
from leitstand.maintenance.traffic_light import Light, device_lights, light_counts, plan_lights, plans
from leitstand.sites.models import Site

MAINTENANCE_ALARM_KIND = "maintenance_due"


def plans_with_lights(db: Session, device_id: int) -> list[tuple[MaintenancePlan, Light | None]]:
    lights = plan_lights(db, device_id)
    rows = db.scalars(select(MaintenancePlan).where(MaintenancePlan.device_id == device_id)
                      .order_by(MaintenancePlan.active.desc(), MaintenancePlan.kind.desc(), MaintenancePlan.id))
    return [(plan, lights[plan.id][0] if plan.id in lights else None) for plan in rows]


def _public(plan: MaintenancePlan, light: Light | None, count: float | None) -> PlanPublic:
    return PlanPublic.model_validate(plan).model_copy(update={
        "light": light.name if light is not None else None, "current_count": count,
    })


def plans_of(db: Session, device_id: int) -> list[PlanPublic]:
    lights = plan_lights(db, device_id)
    rows = db.scalars(select(MaintenancePlan).where(MaintenancePlan.device_id == device_id)
                      .order_by(MaintenancePlan.active.desc(), MaintenancePlan.kind.desc(), MaintenancePlan.id))
    return presentable(rows, lambda plan: _public(plan, *lights.get(plan.id, (None, None))))


def plan_public(db: Session, plan: MaintenancePlan) -> PlanPublic:
    light, count = plan_lights(db, plan.device_id).get(plan.id, (None, None))
    return _public(plan, light, count)


def _below(site: Site) -> Any:
    return Device.site_id.in_(select(Site.id).where(path_within(Site.path, site.path)))


def counts_below(db: Session, site: Site) -> dict[Light, int]:
    worst = device_lights(db).where(_below(site)).subquery()
    found = {Light(value): int(count) for value, count in db.execute(select(worst.c.light, func.count()).group_by(worst.c.light))}
    return {light: found.get(light, 0) for light in Light}


def board_statement(db: Session, site: Site | None = None, type_key: str | None = None) -> Select[Any]:
    """(device_id, site_id, light, name, type_key, next_due_on) per visible device with plans."""
    lights = device_lights(db).add_columns(
        Device.name, Device.type_key,
        func.min(case((plans.c.kind == PlanKind.interval.value, plans.c.due_on))).label("next_due_on"),
    ).group_by(Device.name, Device.type_key)
    if site is not None:
        lights = lights.where(_below(site))
    if type_key is not None:
        lights = lights.where(Device.type_key == type_key)
    return lights


def board_device(row: Any) -> BoardDevice:
    """A row of `board_query` in its public form."""
    return BoardDevice(device_id=row.device_id, name=row.name, type_key=row.type_key, site_id=row.site_id,
                       light=Light(row.light).name, next_due_on=row.next_due_on)


def board_query(db: Session, site: Site | None = None, type_key: str | None = None,
                light: Light | None = None) -> Select[Any]:
    """The board, for the API and the portal to read pages of (presented by `board_device`): worst
    light first, then by next due date (none last), name and, to keep pages stable, the device id."""
    rows = board_statement(db, site, type_key).subquery()
    statement = select(rows)
    if light is not None:
        statement = statement.where(rows.c.light == light.value)
    return statement.order_by(rows.c.light.desc(), rows.c.next_due_on.is_(None), rows.c.next_due_on,
                              rows.c.name, rows.c.device_id)


def summary(db: Session) -> dict[str, int]:
    return {light.name: count for light, count in light_counts(db).items()}


# --- the inspection book -------------------------------------------------------------------


def entries_of(db: Session, device_id: int, start: date, end: date) -> list[InspectionEntry]:
    return list(db.scalars(
        select(InspectionEntry)
        .where(InspectionEntry.device_id == device_id, InspectionEntry.performed_on >= start,
               InspectionEntry.performed_on <= end)
        .order_by(InspectionEntry.performed_on.desc(), InspectionEntry.id.desc())
    ))


def entries_public(db: Session, entries: list[InspectionEntry]) -> list[EntryPublic]:
    attachments = book.attachments_of(db, [entry.id for entry in entries])
    return presentable(entries, lambda entry: EntryPublic.model_validate(entry).model_copy(update={
        "attachments": [AttachmentPublic.model_validate(attachment) for attachment in attachments[entry.id]],
    }))


# --- service history -----------------------------------------------------------------------


def _maintenance_alarms(db: Session, device_ids: Select[Any], limit: int, language: str) -> list[HistoryItem]:
    try:
        from leitstand.alarms.models import Alarm
    except ImportError:  # the alarms domain is optional for the history
        return []
    rows = db.execute(
        select(Alarm, Device.name).join(Device, Device.id == Alarm.device_id)
        .where(Alarm.device_id.in_(device_ids), Alarm.kind == MAINTENANCE_ALARM_KIND)
        .order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(limit)
    )
    return [
        HistoryItem(kind="alarm", at=alarm.raised_at, device_id=alarm.device_id, device_name=name,
                    title=alarm.title_de if language == "de" and alarm.title_de else alarm.title,
                    detail=f"{alarm.severity} · {alarm.state}" + (f" · {alarm.cleared_at:%Y-%m-%d}" if alarm.cleared_at else ""))
        for alarm, name in rows
    ]


def history(db: Session, device_ids: Select[Any], limit: int = 200, language: str = "en") -> list[HistoryItem]:
    """Inspection entries and maintenance alarms of the given devices, newest first."""
    rows = db.execute(
        select(InspectionEntry, Device.name).join(Device, Device.id == InspectionEntry.device_id)
        .where(InspectionEntry.device_id.in_(device_ids))
        .order_by(InspectionEntry.performed_on.desc(), InspectionEntry.id.desc()).limit(limit)
    )
    items = [
        HistoryItem(kind="inspection", at=datetime.combine(entry.performed_on, time(12), tzinfo=UTC),
                    device_id=entry.device_id, device_name=name, title=entry.technician_name,
                    detail=entry.findings[:300], entry_id=entry.id)
        for entry, name in rows
    ]
    items += _maintenance_alarms(db, device_ids, limit, language)
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]

