"""Portal pages: bulk actions on devices selected in the device list (see leitstand.portal.bulk).

/devices/bulk                            confirmation: choose a plan or command, then confirm (GET, no JS needed)
/devices/bulk/plan                       copy a maintenance plan of the tenant onto each device
/devices/bulk/renew                      renew each device's licence
/devices/bulk/command                    send one command to each device
/devices/bulk/commands/{device}/{cmd}    fragment: a sent command's state, polled until it is final

Each action takes its own permission's scoped session and checks each device as the single
action does (a command's own permission must reach the device, the licence gate, decommissioning),
so a device that refuses is that device's outcome and the others go ahead.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.commands.models import FINAL_STATUSES, Command
from leitstand.commands.service import CommandRefused, dispatch, request_command
from leitstand.devices.models import Device
from leitstand.devicetypes.spec import Command as SpecCommand
from leitstand.devicetypes.spec import DeviceTypeSpec
from leitstand.i18n import in_language
from leitstand.licenses.models import License
from leitstand.licenses.service import renewed_end
from leitstand.maintenance import service as maintenance
from leitstand.maintenance.due_alarms import sync_due_alarms
from leitstand.maintenance.models import MaintenancePlan
from leitstand.permissions import Permission
from leitstand.portal import bulk
from leitstand.portal import devices_queries as q
from leitstand.portal.devices import _language, day_formatter
from leitstand.portal.pages import page, render
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.errors import Message, Problem, invalid, not_found
from leitstand.web.types import MAX_ID, ObjectId

router = APIRouter(prefix="/devices/bulk")
Action = Literal["plan", "renew", "command"]
Selection = Annotated[list[int], bulk.selection("device")]
COMMAND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# What each action needs; the confirmation refuses a user without it before anything is chosen.
ACTION_PERMISSION: dict[str, Permission] = {
    "plan": Permission.maintenance_write, "renew": Permission.license_write, "command": Permission.device_command,
}
# The parts of a plan that make it the same duty on another device (not its due points).
PLAN_FIELDS = ("name", "kind", "interval_months", "lead_days", "counter_key", "counter_every", "lead_count")


def _visible(db: Session, device_ids: list[int]) -> list[Device]:
    found = {device.id: device for device in db.scalars(select(Device).where(Device.id.in_(device_ids)))}
    return [found[key] for key in device_ids if key in found]


def _offered_commands(access: Access, devices: list[Device], specs: dict[str, DeviceTypeSpec]) -> list[SpecCommand]:
    """Commands every selected device's type offers that need no parameters and whose declared
    permission the user holds; whether it reaches each device is checked when sending."""
    if not devices or any(device.type_key not in specs for device in devices):
        return []
    common = set.intersection(*({command.key for command in specs[device.type_key].commands} for device in devices))
    first = specs[devices[0].type_key]
    return [command for command in first.commands if command.key in common and access.has(command.permission)
            and not any(parameter.required for parameter in command.parameters)]


def _plan_choices(access: Access) -> list[tuple[MaintenancePlan, str]]:
    """The tenant's plans the user may hand out, each with the device it is on, for the chooser."""
    with access.scoped_for(Permission.maintenance_write) as db:
        rows = db.execute(select(MaintenancePlan, Device.name).join(Device, Device.id == MaintenancePlan.device_id)
                          .where(MaintenancePlan.active.is_(True)).order_by(MaintenancePlan.name, Device.name)).all()
        db.expunge_all()
    return [(plan, device_name) for plan, device_name in rows]


