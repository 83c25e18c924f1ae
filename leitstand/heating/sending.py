"""The heating engine in the scheduler: targets out as commands, what the devices report back in.

`send_due_targets` is the scheduler's job (one leader per installation runs it): every
thermostat whose effective target changed, or that (re)joined, gets a `set_target_temperature`
command, handed to its transport by the process's command router (a LoRaWAN network server
queues it for the device's next uplink). A newer target replaces an older one still open, as
the network server's queue does (flush or replace). Within an hour, a thermostat's send waits
for its fixed offset after the hour (`engine.spread_offset`), so an hour boundary across a
large estate does not go out in one burst. A target not reported back within
`heating_confirm_minutes` raises an alarm on the thermostat.

`heating_subscriber` listens to committed ingest batches: a join (`network.joined`), a change
made at the device (its type's `manual_change` event, with the °C it was set to) and a reported
target equal to the one sent are what the engine must know of.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from leitstand.alarms.service import clear_alarm, open_alarm, raise_alarm
from leitstand.clock import clock
from leitstand.commands.models import Command
from leitstand.commands.router import CommandRouter
from leitstand.commands.service import CommandRefused, dispatch, request_command
from leitstand.commands.states import FINAL_STATUSES, CommandStatus
from leitstand.config import Settings
from leitstand.devices.models import Device
from leitstand.db.base import one_of
from leitstand.devicetypes.spec import spec_for
from leitstand.heating import engine, service
from leitstand.heating.models import ThermostatHeatingState
from leitstand.ingest.events import BatchSubscriber, IngestedBatch
from leitstand.ingest.message import NETWORK_JOINED
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)

SET_TARGET = "set_target_temperature"
MANUAL_CHANGE = "manual_change"  # the event a thermostat's codec reports for a change made at the device
UNCONFIRMED_ALARM = "heating-target-unconfirmed"
# A reported target this close to the one sent confirms it: whole-degree models round 19.5 to 20.
CONFIRMING_DIFFERENCE = 0.5


def _due(planned: service.PlannedSend, at: datetime) -> bool:
    offset = planned.not_before - at
    into_the_hour = at - at.replace(minute=0, second=0, microsecond=0)
    return into_the_hour >= offset


def _parameters(device: Device, celsius: float, attributes: dict[str, Any]) -> dict[str, Any]:
    """The command's parameters as the device's type declares them: a model whose encoding
    depends on its firmware (the Vicki) is told the firmware it reported."""
    declared = {parameter.name for command in spec_for(device.type_key).commands if command.key == SET_TARGET
                for parameter in command.parameters}
    parameters: dict[str, Any] = {"celsius": celsius}
    if "firmware" in declared and isinstance(attributes.get("firmware"), str):
        parameters["firmware"] = attributes["firmware"]
    return parameters


def _replace_open_targets(db: Session, device_id: int, at: datetime) -> None:
    """The network server keeps only the newest downlink; so do we."""
    db.execute(update(Command)
               .where(Command.device_id == device_id, Command.name == SET_TARGET,
                      Command.status.not_in([status.value for status in FINAL_STATUSES]))
               .values(status=CommandStatus.expired.value, finished_at=at, detail="replaced by a newer target")
               .execution_options(synchronize_session=False))


def send_due_targets(db: Session, settings: Settings, router: CommandRouter, at: datetime | None = None) -> int:
    """Hand every due target to its thermostat's transport; returns how many were handed over."""
    from leitstand.state.models import DeviceState

    at = at or clock.now()
    handed = 0
    for planned in service.targets_to_send(db, at, settings):
        if not _due(planned, at):
            continue
        device = db.get(Device, planned.device_id)
        if device is None or SET_TARGET not in {command.key for command in spec_for(device.type_key).commands}:
            continue
        state = db.get(DeviceState, device.id)
        _replace_open_targets(db, device.id, at)
        try:
            requested = request_command(db, device, spec_for(device.type_key), SET_TARGET,
                                        _parameters(device, planned.celsius, dict(state.attributes) if state else {}),
                                        None, timedelta(minutes=settings.heating_confirm_minutes), None)
        except CommandRefused as refusal:
            log.info("heating target for device %s not sent: %s", device.id, refusal.kind)
            continue
        dispatch(db, requested.command, device.serial_number, router)
        if requested.command.status in (CommandStatus.queued, CommandStatus.sent):
            service.record_sent(db, device, planned.celsius, at)
            handed += 1
        db.commit()
    _alarm_unconfirmed(db, settings, at)
    db.commit()
    return handed


