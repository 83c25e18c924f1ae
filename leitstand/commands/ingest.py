"""Commands' port of ingest (leitstand.ingest.ports.AnswerCommand): a device's answer to a command."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.commands.models import Command
from leitstand.commands.states import apply_device_answer
from leitstand.ingest.checks import Rejection
from leitstand.ingest.events import KnownDevice
from leitstand.ingest.message import DeviceMessage, RejectReason


def record_answer(db: Session, device: KnownDevice, message: DeviceMessage) -> str | None:
    """Move the device's command along as its answer says (leitstand.commands.states).

    Returns the command's new status, or None when the answer changes nothing: it has no
    outcome, or it came late or again and the command has moved on already. Raises
    Rejection for a command id the device does not have.
    """
    named = (Command.public_id == message.command_id if message.command_id is not None
             else Command.network_ref == message.command_network_ref)
    command = db.scalar(select(Command).where(named, Command.device_id == device.id))
    if command is None:
        reference = message.command_id or f"network downlink {message.command_network_ref}"
        raise Rejection(RejectReason.unknown_command, f"no command {reference!r} for {device.serial}")
    outcome = message.command_outcome
    if outcome is None or not apply_device_answer(command, outcome, message.received_at, message.command_detail):
        return None
    return command.status
