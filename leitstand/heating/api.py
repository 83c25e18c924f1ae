"""JSON API of heating control: plans, assignments, the week view with copy-day and copy-week,
modes, a resident's room target, and a thermostat's effective target."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.heating import engine, service
from leitstand.heating.engine import Level
from leitstand.heating.models import HeatingAssignment, HeatingMode, HeatingPlan
from leitstand.i18n import Message
from leitstand.heating.schemas import (
    AssignmentCreate,
    AssignmentPublic,
    AssignmentUpdate,
    CopyDay,
    CopyWeek,
    EffectiveTargetPublic,
    ModePublic,
    ModeSet,
    PlanCopy,
    PlanCreate,
    PlanPublic,
    PlanUpdate,
    RoomTarget,
    RoomTargetPublic,
    WeekDay,
    WeekPublic,
)
from leitstand.permissions import Permission
from leitstand.sites.models import Site, SiteGroup, SiteKind
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session
from leitstand.web.crud import EqualsFilter, Resource, get_visible, resource_routes
from leitstand.web.deps import Access, requires
from leitstand.web.errors import Problem, conflict, forbidden, invalid
from leitstand.web.types import FilterId, ObjectId

router = APIRouter(prefix="/heating", tags=["heating"])
Reader = Annotated[Access, requires(Permission.heating_read)]
Planner = Annotated[Access, requires(Permission.heating_plan)]
Resident = Annotated[Access, requires(Permission.heating_room_control)]


def _refused(error: service.HeatingRefused) -> Problem:
    return conflict(error.message) if error.conflict else invalid(error.message)


# --- plans ----------------------------------------------------------------------------------------


def plan_public(db: Session, plan: HeatingPlan) -> PlanPublic:
    return PlanPublic(id=plan.id, tenant_id=plan.tenant_id, site_id=plan.site_id, name=plan.name,
                      targets=[{"hour": hour, "celsius": celsius} for hour, celsius in enumerate(plan.targets)],
                      min_celsius=plan.min_celsius, max_celsius=plan.max_celsius,
                      overrule_minutes=plan.overrule_minutes, is_default=plan.is_default)


def _hourly(targets: list[Any]) -> list[float]:
    return [target.celsius for target in sorted(targets, key=lambda target: target.hour)]


@router.post("/plans", response_model=PlanPublic, status_code=201)
def create_plan(body: PlanCreate, access: Planner) -> PlanPublic:
    """A named plan of 24 hourly targets; kept at a building (site_id) or in a tenant's library."""
    db = access.db
    building = get_visible(db, Site, body.site_id, "site") if body.site_id is not None else None
    if building is not None and building.kind != SiteKind.building:
        raise invalid("A plan is kept at a building; site_id names another kind of site.")
    if building is not None:
        if body.tenant_id not in (None, building.tenant_id):
            raise invalid("A plan kept at a building belongs to the building's tenant.")
        tenant_id = building.tenant_id
    else:
        tenant_id = get_visible(db, Tenant, body.tenant_id or access.principal.tenant_id, "tenant").id
    plan = HeatingPlan(tenant_id=tenant_id, site_id=building.id if building else None, name=body.name,
                       targets=_hourly(body.targets), min_celsius=body.min_celsius, max_celsius=body.max_celsius,
                       overrule_minutes=body.overrule_minutes, is_default=False)
    db.add(plan)
    db.commit()
    return plan_public(db, plan)


def _change_plan(db: Session, plan: HeatingPlan, body: PlanUpdate) -> None:
    changes = body.model_dump(exclude_unset=True)
    if "targets" in changes:
        changes["targets"] = _hourly(body.targets)
    low, high = changes.get("min_celsius", plan.min_celsius), changes.get("max_celsius", plan.max_celsius)
    if low > high:
        raise invalid("min_celsius lies above max_celsius.")
    for field, value in changes.items():
        setattr(plan, field, value)


PLANS = Resource(
    model=HeatingPlan, what="heating plan", key="plan_id", public=PlanPublic, patch=PlanUpdate,
    reader=Reader, writer=Planner, order_by=(HeatingPlan.name, HeatingPlan.id), present=plan_public,
    change=_change_plan, filters=(EqualsFilter("site_id", FilterId, HeatingPlan.site_id),
                                  EqualsFilter("tenant_id", FilterId, HeatingPlan.tenant_id)),
)
resource_routes(router, PLANS, collection="/plans", item="/plans/{plan_id}",
                names={"list": "list_plans", "get": "get_plan", "patch": "update_plan", "delete": "delete_plan"})