def _alarm_unconfirmed(db: Session, settings: Settings, at: datetime) -> None:
    timeout = timedelta(minutes=settings.heating_confirm_minutes)
    for state in db.scalars(select(ThermostatHeatingState)):
        late = engine.unconfirmed(state.last_sent_at, state.confirmed_at, at, timeout)
        alarm = open_alarm(db, state.device_id, UNCONFIRMED_ALARM)
        if late and alarm is None:
            raise_alarm(db, device_id=state.device_id, kind="heating", key=UNCONFIRMED_ALARM, severity="minor",
                        title=f"Target {state.last_sent_celsius:g} °C not confirmed by the thermostat",
                        title_de=f"Solltemperatur {state.last_sent_celsius:g} °C vom Thermostat nicht bestätigt",
                        details={"celsius": state.last_sent_celsius, "sent_at": str(state.last_sent_at)})
        elif not late and alarm is not None:
            clear_alarm(db, device_id=state.device_id, key=UNCONFIRMED_ALARM)


def heating_subscriber(factory: sessionmaker[Session]) -> BatchSubscriber:
    """Subscribe it to an Ingestor (leitstand.app.ingestor_for)."""
    return lambda batch: note_reports(factory, batch)


def note_reports(factory: sessionmaker[Session], batch: IngestedBatch) -> int:
    """What the batch's thermostats reported that the engine must know of; returns how many notes.

    This runs for every committed batch: a batch of reported targets costs one query, for the
    thermostats with a target sent and not yet confirmed (none, for a fleet heating does not steer).
    """
    joins = {event.device_id: event.at for event in batch.events if event.code == NETWORK_JOINED}
    changes = {event.device_id: (event.at, (event.data or {}).get("celsius")) for event in batch.events
               if event.code == MANUAL_CHANGE and isinstance((event.data or {}).get("celsius"), int | float)}
    targets = {device_id: latest["target_temperature"] for device_id, latest in batch.latest.items()
               if "target_temperature" in latest and batch.devices[device_id].type_spec.category == "thermostat"}
    if not (joins or changes or targets):
        return 0
    notes = 0
    with system_session(factory, reason="heating: what the thermostats reported") as db:
        for device_id in sorted({*joins, *changes}):
            device = db.get(Device, device_id)
            if device is None:
                continue
            if device_id in joins:
                service.record_join(db, device, joins[device_id])
                notes += 1
            if device_id in changes:
                at, celsius = changes[device_id]
                service.record_device_change(db, device, float(celsius), at)
                notes += 1
        if targets:
            awaiting = db.scalars(select(ThermostatHeatingState).where(
                one_of(ThermostatHeatingState.device_id, sorted(targets), db.get_bind().dialect.name),
                ThermostatHeatingState.last_sent_at.is_not(None),
                or_(ThermostatHeatingState.confirmed_at.is_(None),
                    ThermostatHeatingState.confirmed_at < ThermostatHeatingState.last_sent_at)))
            for state in awaiting:
                at, reported = targets[state.device_id]
                if (isinstance(reported, int | float) and state.last_sent_celsius is not None
                        and abs(reported - state.last_sent_celsius) <= CONFIRMING_DIFFERENCE
                        and at >= state.last_sent_at):
                    state.confirmed_at = at
                    notes += 1
        db.commit()
    return notes
