"""Command routes: send a command to a device and follow it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from sqlalchemy import select

from leitstand.commands.models import Command, CommandStatus
from leitstand.commands.service import CommandRefused, dispatch, request_command
from leitstand.devices.models import Device
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import DeviceTypeSpec, spec_for
from leitstand.json_numbers import JsonNumber
from leitstand.permissions import Permission
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import Message, Problem, not_found
from leitstand.web.types import Input, Limit, ObjectId, Offset, Page, PageRequest, Public

router = APIRouter(prefix="/devices/{device_id}/commands", tags=["commands"])
Reader = Annotated[Access, requires(Permission.device_read)]
Commander = Annotated[Access, requires(Permission.device_command)]
CommandId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


class CommandCreate(Input):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    parameters: Annotated[dict[str, Any], Field(max_length=20)] = Field(default_factory=dict)
    idempotency_key: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9._:-]{1,100}$")] = None
    timeout_seconds: Annotated[int, Field(ge=1, le=3600), JsonNumber] = 30


class CommandPublic(Public):
    id: str = Field(validation_alias="public_id")
    device_id: int
    name: str
    parameters: dict[str, Any]
    idempotency_key: str
    status: CommandStatus = Field(description=(
        "requested → queued (held by the network server for the device's next uplink; only where the transport"
        " queues) → sent → delivered → confirmed; failed (the device's answer) and expired (no answer before"
        " expires_at) end a command too."))
    requested_by_user_id: int | None
    requested_at: datetime
    queued_at: datetime | None = Field(description="When the network server queued it for the device's next uplink;"
                                                    " null for transports that send at once.")
    sent_at: datetime | None
    delivered_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    detail: str


def _spec(access: Access, device: Device) -> DeviceTypeSpec:
    row = get_visible(access.db, DeviceType, device.type_key, "device type")
    return spec_for(row.key, access.db)


@router.post("", response_model=CommandPublic, status_code=201,
             responses={200: {"description": "An earlier command with the same idempotency key",
                              "model": CommandPublic}})
def send_command(device_id: ObjectId, body: CommandCreate, access: Commander, request: Request,
                 response: Response) -> Command:
    """Send a command. Repeating a request with the same idempotency key returns the first command."""
    db = access.db
    device = get_visible(db, Device, device_id, "device")
    spec = _spec(access, device)
    declared = next((command for command in spec.commands if command.key == body.name), None)
    if declared is not None and not access.reaches(declared.permission, Device, device.id):
        raise Problem(403, "forbidden", "Forbidden",
                      Message("The command %(command)s needs the permission %(permission)s on this device.",
                              command=repr(body.name), permission=declared.permission.value))
    try:
        requested = request_command(
            db, device, spec, body.name, body.parameters, body.idempotency_key,
            timedelta(seconds=body.timeout_seconds), access.principal.user_id,
        )
    except CommandRefused as refusal:
        status = 422 if refusal.kind in ("unknown-command", "invalid-parameters") else 409
        raise Problem(status, refusal.kind, "Command refused", refusal.text) from refusal
    db.commit()
    if not requested.created:
        response.status_code = 200
        return requested.command
    dispatch(db, requested.command, device.serial_number, request.app.state.commands)
    db.commit()
    db.refresh(requested.command)
    return requested.command


@router.get("", response_model=Page[CommandPublic])
def list_commands(
    device_id: ObjectId, access: Reader, status: Annotated[CommandStatus | None, Query()] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[CommandPublic]:
    device = get_visible(access.db, Device, device_id, "device")
    statement = select(Command).where(Command.device_id == device.id).order_by(Command.requested_at.desc(), Command.id.desc())
    if status is not None:
        statement = statement.where(Command.status == status)
    return read_page(access.db, statement, PageRequest(limit, offset), CommandPublic.model_validate)


@router.get("/{command_id}", response_model=CommandPublic)
def get_command(device_id: ObjectId, command_id: CommandId, access: Reader) -> Command:
    device = get_visible(access.db, Device, device_id, "device")
    command = access.db.scalar(select(Command).where(Command.device_id == device.id, Command.public_id == command_id))
    if command is None:
        raise not_found("command")
    return command
