"""Route-walk bodies of the maintenance API (merged into tests/api/test_route_walk.py's BODIES).

The attachment upload (POST /api/v1/maintenance/entries/{entry_id}/attachments) declares no
body field (it reads multipart itself, after the entry lookup), so the walk calls it without
a body and needs no entry here; tests/maintenance/test_api.py sends real files across tenants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from tests.helpers.world import Organisation, World

Body = Callable[[Organisation, World], dict[str, Any]]

BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/maintenance/devices/{device_id}/plans"): lambda org, w: {
        "name": "Intruder plan", "kind": "interval", "interval_months": 1,
    },
    ("PATCH", "/api/v1/maintenance/plans/{plan_id}"): lambda org, w: {"name": "Intruder plan", "active": False},
    ("POST", "/api/v1/maintenance/devices/{device_id}/entries"): lambda org, w: {
        "performed_on": "2026-01-01", "technician_name": "Intruder", "findings": "tampered",
    },
    ("PATCH", "/api/v1/maintenance/entries/{entry_id}"): lambda org, w: {"findings": "tampered"},
}


def path_ids(org: Organisation, world: World) -> dict[str, int]:
    """Path parameters naming the organisation's maintenance records (a plan, an inspection entry
    with one attachment), created on first use. For the walk's `Operation.url`, which knows only
    the ids of `Organisation.ids()`: merge these in (`values.update(path_ids(org, world))`)."""
    from leitstand.maintenance import book, service
    from leitstand.maintenance.models import PlanKind

    cache = world.__dict__.setdefault("_maintenance_ids", {})
    if org.mark not in cache:
        db = world.db
        plan = service.new_plan(db, org.barrier, {"name": f"Plan {org.mark}", "kind": PlanKind.interval,
                                                  "interval_months": 12})
        entry = service.record_inspection(db, org.barrier, {"performed_on": date(2026, 1, 1),
                                                            "technician_name": f"Tech {org.mark}"}, user_id=None)
        db.flush()
        attachment = book.store_attachment(db, world.app.state.settings, entry, "report.pdf", b"%PDF-1.4 walk")
        db.commit()
        cache[org.mark] = {"plan_id": plan.id, "entry_id": entry.id, "attachment_id": attachment.id}
    return cache[org.mark]


SEED = path_ids  # the walk's hook: creates and names the organisation's maintenance records
