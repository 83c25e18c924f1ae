"""Heating's service layer: loads the engine's inputs from the database, keeps the default plans
and each thermostat's engine state, and answers the scheduler's question "what to send now".

Every function takes the caller's session: on a scoped session it reaches only what the caller
may see, so the API and a scheduler job (on a system session) share them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from leitstand.config import Settings
from leitstand.devices.models import Device, DeviceBinding, DeviceConnection
from leitstand.devicetypes.models import DeviceType
from leitstand.heating import engine
from leitstand.heating.engine import Level, Mode
from leitstand.i18n import Message
from leitstand.heating.models import HeatingAssignment, HeatingMode, HeatingPlan, ThermostatHeatingState
from leitstand.sites.models import Site, SiteGroupMember, SiteKind
from leitstand.tenancy.models import Tenant

THERMOSTAT_CATEGORY = "thermostat"
ALL_WEEKDAYS = tuple(range(7))
DEFAULT_PLAN_NAME = "Standard"


class HeatingRefused(ValueError):
    """A heating change that would leave the data inconsistent; the API answers 422 or 409."""

    def __init__(self, message: Message, *, conflict: bool = False) -> None:
        super().__init__(str(message))
        self.message = message
        self.conflict = conflict


# --- where a thermostat sits --------------------------------------------------------------------


def ancestors(db: Session, site: Site | None) -> list[Site]:
    """The site and every site above it, nearest first (as far as the session sees them)."""
    chain: list[Site] = []
    while site is not None and len(chain) < 32:
        chain.append(site)
        site = db.get(Site, site.parent_id) if site.parent_id is not None else None
    return chain


def building_of(db: Session, site: Site | None) -> Site | None:
    return next((s for s in ancestors(db, site) if s.kind == SiteKind.building), None)


def room_of(db: Session, site: Site | None) -> Site | None:
    return next((s for s in ancestors(db, site) if s.kind == SiteKind.room), None)


def time_zone_of(db: Session, site: Site | None, settings: Settings) -> str:
    """The building's time zone: that of the tenant it belongs to."""
    tenant = db.get(Tenant, site.tenant_id) if site is not None else None
    return tenant.time_zone if tenant is not None and tenant.time_zone else settings.default_time_zone


def default_limits(settings: Settings) -> engine.Limits:
    return engine.Limits(settings.heating_min_celsius, settings.heating_max_celsius)


# --- default plans (H15) ------------------------------------------------------------------------


def default_plan_of(db: Session, building: Site) -> HeatingPlan | None:
    return db.scalars(select(HeatingPlan).where(HeatingPlan.site_id == building.id, HeatingPlan.is_default)
                      .order_by(HeatingPlan.id).limit(1)).first()


def ensure_default_plan(db: Session, building: Site, settings: Settings) -> HeatingPlan:
    """The building's default plan, made from the settings the first time heating reads the
    building; it follows every weekday at building level unless the building has its own
    assignments already. The caller commits."""
    plan = default_plan_of(db, building)
    if plan is not None:
        return plan
    plan = HeatingPlan(tenant_id=building.tenant_id, site_id=building.id, name=DEFAULT_PLAN_NAME,
                       targets=[settings.heating_default_celsius] * engine.HOURS,
                       min_celsius=settings.heating_min_celsius, max_celsius=settings.heating_max_celsius,
                       overrule_minutes=settings.heating_overrule_minutes, is_default=True)
    db.add(plan)
    db.flush()
    if not assignments_of(db, Level.building, building.id):
        db.add(HeatingAssignment(tenant_id=building.tenant_id, plan_id=plan.id, level=Level.building.name,
                                 site_id=building.id, weekdays=list(ALL_WEEKDAYS)))
        db.flush()
    return plan


# --- assignments --------------------------------------------------------------------------------


def target_column(level: Level):  # type: ignore[no-untyped-def]
    return {Level.thermostat: HeatingAssignment.device_id, Level.group: HeatingAssignment.group_id}.get(
        level, HeatingAssignment.site_id)


