"""Sending commands to devices: validation against the device type, the license gate,
idempotency, hand-over to the transport and timeouts.

The statuses and which may follow which are the status machine's
(leitstand.commands.states). Here a command becomes requested, then queued or sent when
the transport takes it, and expired when it has no final answer by `expires_at`. The
device's answers come in through ingest and are applied by leitstand.commands.ingest, through
the same machine.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leitstand.clock import clock
from leitstand.commands.models import FINAL_STATUSES, Command, CommandStatus
from leitstand.commands.router import CommandRouter
from leitstand.commands.states import STAMPS, advance, note_send_failure, preceding
from leitstand.devices.models import Device, DeviceBinding
from leitstand.devicetypes.spec import CommandParameter, DeviceTypeSpec
from leitstand.i18n import Message, Refusal
from leitstand.ingest.message import BindingKey, CommandRequest
from leitstand.licenses.models import License, LicenseStatus
from leitstand.transports.base import DeliveryFailed, Handover

DEFAULT_TIMEOUT = timedelta(seconds=30)


class CommandRefused(Refusal):
    """The command cannot be sent. `kind` names why, for the problem document."""

    def __init__(self, kind: str, text: str | Message) -> None:
        super().__init__(text)
        self.kind = kind


@dataclass(frozen=True)
class Requested:
    command: Command
    created: bool  # False when an earlier request with the same idempotency key is returned


def _check_parameter(parameter: CommandParameter, value: Any) -> None:
    checks = {
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf"),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str) and len(v) <= 200,
        "boolean": lambda v: isinstance(v, bool),
    }
    if not checks[parameter.type](value):
        raise CommandRefused("invalid-parameters", Message("%(parameter)s must be a %(type)s.",
                                                           parameter=parameter.name, type=parameter.type))
    if parameter.type in ("number", "integer"):
        if (parameter.minimum is not None and value < parameter.minimum) or (
            parameter.maximum is not None and value > parameter.maximum
        ):
            raise CommandRefused("invalid-parameters", Message(
                "%(parameter)s must lie between %(minimum)s and %(maximum)s.",
                parameter=parameter.name, minimum=parameter.minimum, maximum=parameter.maximum))


def validate(spec: DeviceTypeSpec, name: str, parameters: dict[str, Any]) -> None:
    declared = {command.key: command for command in spec.commands}
    command = declared.get(name)
    if command is None:
        raise CommandRefused("unknown-command", Message("%(type)s has no command %(command)s; it knows %(known)s.",
                                                        type=spec.key, command=repr(name), known=", ".join(sorted(declared))))
    by_name = {parameter.name: parameter for parameter in command.parameters}
    unknown = set(parameters) - set(by_name)
    if unknown:
        raise CommandRefused("invalid-parameters",
                             Message("Unknown parameters: %(names)s.", names=", ".join(sorted(unknown))))
    for parameter in command.parameters:
        if parameter.name in parameters:
            _check_parameter(parameter, parameters[parameter.name])
        elif parameter.required:
            raise CommandRefused("invalid-parameters", Message("%(parameter)s is required.", parameter=parameter.name))


def request_command(
    db: Session, device: Device, spec: DeviceTypeSpec, name: str, parameters: dict[str, Any],
    idempotency_key: str | None, timeout: timedelta | None, requested_by: int | None,
) -> Requested:
    """Store a command (or find the earlier one with the same idempotency key)."""
    if idempotency_key:
        earlier = db.scalar(select(Command).where(Command.device_id == device.id, Command.idempotency_key == idempotency_key))
        if earlier is not None:
            if earlier.name != name or earlier.parameters != parameters:
                raise CommandRefused("idempotency-conflict", "This idempotency key was used for a different command.")
            return Requested(earlier, created=False)
    if device.decommissioned_at is not None:
        raise CommandRefused("decommissioned", "The device is decommissioned.")
    license_ = db.scalar(select(License).where(License.device_id == device.id))
    status = license_.status(clock.now().date()) if license_ else LicenseStatus.unlicensed
    if status != LicenseStatus.active:
        raise CommandRefused("license-inactive", Message("The device's license is %(status)s; commands need an active license.",
                                                                 status=Message(status.value)))
    validate(spec, name, parameters)
    now = clock.now()
    command = Command(
        public_id=secrets.token_hex(8), device_id=device.id, tenant_id=device.tenant_id, name=name,
        parameters=parameters, idempotency_key=idempotency_key or secrets.token_hex(16),
        status=CommandStatus.requested, requested_by_user_id=requested_by, requested_at=now,
        expires_at=now + (timeout or DEFAULT_TIMEOUT),
    )
    db.add(command)
    db.flush()
    return Requested(command, created=True)


def dispatch(db: Session, command: Command, serial: str, router: CommandRouter) -> None:
    """Hand a requested command to its device's transport and mark it sent, or queued where
    the network holds it for the device. A transport failure leaves it requested, with the
    reason, until it expires."""
    if command.status != CommandStatus.requested:
        return
    request = CommandRequest(
        serial=serial, command_id=command.public_id, name=command.name,
        parameters=dict(command.parameters), expires_at=command.expires_at,
    )
    bindings = [BindingKey(*row) for row in db.execute(
        select(DeviceBinding.transport, DeviceBinding.connection_id, DeviceBinding.external_id)
        .where(DeviceBinding.device_id == command.device_id).order_by(DeviceBinding.id))]
    try:
        receipt = router.deliver(request, bindings)
    except DeliveryFailed as error:
        note_send_failure(command, str(error))
        return
    if receipt.network_ref is not None:
        command.network_ref = receipt.network_ref
        db.flush()  # before the network's first report on it can look for it
    reached = CommandStatus.queued if receipt.handover == Handover.queued else CommandStatus.sent
    # Guarded by the machine in SQL, not in Python: the device may have answered (through
    # ingest, in another session) before this line ran, and the command only moves forward.
    db.execute(
        update(Command)
        .where(Command.id == command.id, Command.status.in_([status.value for status in preceding(reached)]))
        .values({"status": reached.value, STAMPS[reached]: clock.now()})
        .execution_options(synchronize_session="fetch")
    )


def expire_overdue(db: Session) -> int:
    """The timeout job: every unfinished command past its deadline expires."""
    now = clock.now()
    overdue = list(db.scalars(
        select(Command).where(Command.status.not_in([s.value for s in FINAL_STATUSES]), Command.expires_at < now)
    ))
    for command in overdue:
        advance(command, CommandStatus.expired, now, detail=command.detail or "no answer from the device in time")
    return len(overdue)
