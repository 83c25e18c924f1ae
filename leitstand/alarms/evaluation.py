"""Evaluating alarm rules: on what devices report, and as time passes.

Two entry points:

- `evaluate_batch(factory, batch, publish)` runs on each committed ingest batch's
  `IngestedBatch` (subscribed to the ingestor as `alarm_subscriber`). It checks thresholds,
  battery levels and error codes for the devices of the batch, and ends offline / no-data alarms of devices that
  report again, in its own transaction and with a fixed number of queries per batch
  (plus a few per code the batch brought that a type's catalogue lacks: one catalogue
  alarm per type and code, see `alarm_unknown_codes`).
- `evaluate_time_based(db)` runs in the scheduler: conditions that become true while
  nothing arrives (offline, no data, a threshold whose duration elapses in silence).

Between the two, `AlarmRuleState` rows remember per rule and device since when a
condition holds and whether its alarm is up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, sessionmaker

from leitstand.alarms.models import UNKNOWN_CODE_KIND, AlarmRuleState
from leitstand.alarms.rules import (
    DeviceContext,
    EffectiveRule,
    ErrorCodes,
    NoData,
    Offline,
    Threshold,
    rule_book,
)
from leitstand.alarms.service import bind_live, clear_alarm, raise_alarm
from leitstand.clock import clock
from leitstand.db.base import one_of
from leitstand.devices.models import Device
from leitstand.devicetypes.models import UnknownEventCode
from leitstand.devicetypes.service import UnknownCodeSighting
from leitstand.devicetypes.spec import DeviceTypeSpec, UnknownDeviceType, spec_for
from leitstand.i18n import Message
from leitstand.ingest.events import BatchSubscriber, IngestedBatch, IngestedEvent
from leitstand.sites.models import Site
from leitstand.state.models import DeviceState
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)
DEFAULT_SEVERITY = "major"


class Evaluation:
    """One pass over some devices in one transaction: their contexts, rule states and rules."""

    def __init__(self, db: Session, device_ids: Iterable[int],
                 contexts: dict[int, DeviceContext] | None = None) -> None:
        self.db = db
        self.contexts = load_contexts(db, device_ids) if contexts is None else contexts
        self.states: dict[tuple[int, str], AlarmRuleState] = {
            (state.device_id, state.rule_key): state
            for state in db.scalars(select(AlarmRuleState).where(
                one_of(AlarmRuleState.device_id, self.contexts, db.get_bind().dialect.name)))
        } if self.contexts else {}
        self.changes = 0
        self._rules: dict[tuple[str, str, str | None, int | None], list[EffectiveRule]] = {}
        self._device_targeted: dict[str, bool] = {}

    def rules(self, device: DeviceContext) -> list[EffectiveRule]:
        # Devices of one type, tenant and site share their rules unless a rule names a device.
        targeted = self._device_targeted.get(device.type_key)
        if targeted is None:
            targeted = self._device_targeted[device.type_key] = any(
                rule.target_kind == "device" for rule in rule_book.tenant_rules(self.db, device.type_key))
        key = (device.type_key, device.tenant_path, device.site_path, device.id if targeted else None)
        rules = self._rules.get(key)
        if rules is None:
            rules = self._rules[key] = rule_book.rules_for(self.db, device)
        return rules

    def state(self, device_id: int, rule_key: str) -> AlarmRuleState:
        state = self.states.get((device_id, rule_key))
        if state is None:
            state = AlarmRuleState(device_id=device_id, rule_key=rule_key, raised=False)
            self.db.add(state)
            self.states[(device_id, rule_key)] = state
        return state

    def is_raised(self, device_id: int, rule_key: str) -> bool:
        state = self.states.get((device_id, rule_key))
        return bool(state and state.raised)

    # --- conditions ---------------------------------------------------------------------

    def threshold_value(self, device: DeviceContext, rule: EffectiveRule, threshold: Threshold,
                        value: float, at: datetime, received_at: datetime | None) -> None:
        """One reading against a threshold (with duration and hysteresis)."""
        existing = self.states.get((device.id, rule.key))
        beyond = value > threshold.value if threshold.operator == ">" else value < threshold.value
        if existing is None and not beyond:
            return  # the common case: all is well and nothing to remember
        state = self.state(device.id, rule.key)
        state.last_value = value
        state.updated_at = clock.now()
        if state.raised:
            recovered = (value <= threshold.value - threshold.hysteresis if threshold.operator == ">"
                         else value >= threshold.value + threshold.hysteresis)
            if recovered:
                state.raised, state.pending_since = False, None
                self._clear(device, rule.key, received_at)
            return
        if not beyond:
            state.pending_since = None
            return
        state.pending_since = state.pending_since or at
        if at - state.pending_since >= timedelta(seconds=threshold.duration_seconds):
            self._raise_threshold(device, rule, threshold, value, received_at)

    def _raise_threshold(self, device: DeviceContext, rule: EffectiveRule, threshold: Threshold,
                         value: float | None, received_at: datetime | None) -> None:
        state = self.state(device.id, rule.key)
        state.raised = True
        details = {"key": threshold.key, "operator": threshold.operator, "limit": threshold.value, "value": value}
        self._raise(device, rule, rule.key, details=details, received_at=received_at)

    def error_event(self, device: DeviceContext, spec: DeviceTypeSpec | None, rule: EffectiveRule,
                    event: IngestedEvent, received_at: datetime | None) -> None:
        condition = rule.condition
        assert isinstance(condition, ErrorCodes)
        code = event.code
        error = next((e for e in spec.errors if e.code == code), None) if spec else None
        if condition.codes and code not in condition.codes:
            return
        if not condition.codes and error is None:
            return  # "any error" means any error of the catalogue, not every event
        key = f"{rule.key}:{code}"
        data = event.data or {}
        if data.get("active") is False:  # the device protocol's "error gone"
            self._clear(device, key, received_at)
            return
        severity = rule.severity or (error.severity.value if error else DEFAULT_SEVERITY)
        raise_alarm(
            self.db, device_id=device.id, kind=rule.kind, key=key, rule_key=rule.key, code=code, severity=severity,
            title=error.title.en if error else f"{rule.name}: {code}",
            title_de=error.title.de if error else f"{rule.name_de}: {code}",
            steps={"en": error.steps.get("en", []), "de": error.steps.get("de", [])} if error else {},
            details={"code": code, "data": data} if data else {"code": code}, received_at=received_at,
        )
        self.changes += 1

    def _raise(self, device: DeviceContext, rule: EffectiveRule, key: str, *, details: dict[str, Any],
               received_at: datetime | None) -> None:
        raise_alarm(self.db, device_id=device.id, kind=rule.kind, key=key, rule_key=rule.key,
                    severity=rule.severity or DEFAULT_SEVERITY, title=rule.name, title_de=rule.name_de,
                    details=details, received_at=received_at)
        self.changes += 1

    def _clear(self, device: DeviceContext, key: str, received_at: datetime | None) -> None:
        if clear_alarm(self.db, device_id=device.id, key=key, received_at=received_at) is not None:
            self.changes += 1

    def raise_state(self, device: DeviceContext, rule: EffectiveRule, details: dict[str, Any]) -> None:
        """A time-based condition holds: raise once, remembered in the rule state."""
        if self.is_raised(device.id, rule.key):
            return
        self.state(device.id, rule.key).raised = True
        self._raise(device, rule, rule.key, details=details, received_at=None)

    def end_state(self, device: DeviceContext, rule: EffectiveRule, received_at: datetime | None) -> None:
        if not self.is_raised(device.id, rule.key):
            return
        state = self.state(device.id, rule.key)
        state.raised, state.pending_since = False, None
        self._clear(device, rule.key, received_at)


def load_contexts(db: Session, device_ids: Iterable[int]) -> dict[int, DeviceContext]:
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    site = aliased(Site)
    rows = db.execute(
        select(Device.id, Device.type_key, Device.tenant_id, Device.name, Device.site_id, Tenant.path, site.path)
        .join(Tenant, Tenant.id == Device.tenant_id)
        .outerjoin(site, site.id == Device.site_id)
        .where(one_of(Device.id, ids, db.get_bind().dialect.name), Device.decommissioned_at.is_(None))
    ).all()
    return {
        row[0]: DeviceContext(id=row[0], type_key=row[1], tenant_id=row[2], name=row[3], site_id=row[4],
                              tenant_path=row[5], site_path=row[6])
        for row in rows
    }


# --- on ingest --------------------------------------------------------------------------


# Live updates of what the rules raised and cleared, by tenant: the ingestor's (Ingestor.announce).
LivePublisher = Callable[[list[tuple[int, dict[str, Any]]]], Any]


def alarm_subscriber(factory: sessionmaker[Session], publish: LivePublisher) -> BatchSubscriber:
    """The rules step of ingest: subscribe it to an Ingestor (leitstand.app.ingestor_for)."""
    return lambda batch: evaluate_batch(factory, batch, publish)


def evaluate_batch(factory: sessionmaker[Session], batch: IngestedBatch, publish: LivePublisher) -> int:
    """Evaluate what a committed batch reported."""
    if not batch.devices:
        return 0
    events_by_device: dict[int, list[IngestedEvent]] = defaultdict(list)
    for event in batch.events:
        if event.kind in ("error", "event"):
            events_by_device[event.device_id].append(event)
    # The batch's devices as ingest's device directory knows them (cached for a short while):
    # no query per batch for what rule selection needs.
    contexts = {
        device_id: DeviceContext(id=device_id, type_key=known.type_spec.key, tenant_id=known.tenant_id,
                                 name=known.name, site_id=known.site_id, tenant_path=known.tenant_path,
                                 site_path=known.site_path)
        for device_id, known in batch.devices.items()
    }
    no_values: dict[str, tuple[datetime, Any]] = {}

    with system_session(factory, reason="alarm evaluation on ingest") as db:
        bind_live(db, lambda tenant_id, update: publish([(tenant_id, update)]))
        evaluation = Evaluation(db, contexts.keys(), contexts=contexts)
        for device_id, device in evaluation.contexts.items():
            received_at = batch.last_seen.get(device_id)
            latest = batch.latest.get(device_id, no_values)
            for rule in evaluation.rules(device):
                condition = rule.condition
                threshold = rule.threshold
                if threshold is not None:
                    reading = latest.get(threshold.key)
                    if reading is not None and _is_number(reading[1]):
                        evaluation.threshold_value(device, rule, threshold, float(reading[1]), reading[0], received_at)
                elif isinstance(condition, ErrorCodes):
                    for event in events_by_device.get(device_id, ()):
                        evaluation.error_event(device, _spec_or_none(device.type_key, db), rule, event, received_at)
                elif isinstance(condition, Offline) and received_at is not None:
                    evaluation.end_state(device, rule, received_at)
                elif isinstance(condition, NoData) and condition.key in latest:
                    evaluation.end_state(device, rule, received_at)
        db.commit()
        if not batch.unknown_codes:
            return evaluation.changes
        # A transaction of its own: should another worker raise the same catalogue alarm at the
        # same moment, only this step fails (the next sighting updates that alarm).
        changes = alarm_unknown_codes(db, batch.unknown_codes, batch)
        db.commit()
        return evaluation.changes + changes


UNKNOWN_CODE_RULE = "catalogue.unknown_code"


# The alarm is stored worded in both languages; the type's name is its own, in that language.
def _unknown_code_title(code: str, type_name: str, language: str) -> str:
    return Message("Event code %(code)s is not in the catalogue of %(type)s", code=code, type=type_name).in_language(language)


def _unknown_code_steps(code: str, type_name: str, type_key: str, language: str) -> list[str]:
    steps = [Message("Find out from the maker what code %(code)s of %(type)s devices means.", code=code, type=type_name),
             Message("Add it to the catalogue of the device type %(key)s, with severity, title and steps.",
                     key=repr(type_key)),
             Message("Clear this alarm once the catalogue lists the code.")]
    return [step.in_language(language) for step in steps]


def alarm_unknown_codes(db: Session, sightings: Iterable[UnknownCodeSighting], batch: IngestedBatch) -> int:
    """One open warning per device type and code its catalogue lacks, not one per device or
    message: raised on the catalogue's keeper (the counter's tenant) at the device that sent
    the code first, and updated with the count while the code keeps coming."""
    changes = 0
    for sighting in sightings:
        counter = db.get(UnknownEventCode, (sighting.type_key, sighting.code))
        if counter is None:
            continue  # the type was deleted meanwhile
        if counter.first_device_id is None:  # that device is gone: this one names the code now
            counter.first_device_id = sighting.device_id
        first = db.get(Device, counter.first_device_id)
        name = batch.devices[sighting.device_id].type_spec.name
        code, type_key = sighting.code, sighting.type_key
        alarm = raise_alarm(
            db, device_id=counter.first_device_id, tenant_id=counter.tenant_id, kind=UNKNOWN_CODE_KIND,
            key=f"{UNKNOWN_CODE_KIND}:{code}", rule_key=UNKNOWN_CODE_RULE, code=code, severity="warning",
            title=_unknown_code_title(code, name.en, "en"), title_de=_unknown_code_title(code, name.de, "de"),
            steps={"en": _unknown_code_steps(code, name.en, type_key, "en"),
                   "de": _unknown_code_steps(code, name.de, type_key, "de")},
            details={"type_key": type_key, "code": code, "count": counter.count,
                     "first_device_id": counter.first_device_id, "first_device": first.serial_number if first else "",
                     "first_seen_at": counter.first_seen_at.isoformat()},
            received_at=sighting.last_at, device=first,
        )
        # Occurrences count the messages, as the counter does, not the batches that brought them.
        alarm.occurrences = counter.count
        changes += 1
    return changes


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- as time passes (scheduler) --------------------------------------------------------------


def evaluate_time_based(db: Session, now: datetime | None = None) -> int:
    """Offline, no data, and thresholds whose duration elapsed without a new reading.
    Commits; the caller binds a live publisher to `db`."""
    now = now or clock.now()
    states = {
        row.device_id: row
        for row in db.execute(
            select(DeviceState.device_id, DeviceState.online, DeviceState.last_seen_at, DeviceState.latest)
        )
    }
    evaluation = Evaluation(db, states)
    for device_id, device in evaluation.contexts.items():
        seen = states[device_id]
        for rule in evaluation.rules(device):
            condition = rule.condition
            if isinstance(condition, Offline):
                silent = seen.last_seen_at is None or now - seen.last_seen_at >= timedelta(seconds=condition.seconds)
                if not seen.online and silent:
                    evaluation.raise_state(device, rule, {"last_seen_at": _iso(seen.last_seen_at)})
                elif seen.online:
                    evaluation.end_state(device, rule, None)
            elif isinstance(condition, NoData):
                latest = (seen.latest or {}).get(condition.key)
                if latest is None:
                    continue  # never reported: nothing to miss yet
                at = datetime.fromisoformat(latest["at"])
                if now - at >= timedelta(seconds=condition.seconds):
                    evaluation.raise_state(device, rule, {"key": condition.key, "last_at": latest["at"]})
                else:
                    evaluation.end_state(device, rule, None)
            elif (threshold := rule.threshold) is not None:
                state = evaluation.states.get((device_id, rule.key))
                if state is None or state.raised or state.pending_since is None:
                    continue
                if now - state.pending_since >= timedelta(seconds=threshold.duration_seconds):
                    evaluation._raise_threshold(device, rule, threshold, state.last_value, None)
    db.commit()
    return evaluation.changes


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _spec_or_none(type_key: str, db: Session) -> DeviceTypeSpec | None:
    """The device's type, a tenant's own included; None for a type no longer declared."""
    try:
        return spec_for(type_key, db)
    except UnknownDeviceType:
        return None