def _choice_id(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise invalid("The selection holds something that is not an id.")
    return int(value)


@router.get("", response_class=HTMLResponse)
def bulk_confirmation(
    request: Request,
    access: Annotated[Access, page(Permission.device_read)],
    device_ids: Selection,
    action: Annotated[Action, Query()],
    plan: Annotated[str | None, Query(max_length=20)] = None,
    command: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Step one of a bulk action: which devices, and (once chosen) which plan or command; nothing changes here."""
    permission = ACTION_PERMISSION[action]
    if not access.has(permission):
        raise Problem(403, "forbidden", "Forbidden", Message("You lack the permission %(permission)s.", permission=permission.value))
    language = _language(request, access)
    devices = _visible(access.db, device_ids)
    specs = q.type_specs(access.db)
    context: dict[str, Any] = {
        "action": action, "devices": devices, "missing": len(device_ids) - len(devices),
        "type_names": {key: q.text_in(spec.name, language) for key, spec in specs.items()},
        "label": lambda text: q.text_in(text, language), "day": day_formatter(language),
    }
    if action == "command":
        offered = _offered_commands(access, devices, specs)
        context.update(offered=offered, chosen=next((item for item in offered if item.key == command), None))
    elif action == "plan":
        plans = _plan_choices(access)
        plan_id = _choice_id(plan)
        context.update(plans=plans, chosen=next((item for item, _name in plans if item.id == plan_id), None))
    else:
        today = clock.now().date()
        with access.scoped_for(Permission.license_write) as licence_db:
            licences = {licence.device_id: licence for licence in licence_db.scalars(
                select(License).where(License.device_id.in_([device.id for device in devices])))}
            context["renewals"] = {device_id: (licence.ends_on, renewed_end(licence, today))
                                   for device_id, licence in licences.items()}
    return render(request, "devices/bulk.html", context)


def _not_found(device_id: int, language: str) -> bulk.Outcome:
    return bulk.Outcome(device_id, "", False, in_language("Device not found.", language))


@router.post("/plan", response_class=HTMLResponse)
def assign_plan(request: Request, access: Annotated[Access, page(Permission.maintenance_write)],
                device_ids: Selection, plan: Annotated[str, bulk.form_field("plan")]) -> HTMLResponse:
    plan_id = _choice_id(plan)
    if plan_id is None:
        raise invalid("Choose a maintenance plan.")
    return render(request, "devices/_bulk_results.html", {
        "action": "plan", "outcomes": _assign_plan(access, plan_id, device_ids, _language(request, access)),
    })


def _assign_plan(access: Access, plan_id: int, device_ids: list[int], language: str) -> list[bulk.Outcome]:
    db = access.db
    template = get_visible(db, MaintenancePlan, plan_id, "maintenance plan")
    source = db.get(Device, template.device_id)
    values = {field: getattr(template, field) for field in PLAN_FIELDS}
    outcomes = []
    for device_id in device_ids:
        device = db.get(Device, device_id)
        if device is None:
            outcomes.append(_not_found(device_id, language))
            continue
        has_it = db.scalar(select(MaintenancePlan.id).where(
            MaintenancePlan.device_id == device.id, MaintenancePlan.name == template.name, MaintenancePlan.active.is_(True)))
        if has_it is not None:
            outcomes.append(bulk.Outcome(device.id, device.name, False, in_language("The device already has this plan.", language)))
            continue
        # The checklist belongs to the device type: copied only onto devices of the same type.
        same_type = source is not None and source.type_key == device.type_key
        plan = maintenance.new_plan(db, device, {**values, **({"checklist": list(template.checklist)} if same_type else {})})
        db.flush()
        sync_due_alarms(db, device.id)
        db.commit()
        outcomes.append(bulk.Outcome(device.id, device.name, True, detail=plan.name))
    return outcomes


@router.post("/renew", response_class=HTMLResponse)
def renew_licences(request: Request, access: Annotated[Access, page(Permission.license_write)],
                   device_ids: Selection) -> HTMLResponse:
    language = _language(request, access)
    outcomes = []
    for device_id in device_ids:
        device = access.db.get(Device, device_id)
        licence = access.db.scalar(select(License).where(License.device_id == device_id)) if device else None
        if device is None:
            outcomes.append(_not_found(device_id, language))
        elif licence is None:
            outcomes.append(bulk.Outcome(device.id, device.name, False, in_language("The device has no license.", language)))
        else:
            outcomes.append(bulk.renew_one(access.db, device.id, device.name, licence, language))
    return render(request, "devices/_bulk_results.html", {
        "action": "renew", "outcomes": outcomes, "day": day_formatter(language),
    })


@router.post("/command", response_class=HTMLResponse)
def send_command(request: Request, access: Annotated[Access, page(Permission.device_command)],
                 device_ids: Selection, name: Annotated[str, bulk.form_field("command")]) -> HTMLResponse:
    if not COMMAND_NAME.match(name):
        raise invalid("Choose a command.")
    language = _language(request, access)
    outcomes = [_send_one(request, access, device_id, name, language) for device_id in device_ids]
    return render(request, "devices/_bulk_results.html", {"action": "command", "outcomes": outcomes, "final": FINAL_STATUSES})


def _send_one(request: Request, access: Access, device_id: int, name: str, language: str) -> bulk.Outcome:
    """One device's command, checked and sent as the commands API does for a single device."""
    db = access.db
    device = db.get(Device, device_id)
    if device is None:
        return _not_found(device_id, language)
    spec = q.type_specs(db).get(device.type_key)
    declared = next((command for command in spec.commands if command.key == name), None) if spec else None
    if spec is None or declared is None:
        return bulk.Outcome(device.id, device.name, False, in_language("This device type has no such command.", language))
    if not access.reaches(declared.permission, Device, device.id):
        return bulk.Outcome(device.id, device.name, False,
                            in_language("You may not send this command to this device.", language))
    try:
        requested = request_command(db, device, spec, name, {}, None, None, access.principal.user_id)
    except CommandRefused as refusal:
        db.rollback()
        return bulk.Outcome(device.id, device.name, False, in_language(refusal.text, language))
    db.commit()
    dispatch(db, requested.command, device.serial_number, request.app.state.commands)
    db.commit()
    db.refresh(requested.command)
    return bulk.Outcome(device.id, device.name, True, detail=requested.command)


@router.get("/commands/{device_id}/{command_id}", response_class=HTMLResponse)
def command_state(device_id: ObjectId, command_id: str, request: Request, access: Annotated[Access, page(Permission.device_read)]) -> HTMLResponse:
    """A sent command's state badge, polled by the outcome list until the command is final."""
    if not re.fullmatch(r"[0-9a-f]{16}", command_id):
        raise not_found("command")
    device = get_visible(access.db, Device, device_id, "device")
    command = access.db.scalar(select(Command).where(Command.device_id == device.id, Command.public_id == command_id))
    if command is None:
        raise not_found("command")
    return render(request, "devices/_bulk_command_state.html", {"device_id": device.id, "command": command,
                                                                 "final": FINAL_STATUSES})
