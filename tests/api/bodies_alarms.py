"""Route-walk bodies of the alarms domain, aimed at another tenant's records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leitstand.alarms.models import AlarmRule
from leitstand.alarms.service import raise_alarm
from tests.helpers.world import Organisation, World

BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {
    ("POST", "/api/v1/alarms/{alarm_id}/comments"): lambda org, w: {"text": "Intruder was here"},
    ("POST", "/api/v1/alarms/{alarm_id}/assign"): lambda org, w: {"assignee_id": org.operator.id},
    ("POST", "/api/v1/alarm-rules"): lambda org, w: {
        "key": "barrier.intruder", "name": "Intruder", "severity": "minor", "type_key": "barrier",
        "tenant_id": org.customer.id, "target_kind": "device", "device_id": org.barrier.id,
        "condition": {"kind": "offline", "seconds": 600},
    },
    ("PATCH", "/api/v1/alarm-rules/{rule_id}"): lambda org, w: {"enabled": False},
}


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    """An open alarm on the organisation's barrier and a rule of its customer."""
    db = world.db
    alarm = raise_alarm(db, device_id=org.barrier.id, kind="error_code", key=f"barrier.errors:E{org.mark}",
                        severity="major", title=f"Alarm {org.mark}")
    rule = AlarmRule(tenant_id=org.customer.id, key="barrier.walk", name=f"Rule {org.mark}", severity="minor",
                     type_key="barrier", target_kind="device", device_id=org.barrier.id,
                     condition={"kind": "offline", "seconds": 600})
    db.add(rule)
    db.flush()
    return {"alarm_id": alarm.id, "rule_id": rule.id}