def assignments_of(db: Session, level: Level, target_id: int) -> list[HeatingAssignment]:
    return list(db.scalars(select(HeatingAssignment).where(
        HeatingAssignment.level == level.name, target_column(level) == target_id).order_by(HeatingAssignment.id)))


def check_free_weekdays(db: Session, level: Level, target_id: int, weekdays: Iterable[int],
                        except_id: int | None = None) -> None:
    """One target follows at most one plan per weekday."""
    wanted = set(weekdays)
    for other in assignments_of(db, level, target_id):
        if other.id != except_id and wanted & set(other.weekdays):
            taken = ", ".join(str(day) for day in sorted(wanted & set(other.weekdays)))
            raise HeatingRefused(Message("Weekdays %(days)s already follow another plan here (assignment %(assignment)s).",
                                         days=taken, assignment=other.id), conflict=True)


def copy_day(db: Session, level: Level, target_id: int, from_weekday: int, to_weekday: int) -> None:
    """Make `to_weekday` follow the plan `from_weekday` follows at this target (the grid's copy-day)."""
    own = assignments_of(db, level, target_id)
    source = next((a for a in own if from_weekday in a.weekdays), None)
    for assignment in own:
        if to_weekday in assignment.weekdays and assignment is not source:
            remaining = [day for day in assignment.weekdays if day != to_weekday]
            if remaining:
                assignment.weekdays = remaining
            else:
                db.delete(assignment)
    if source is not None and to_weekday not in source.weekdays:
        source.weekdays = sorted({*source.weekdays, to_weekday})
    db.flush()


def copy_week(db: Session, level: Level, target_id: int, to_level: Level, to_target: Device | Site | object,
              tenant_id: int) -> list[HeatingAssignment]:
    """Give another target the same weekday → plan bindings as this one (the grid's copy-week);
    the other target's own assignments are replaced."""
    to_target_id = to_target.id  # type: ignore[attr-defined]
    for old in assignments_of(db, to_level, to_target_id):
        db.delete(old)
    db.flush()
    copies = []
    for source in assignments_of(db, level, target_id):
        copy = HeatingAssignment(tenant_id=tenant_id, plan_id=source.plan_id, level=to_level.name,
                                 weekdays=list(source.weekdays))
        setattr(copy, target_column(to_level).key, to_target_id)
        db.add(copy)
        copies.append(copy)
    db.flush()
    return copies


# --- the engine's inputs ------------------------------------------------------------------------


def _plan_data(plan: HeatingPlan) -> engine.Plan:
    return engine.Plan(plan.id, tuple(plan.targets), plan.min_celsius, plan.max_celsius, plan.overrule_minutes)


def _mode_data(row: HeatingMode | None) -> engine.ModeSetting | None:
    return engine.ModeSetting(Mode(row.mode), row.celsius) if row is not None else None


def mode_row(db: Session, *, device_id: int | None = None, site_id: int | None = None) -> HeatingMode | None:
    column, key = (HeatingMode.device_id, device_id) if device_id is not None else (HeatingMode.site_id, site_id)
    return db.scalars(select(HeatingMode).where(column == key)).first()


def state_of(db: Session, device: Device) -> ThermostatHeatingState | None:
    return db.scalars(select(ThermostatHeatingState).where(ThermostatHeatingState.device_id == device.id)).first()


def state_row(db: Session, device: Device) -> ThermostatHeatingState:
    """The device's engine state, made on first use."""
    row = state_of(db, device)
    if row is None:
        row = ThermostatHeatingState(device_id=device.id, tenant_id=device.tenant_id, sent_at=[])
        db.add(row)
    return row