@router.post("/plans/{plan_id}/copy", response_model=PlanPublic, status_code=201)
def copy_plan(plan_id: ObjectId, body: PlanCopy, access: Planner) -> PlanPublic:
    """A new plan with the same targets and settings, e.g. to change one weekday of the grid only."""
    plan = get_visible(access.db, HeatingPlan, plan_id, "heating plan")
    copy = HeatingPlan(tenant_id=plan.tenant_id, site_id=plan.site_id, name=body.name, targets=list(plan.targets),
                       min_celsius=plan.min_celsius, max_celsius=plan.max_celsius,
                       overrule_minutes=plan.overrule_minutes, is_default=False)
    access.db.add(copy)
    access.db.commit()
    return plan_public(access.db, copy)


# --- assignments ------------------------------------------------------------------------------------


def assignment_public(db: Session, row: HeatingAssignment) -> AssignmentPublic:
    target_id = row.device_id or row.site_id or row.group_id
    return AssignmentPublic(id=row.id, tenant_id=row.tenant_id, plan_id=row.plan_id, level=row.level,
                            target_id=target_id, weekdays=sorted(row.weekdays))


def _target(db: Session, level: Level, target_id: int) -> Device | Site | SiteGroup:
    """The thermostat, room, group or building an assignment or mode names, as the caller sees it."""
    if level == Level.thermostat:
        return get_visible(db, Device, target_id, "device")
    if level == Level.group:
        return get_visible(db, SiteGroup, target_id, "site group")
    site = get_visible(db, Site, target_id, "site")
    if site.kind != level.name:
        raise invalid(Message("The site is a %(kind)s, not a %(wanted)s.", kind=Message(site.kind),
                              wanted=Message(level.name)))
    return site


def _plan_for_target(db: Session, plan_id: int, target: Device | Site | SiteGroup) -> HeatingPlan:
    plan = get_visible(db, HeatingPlan, plan_id, "heating plan")
    if plan.tenant_id != target.tenant_id:
        raise invalid("The plan belongs to another tenant than the assignment's target.")
    return plan


@router.post("/assignments", response_model=AssignmentPublic, status_code=201)
def create_assignment(body: AssignmentCreate, access: Planner) -> AssignmentPublic:
    """Bind a plan to a thermostat, room, group or building for some weekdays (H51)."""
    db = access.db
    level = Level[body.level]
    target = _target(db, level, body.target_id)
    _plan_for_target(db, body.plan_id, target)
    try:
        service.check_free_weekdays(db, level, target.id, body.weekdays)
    except service.HeatingRefused as error:
        raise _refused(error) from None
    row = HeatingAssignment(tenant_id=target.tenant_id, plan_id=body.plan_id, level=level.name,
                            weekdays=sorted(body.weekdays))
    setattr(row, service.target_column(level).key, target.id)
    db.add(row)
    db.commit()
    return assignment_public(db, row)


def _change_assignment(db: Session, row: HeatingAssignment, body: AssignmentUpdate) -> None:
    changes = body.model_dump(exclude_unset=True)
    level = Level[row.level]
    target_id = row.device_id or row.site_id or row.group_id
    if "plan_id" in changes:
        plan = get_visible(db, HeatingPlan, changes["plan_id"], "heating plan")
        if plan.tenant_id != row.tenant_id:
            raise invalid("The plan belongs to another tenant than the assignment's target.")
        row.plan_id = plan.id
    if "weekdays" in changes:
        try:
            service.check_free_weekdays(db, level, target_id, changes["weekdays"], except_id=row.id)
        except service.HeatingRefused as error:
            raise _refused(error) from None
        row.weekdays = sorted(changes["weekdays"])


ASSIGNMENTS = Resource(
    model=HeatingAssignment, what="heating assignment", key="assignment_id", public=AssignmentPublic,
    patch=AssignmentUpdate, reader=Reader, writer=Planner, order_by=(HeatingAssignment.id,),
    present=assignment_public, change=_change_assignment,
    filters=(EqualsFilter("plan_id", FilterId, HeatingAssignment.plan_id),
             EqualsFilter("site_id", FilterId, HeatingAssignment.site_id),
             EqualsFilter("device_id", FilterId, HeatingAssignment.device_id),
             EqualsFilter("group_id", FilterId, HeatingAssignment.group_id)),
)
resource_routes(router, ASSIGNMENTS, collection="/assignments", item="/assignments/{assignment_id}",
                names={"list": "list_assignments", "get": "get_assignment", "patch": "update_assignment",
                       "delete": "delete_assignment"})


