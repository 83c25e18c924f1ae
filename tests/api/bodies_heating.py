"""Route-walk bodies of the heating API (merged into tests/api/test_route_walk.py's BODIES), and
SEED: a plan kept at the organisation's building and its assignment to the room, so the walk's
plan and assignment routes are aimed at real records of the victim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers.world import Organisation, World

Body = Callable[[Organisation, World], dict[str, Any]]


def _targets(celsius: float) -> list[dict[str, Any]]:
    return [{"hour": hour, "celsius": celsius} for hour in range(24)]


BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/heating/plans"): lambda org, w: {
        "name": "Intruder plan", "site_id": org.building.id, "targets": _targets(30), "min_celsius": 5,
        "max_celsius": 30, "overrule_minutes": 0,
    },
    ("PATCH", "/api/v1/heating/plans/{plan_id}"): lambda org, w: {"name": "Intruder plan", "max_celsius": 30},
    ("POST", "/api/v1/heating/plans/{plan_id}/copy"): lambda org, w: {"name": "Intruder copy"},
    ("POST", "/api/v1/heating/assignments"): lambda org, w: {
        "plan_id": org.extra_ids["plan_id"], "level": "room", "target_id": org.room.id, "weekdays": [6],
    },
    ("PATCH", "/api/v1/heating/assignments/{assignment_id}"): lambda org, w: {"weekdays": [0, 1]},
    ("POST", "/api/v1/heating/week/copy-day"): lambda org, w: {
        "level": "room", "target_id": org.room.id, "from_weekday": 0, "to_weekday": 6,
    },
    ("POST", "/api/v1/heating/week/copy-week"): lambda org, w: {
        "level": "room", "target_id": org.room.id, "to_level": "thermostat", "to_target_id": org.thermostat.id,
    },
    ("POST", "/api/v1/heating/devices/{device_id}/mode"): lambda org, w: {"mode": "fix", "celsius": 30},
    ("POST", "/api/v1/heating/rooms/{site_id}/mode"): lambda org, w: {"mode": "fix", "celsius": 30},
    ("POST", "/api/v1/heating/rooms/{site_id}/target"): lambda org, w: {"celsius": 30},
}


def seed(org: Organisation, world: World) -> dict[str, int]:
    from leitstand.heating.models import HeatingAssignment, HeatingPlan

    db = world.db
    plan = HeatingPlan(tenant_id=org.customer.id, site_id=org.building.id, name=f"Werktag {org.mark}",
                       targets=[21.0] * 24, min_celsius=5, max_celsius=30, overrule_minutes=120)
    db.add(plan)
    db.flush()
    assignment = HeatingAssignment(tenant_id=org.customer.id, plan_id=plan.id, level="room", site_id=org.room.id,
                                   weekdays=[0, 1, 2, 3, 4])
    db.add(assignment)
    db.flush()
    return {"plan_id": plan.id, "assignment_id": assignment.id}


SEED = seed