def inputs_for_room(db: Session, room: Site, settings: Settings, *, device: Device | None = None,
                    with_default: bool = True) -> engine.ThermostatInputs:
    """The engine's inputs for a thermostat in `room` (or one sitting directly in a building),
    `device` for the thermostat's own assignments, mode and device change."""
    building = building_of(db, room)
    fallback = None
    if building is not None:
        fallback = ensure_default_plan(db, building, settings) if with_default else default_plan_of(db, building)
    room_site = room if room.kind == SiteKind.room else None
    groups = list(db.scalars(select(SiteGroupMember.group_id).where(SiteGroupMember.site_id == room.id))) if room_site else []
    reach = []
    if device is not None:
        reach.append((HeatingAssignment.level == Level.thermostat.name) & (HeatingAssignment.device_id == device.id))
    if room_site is not None:
        reach.append((HeatingAssignment.level == Level.room.name) & (HeatingAssignment.site_id == room_site.id))
    if groups:
        reach.append((HeatingAssignment.level == Level.group.name) & HeatingAssignment.group_id.in_(groups))
    if building is not None:
        reach.append((HeatingAssignment.level == Level.building.name) & (HeatingAssignment.site_id == building.id))
    rows = list(db.scalars(select(HeatingAssignment).where(or_(*reach)))) if reach else []
    plan_ids = {row.plan_id for row in rows} | ({fallback.id} if fallback is not None else set())
    plans = {plan.id: _plan_data(plan) for plan in db.scalars(select(HeatingPlan).where(HeatingPlan.id.in_(plan_ids)))}
    change = None
    thermostat_mode = None
    if device is not None:
        thermostat_mode = _mode_data(mode_row(db, device_id=device.id))
        state = state_of(db, device)
        if state is not None and state.device_change_at is not None and state.device_change_celsius is not None:
            change = engine.DeviceChange(state.device_change_celsius, state.device_change_at)
    return engine.ThermostatInputs(
        time_zone=time_zone_of(db, building or room, settings),
        assignments=tuple(engine.Assignment(row.id, row.plan_id, Level[row.level], frozenset(row.weekdays))
                          for row in rows),
        plans=plans, default_limits=default_limits(settings),
        room_mode=_mode_data(mode_row(db, site_id=room_site.id)) if room_site is not None else None,
        thermostat_mode=thermostat_mode, device_change=change,
        fallback_plan_id=fallback.id if fallback is not None else None,
    )


def inputs_for(db: Session, device: Device, settings: Settings, *, with_default: bool = True) -> engine.ThermostatInputs:
    site = db.get(Site, device.site_id) if device.site_id is not None else None
    if site is None:
        mode = _mode_data(mode_row(db, device_id=device.id))
        return engine.ThermostatInputs(settings.default_time_zone, (), {}, default_limits(settings), thermostat_mode=mode)
    return inputs_for_room(db, site, settings, device=device, with_default=with_default)


def effective_target(db: Session, device: Device, at: datetime, settings: Settings) -> engine.EffectiveTarget:
    return engine.effective_target(inputs_for(db, device, settings), at)


def room_limits(db: Session, room: Site, at: datetime, settings: Settings) -> engine.Limits:
    """The limits in force for the room's own target at `at`: those of the plan its level wins."""
    inputs = inputs_for_room(db, room, settings)
    weekday, _ = engine.local_slot(at, inputs.time_zone)
    return engine.limits_of(engine.plan_for(inputs, weekday), inputs.default_limits)


# --- what the device did ------------------------------------------------------------------------


def record_device_change(db: Session, device: Device, celsius: float, at: datetime) -> None:
    """A target set at the device itself (DH6). What was sent before no longer holds there."""
    state = state_row(db, device)
    state.device_change_celsius, state.device_change_at = celsius, at
    state.last_sent_celsius = None


def record_join(db: Session, device: Device, at: datetime) -> None:
    """A (re)join: the network server dropped the device's queue, so the target goes out again (DH7)."""
    state_row(db, device).rejoined_at = at