# --- the week view ------------------------------------------------------------------------------------


def _week(db: Session, level: Level, target_id: int) -> WeekPublic:
    own = service.assignments_of(db, level, target_id)
    plans = {plan.id: plan for plan in (db.get(HeatingPlan, row.plan_id) for row in own) if plan is not None}
    days = []
    for weekday in service.ALL_WEEKDAYS:
        row = next((a for a in own if weekday in a.weekdays), None)
        plan = plans.get(row.plan_id) if row is not None else None
        days.append(WeekDay(weekday=weekday, assignment_id=row.id if row else None, plan_id=plan.id if plan else None,
                            plan_name=plan.name if plan else None, targets=list(plan.targets) if plan else None))
    return WeekPublic(level=level.name, target_id=target_id, days=days)


def _week_of(access: Access, level: Level, target_id: int) -> WeekPublic:
    target = _target(access.db, level, target_id)
    if level == Level.building:
        # The building's default plan is made on its first read (H15; package docstring).
        service.ensure_default_plan(access.db, target, access.settings)  # type: ignore[arg-type]
        access.db.commit()
    return _week(access.db, level, target.id)


@router.get("/buildings/{site_id}/week", response_model=WeekPublic)
def building_week(site_id: ObjectId, access: Reader) -> WeekPublic:
    """The weekly grid of a building: for each weekday the plan assigned to the building itself,
    with its 24 hourly targets."""
    return _week_of(access, Level.building, site_id)


@router.get("/rooms/{site_id}/week", response_model=WeekPublic)
def room_week(site_id: ObjectId, access: Reader) -> WeekPublic:
    """The weekly grid of a room (its own assignments; a day without one follows a wider level)."""
    return _week_of(access, Level.room, site_id)


@router.get("/groups/{group_id}/week", response_model=WeekPublic)
def group_week(group_id: ObjectId, access: Reader) -> WeekPublic:
    return _week_of(access, Level.group, group_id)


@router.get("/devices/{device_id}/week", response_model=WeekPublic)
def thermostat_week(device_id: ObjectId, access: Reader) -> WeekPublic:
    """The weekly grid of one thermostat's own assignments."""
    return _week_of(access, Level.thermostat, device_id)


@router.post("/week/copy-day", response_model=WeekPublic)
def copy_day(body: CopyDay, access: Planner) -> WeekPublic:
    """Make one weekday of a target follow the plan another weekday follows there."""
    level = Level[body.level]
    target = _target(access.db, level, body.target_id)
    service.copy_day(access.db, level, target.id, body.from_weekday, body.to_weekday)
    access.db.commit()
    return _week(access.db, level, target.id)


@router.post("/week/copy-week", response_model=WeekPublic)
def copy_week(body: CopyWeek, access: Planner) -> WeekPublic:
    """Give another target the same weekday → plan bindings (its own ones are replaced)."""
    level, to_level = Level[body.level], Level[body.to_level]
    source = _target(access.db, level, body.target_id)
    destination = _target(access.db, to_level, body.to_target_id)
    if destination.tenant_id != source.tenant_id:
        raise invalid("A week is copied within one tenant.")
    service.copy_week(access.db, level, source.id, to_level, destination, destination.tenant_id)
    access.db.commit()
    return _week(access.db, to_level, destination.id)


# --- modes --------------------------------------------------------------------------------------------


def _mode_public(row: HeatingMode | None, settings: Any) -> ModePublic:
    if row is None:
        return ModePublic(mode=settings.heating_default_mode, celsius=None, is_default=True)
    return ModePublic(mode=row.mode, celsius=row.celsius, is_default=False)


def _set_mode(db: Session, target: Device | Site, body: ModeSet) -> HeatingMode:
    is_device = isinstance(target, Device)
    row = service.mode_row(db, device_id=target.id) if is_device else service.mode_row(db, site_id=target.id)
    if row is None:
        row = HeatingMode(tenant_id=target.tenant_id, **({"device_id": target.id} if is_device else {"site_id": target.id}))
        db.add(row)
    row.mode = body.mode.value
    # Stored as asked; the engine clamps it to the limits in force at each hour (Decision 3).
    row.celsius = body.celsius
    return row


def _room(db: Session, site_id: int) -> Site:
    room = get_visible(db, Site, site_id, "site")
    if room.kind != SiteKind.room:
        raise invalid(Message("The site is a %(kind)s, not a %(wanted)s.", kind=Message(room.kind),
                              wanted=Message(SiteKind.room.value)))
    return room


