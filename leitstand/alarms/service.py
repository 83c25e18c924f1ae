"""The alarm lifecycle, and the service API other domains call.

Stable API (other domains build on it; change only by adding optional keywords):

    raise_alarm(db, *, device_id, kind, key, severity, title, details=None,
                title_de="", steps=None, rule_key=None, code="", received_at=None,
                tenant_id=None) -> Alarm
        Raise the alarm `key` at a device, or, if one with that key is open (active or
        acknowledged), update it: occurrences + 1, last_seen_at, severity, details.
        At most one open alarm per device and key. Does not commit: the caller's
        transaction decides. `kind` is a rule kind (see `rules.ConditionKind`), e.g. the
        maintenance domain raises kind="maintenance_due", key=f"maintenance:{plan_id}".
        `tenant_id`: the tenant the alarm belongs to, if not the device's (a catalogue
        alarm, see `models`).

    clear_alarm(db, *, device_id, key, how="auto", by_user_id=None) -> Alarm | None
        Clear the open alarm `key` at a device, if there is one. Does not commit.

    ALARM_CHANGES: EventKind[[AlarmChange]]
        Its listeners, per session factory (`ALARM_CHANGES.listeners(factory).subscribe(f)`),
        are called once per change made in a session of that factory, after the transaction
        commits (never for a rolled-back one), in the committing thread. A listener must be
        quick and must not raise (exceptions are logged and swallowed); do slow work
        (sending) elsewhere. The notifier subscribes when its component starts.

    AlarmChange (alarms.change): a frozen snapshot of the alarm after the change; `change`
        is one of raised | updated | acknowledged | cleared | assigned.

The session `db` may be a system session (jobs) or a user's scoped session (API); the
device must be visible through it.

Live updates: every change is also published to open browser pages as
{"type": "alarm", "device_id", "alarm_id", "state", "severity", "change"} through the
publisher bound to the session (`bind_live(db, publish)`: ingest, the scheduler and the
API bind theirs); a session with none bound publishes no live update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from leitstand.alarms.change import AlarmChange
from leitstand.alarms.models import Alarm, AlarmComment, AlarmRuleState, AlarmState, ClearedHow
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.listeners import EventKind

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "major", "minor", "warning")
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
Publish = Callable[[int, dict[str, Any]], None]

_PENDING = "leitstand.alarms.pending"
_PUBLISH = "leitstand.alarms.publish"


ALARM_CHANGES: EventKind[[AlarmChange]] = EventKind("alarm changes")


def bind_live(db: Session, publish: Publish | None) -> Session:
    """Send this session's alarm changes to `publish` (a live hub) after commit."""
    db.info[_PUBLISH] = publish
    return db


class AlarmNotFound(LookupError):
    pass


# --- the lifecycle ----------------------------------------------------------------------


def open_alarm(db: Session, device_id: int, key: str) -> Alarm | None:
    return db.scalar(select(Alarm).where(Alarm.device_id == device_id, Alarm.open_key == key))


def raise_alarm(
    db: Session,
    *,
    device_id: int,
    kind: str,
    key: str,
    severity: str,
    title: str,
    details: dict[str, Any] | None = None,
    title_de: str = "",
    steps: dict[str, list[str]] | None = None,
    rule_key: str | None = None,
    code: str = "",
    received_at: datetime | None = None,
    device: Device | None = None,
    tenant_id: int | None = None,
) -> Alarm:
    if severity not in SEVERITY_RANK:
        raise ValueError(f"severity must be one of {SEVERITIES}")
    device = device or db.get(Device, device_id)
    if device is None:
        raise AlarmNotFound(f"no device {device_id}")
    now = clock.now()
    alarm = open_alarm(db, device_id, key)
    if alarm is not None:
        alarm.occurrences += 1
        alarm.last_seen_at = now
        alarm.severity = severity
        if details:
            alarm.details = {**(alarm.details or {}), **details}
        change = "updated"
    else:
        alarm = Alarm(
            tenant_id=device.tenant_id if tenant_id is None else tenant_id, device_id=device.id,
            site_id=device.site_id, key=key, open_key=key, rule_key=rule_key or key, kind=kind, code=code,
            severity=severity, title=title[:200], title_de=title_de[:200], details=details or {}, steps=steps or {},
            state=AlarmState.active, raised_at=now, last_seen_at=now, occurrences=1,
        )
        db.add(alarm)
        change = "raised"
    db.flush()
    _note(db, alarm, device, change, received_at)
    return alarm