def record_sent(db: Session, device: Device, celsius: float, at: datetime) -> None:
    state = state_row(db, device)
    window_start = at - engine.DAY
    kept = [moment for moment in state.sent_at or [] if datetime.fromisoformat(moment) > window_start]
    state.sent_at = [*kept, at.astimezone(UTC).isoformat()]
    state.last_sent_celsius, state.last_sent_at = celsius, at
    state.rejoined_at = None
    state.deferred_celsius = state.deferred_at = None


def record_confirmed(db: Session, device: Device, at: datetime) -> None:
    state_row(db, device).confirmed_at = at


# --- what to send -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedSend:
    device_id: int
    celsius: float
    reason: engine.Reason
    # The offset within heating_spread_seconds at which to hand it over.
    not_before: datetime


def daily_budget(db: Session, device: Device, settings: Settings) -> int | None:
    """Downlinks per device per 24 h: the tightest budget among the device's network-server
    connections (their settings' daily_downlink_budget), else the installation's; 0 is no cap."""
    budgets = []
    for connection in db.scalars(select(DeviceConnection).join(DeviceBinding, DeviceBinding.connection_id == DeviceConnection.id)
                                 .where(DeviceBinding.device_id == device.id)):
        value = (connection.settings or {}).get("daily_downlink_budget")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            budgets.append(value)
    if budgets:
        return min(budgets)
    return settings.heating_daily_downlink_budget or None


def thermostats(db: Session) -> list[Device]:
    return list(db.scalars(select(Device).join(DeviceType, DeviceType.key == Device.type_key)
                           .where(DeviceType.category == THERMOSTAT_CATEGORY, Device.decommissioned_at.is_(None))
                           .order_by(Device.id)))


def targets_to_send(db: Session, at: datetime, settings: Settings) -> list[PlannedSend]:
    """For a scheduler job: every thermostat whose target must go out now, with why.

    Only thermostats heating is set up for are steered: a plan of their building (its default
    plan is made when heating first shows the building), an assignment or a mode that reaches them.

    Only a changed effective target, or the current one after a (re)join, is listed. A send the
    daily budget holds back is not listed; its value is kept as the thermostat's latest deferred
    target (flagged), overwriting an older one, and the next run that has budget lists the value
    then in force. The caller hands each send to the command service and then calls
    `record_sent`; this function itself writes only the deferred flags. The caller commits.
    """
    planned = []
    spread = timedelta(seconds=settings.heating_spread_seconds)
    for device in thermostats(db):
        inputs = inputs_for(db, device, settings, with_default=False)
        if not (inputs.assignments or inputs.fallback_plan_id or inputs.room_mode or inputs.thermostat_mode):
            # Heating is not set up for it yet (no plan, assignment or mode reaches it): a platform
            # that gains the heating engine does not start steering every thermostat it has.
            continue
        target = engine.effective_target(inputs, at)
        state = state_of(db, device)
        last_sent = state.last_sent_celsius if state is not None else None
        rejoined = state is not None and state.rejoined_at is not None
        decision = engine.decide_send(target, last_sent, rejoined=rejoined)
        sent_at = [datetime.fromisoformat(moment) for moment in (state.sent_at if state is not None else [])]
        decision = engine.apply_budget(decision, sent_at, at, daily_budget(db, device, settings))
        if decision.reason == engine.Reason.deferred:
            held = state_row(db, device)
            held.deferred_celsius, held.deferred_at = decision.celsius, at
        elif decision.send and decision.celsius is not None:
            planned.append(PlannedSend(device.id, decision.celsius, decision.reason,
                                       at + engine.spread_offset(device.id, spread)))
    return planned


def unconfirmed_targets(db: Session, at: datetime, settings: Settings) -> list[int]:
    """Thermostats whose last target has not been reported back within heating_confirm_minutes:
    for the scheduler job to raise an alarm for each."""
    timeout = timedelta(minutes=settings.heating_confirm_minutes)
    return [state.device_id for state in db.scalars(select(ThermostatHeatingState).order_by(ThermostatHeatingState.device_id))
            if engine.unconfirmed(state.last_sent_at, state.confirmed_at, at, timeout)]
