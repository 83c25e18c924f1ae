"""Commands the device's own reports confirm: a LoRaWAN thermostat does not answer a target it
was sent, its next uplink simply reports it (the type declares which command a report confirms,
`confirmed_by` in its TOML).

A subscriber of committed ingest batches (leitstand.ingest.events): for the batch's devices
whose type declares such commands, an open command (queued, sent or delivered) is confirmed
when a reading of the declared key, taken after the command was requested, lies within the
declared tolerance of the command's parameter. It asks the database only for batches that
hold such devices and keys, so the native fleet's batches cost nothing here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.commands.models import Command
from leitstand.commands.states import PROGRESS, CommandStatus, advance
from leitstand.ingest.events import BatchSubscriber, IngestedBatch
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)
OPEN = [status.value for status in PROGRESS if status != CommandStatus.requested]


LivePublisher = Callable[[Sequence[tuple[int, dict[str, Any]]]], None]


def confirmation_subscriber(factory: sessionmaker[Session], publish: LivePublisher) -> BatchSubscriber:
    """Subscribe it to an Ingestor (leitstand.app.ingestor_for); `publish` tells the open pages."""
    return lambda batch: confirm_reported(factory, batch, publish)


def confirm_reported(factory: sessionmaker[Session], batch: IngestedBatch,
                     publish: LivePublisher = lambda updates: None) -> int:
    """Confirm the open commands the batch's readings report as done; returns how many."""
    candidates = {
        device_id: known.type_spec.confirmed_by_telemetry
        for device_id, known in batch.devices.items()
        if known.type_spec.confirmed_by_telemetry and any(
            rule.telemetry in batch.latest.get(device_id, {}) for rule in known.type_spec.confirmed_by_telemetry.values())
    }
    if not candidates:
        return 0
    updates: list[tuple[int, dict[str, Any]]] = []
    with system_session(factory, reason="commands confirmed by the devices' reports") as db:
        commands = db.scalars(select(Command).where(Command.device_id.in_(sorted(candidates)),
                                                    Command.status.in_(OPEN)).order_by(Command.id))
        for command in commands:
            rule = candidates[command.device_id].get(command.name)
            reported = batch.latest[command.device_id].get(rule.telemetry) if rule else None
            if rule is None or reported is None:
                continue
            at, value = reported
            if at >= command.requested_at and _within(value, command.parameters.get(rule.parameter), rule.tolerance):
                if advance(command, CommandStatus.confirmed, at, detail=f"reported {rule.telemetry} = {value}"):
                    updates.append((command.tenant_id, {"type": "command", "device_id": command.device_id,
                                                        "command_id": command.public_id, "status": command.status}))
        db.commit()
    if updates:
        publish(updates)
    return len(updates)


def _within(reported: Any, wanted: Any, tolerance: float) -> bool:
    if isinstance(reported, bool) or isinstance(wanted, bool):
        return reported == wanted
    if isinstance(reported, int | float) and isinstance(wanted, int | float):
        return abs(reported - wanted) <= tolerance + 1e-9
    return reported == wanted