def clear_alarm(
    db: Session, *, device_id: int, key: str, how: str = ClearedHow.auto, by_user_id: int | None = None,
    received_at: datetime | None = None,
) -> Alarm | None:
    alarm = open_alarm(db, device_id, key)
    if alarm is None:
        return None
    return _clear(db, alarm, how, by_user_id, received_at)


def _clear(db: Session, alarm: Alarm, how: str, by_user_id: int | None, received_at: datetime | None = None) -> Alarm:
    alarm.state = AlarmState.cleared
    alarm.open_key = None
    alarm.cleared_at = clock.now()
    alarm.cleared_how = ClearedHow(how).value
    alarm.cleared_by_id = by_user_id
    if how == ClearedHow.manual:
        # Cleared by hand while the condition may still hold: evaluation starts afresh,
        # so the alarm comes back if the condition persists (after its duration again).
        state = db.get(AlarmRuleState, (alarm.device_id, alarm.rule_key))
        if state is not None:
            state.raised = False
            state.pending_since = None
    db.flush()
    _note(db, alarm, None, "cleared", received_at)
    return alarm


def acknowledge(db: Session, alarm: Alarm, user_id: int | None) -> Alarm:
    """Take an alarm on. Acknowledging twice or a cleared alarm changes nothing."""
    if alarm.state == AlarmState.active:
        alarm.state = AlarmState.acknowledged
        alarm.acknowledged_at = clock.now()
        alarm.acknowledged_by_id = user_id
        db.flush()
        _note(db, alarm, None, "acknowledged")
    return alarm


def clear_by_hand(db: Session, alarm: Alarm, user_id: int | None) -> Alarm:
    if alarm.is_open:
        _clear(db, alarm, ClearedHow.manual, user_id)
    return alarm


def assign(db: Session, alarm: Alarm, assignee_id: int | None) -> Alarm:
    if alarm.assignee_id != assignee_id:
        alarm.assignee_id = assignee_id
        db.flush()
        _note(db, alarm, None, "assigned")
    return alarm


def add_comment(db: Session, alarm: Alarm, author_id: int | None, text: str) -> AlarmComment:
    comment = AlarmComment(alarm_id=alarm.id, device_id=alarm.device_id, author_id=author_id, text=text)
    db.add(comment)
    db.flush()
    return comment


# --- after commit: listeners and live updates ------------------------------------------------


def _note(db: Session, alarm: Alarm, device: Device | None, change: str, received_at: datetime | None = None) -> None:
    device = device or db.get(Device, alarm.device_id)
    steps = alarm.steps or {}
    snapshot = AlarmChange(
        alarm_id=alarm.id, tenant_id=alarm.tenant_id, site_id=alarm.site_id, device_id=alarm.device_id,
        device_name=device.name if device else "", device_type_key=device.type_key if device else "",
        key=alarm.key, kind=str(alarm.kind), severity=str(alarm.severity), state=str(alarm.state), title=alarm.title,
        title_de=alarm.title_de, steps_en=tuple(steps.get("en", ())), steps_de=tuple(steps.get("de", ())),
        raised_at=alarm.raised_at, change=change, received_at=received_at, assignee_id=alarm.assignee_id,
    )
    db.info.setdefault(_PENDING, []).append(snapshot)


def live_update(change: AlarmChange) -> dict[str, Any]:
    return {"type": "alarm", "device_id": change.device_id, "alarm_id": change.alarm_id, "state": change.state,
            "severity": change.severity, "change": change.change}


@event.listens_for(Session, "after_commit")
def _announce_committed(session: Session) -> None:
    changes = session.info.pop(_PENDING, None)
    if not changes:
        return
    bound = session.info.get(_PUBLISH)
    publishers = [bound] if bound is not None else []
    for change in changes:
        for publish in publishers:
            try:
                publish(change.tenant_id, live_update(change))
            except Exception:  # a broken live view must not break the alarm flow
                log.exception("live publish of an alarm failed")
        ALARM_CHANGES.notify(session, change)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