@router.get("/devices/{device_id}/mode", response_model=ModePublic)
def get_device_mode(device_id: ObjectId, access: Reader) -> ModePublic:
    device = get_visible(access.db, Device, device_id, "device")
    return _mode_public(service.mode_row(access.db, device_id=device.id), access.settings)


@router.post("/devices/{device_id}/mode", response_model=ModePublic)
def set_device_mode(device_id: ObjectId, body: ModeSet, access: Planner) -> ModePublic:
    device = get_visible(access.db, Device, device_id, "device")
    row = _set_mode(access.db, device, body)
    access.db.commit()
    return _mode_public(row, access.settings)


@router.delete("/devices/{device_id}/mode", status_code=204, response_model=None)
def reset_device_mode(device_id: ObjectId, access: Planner) -> Response:
    """The thermostat follows its room's mode again (or the default)."""
    device = get_visible(access.db, Device, device_id, "device")
    row = service.mode_row(access.db, device_id=device.id)
    if row is not None:
        access.db.delete(row)
        access.db.commit()
    return Response(status_code=204)


@router.get("/rooms/{site_id}/mode", response_model=ModePublic)
def get_room_mode(site_id: ObjectId, access: Reader) -> ModePublic:
    room = _room(access.db, site_id)
    return _mode_public(service.mode_row(access.db, site_id=room.id), access.settings)


@router.post("/rooms/{site_id}/mode", response_model=ModePublic)
def set_room_mode(site_id: ObjectId, body: ModeSet, access: Planner) -> ModePublic:
    room = _room(access.db, site_id)
    row = _set_mode(access.db, room, body)
    access.db.commit()
    return _mode_public(row, access.settings)


@router.delete("/rooms/{site_id}/mode", status_code=204, response_model=None)
def reset_room_mode(site_id: ObjectId, access: Planner) -> Response:
    room = _room(access.db, site_id)
    row = service.mode_row(access.db, site_id=room.id)
    if row is not None:
        access.db.delete(row)
        access.db.commit()
    return Response(status_code=204)


@router.post("/rooms/{site_id}/target", response_model=RoomTargetPublic)
def set_room_target(site_id: ObjectId, body: RoomTarget, access: Resident) -> RoomTargetPublic:
    """A resident's target for a room in MANUAL mode (H17), clamped to the limits in force.

    Only a room the caller's heating.room_control reaches: any other id is 403, whether it
    exists or not, so the answer tells nothing about other rooms.
    """
    db = access.db
    room = db.get(Site, site_id)
    if room is None or room.kind != SiteKind.room:
        raise forbidden("You may set targets only for the rooms you hold a role on.")
    row = service.mode_row(db, site_id=room.id)
    if row is None or row.mode != engine.Mode.manual:
        raise conflict("The room is not in MANUAL mode; its owner or property manager decides its mode.")
    # The limits come from the plans of the room's building, which a resident does not see: read
    # them on the platform's behalf, for this one room only.
    with system_session(access.session_factory, reason="resident room target: the limits in force") as system:
        limits = service.room_limits(system, system.get(Site, room.id), clock.now(), access.settings)
        system.commit()
    celsius, limited = engine.clamp(body.celsius, limits)
    row.celsius = celsius
    db.commit()
    return RoomTargetPublic(site_id=room.id, celsius=celsius, requested=body.celsius, limited=limited,
                            min_celsius=limits.min_celsius, max_celsius=limits.max_celsius)


# --- effective target ------------------------------------------------------------------------------------


@router.get("/devices/{device_id}/effective-target", response_model=EffectiveTargetPublic)
def effective_target(device_id: ObjectId, access: Reader) -> EffectiveTargetPublic:
    """What the engine holds the thermostat to now, where it comes from, and whether it would go out."""
    db = access.db
    device = get_visible(db, Device, device_id, "device")
    now = clock.now()
    target = service.effective_target(db, device, now, access.settings)
    state = service.state_of(db, device)
    decision = engine.decide_send(target, state.last_sent_celsius if state else None,
                                  rejoined=bool(state and state.rejoined_at))
    db.commit()  # a building's default plan, made on this first read
    return EffectiveTargetPublic(device_id=device.id, at=now, celsius=target.celsius, source=target.source,
                                 plan_id=target.plan_id, limited=target.clamped, unclamped=target.unclamped,
                                 overrule_until=target.overrule_until, would_send=decision.send, reason=decision.reason)
