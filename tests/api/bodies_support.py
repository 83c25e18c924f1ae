"""Route-walk bodies for support tickets and support access, aimed at the victim's records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from leitstand.clock import clock
from leitstand.support.models import SupportAccessCode, Ticket, TicketEvent
from tests.helpers.world import Organisation, World


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    """A ticket on the organisation's barrier, handed over to its partner, and a release code of its customer."""
    db = world.db
    ticket = Ticket(tenant_id=org.customer.id, device_id=org.barrier.id, desk="partner", ticket_class=1,
                    title=f"Ticket {org.mark}", description="", status="open", sla_policy="barrier-portal",
                    updated_at=clock.now())
    db.add(ticket)
    db.flush()
    db.add(TicketEvent(ticket_id=ticket.id, kind="opened", at=clock.now()))
    code = SupportAccessCode(tenant_id=org.customer.id, note=f"Code {org.mark}", code_hash=org.mark * 4, hint="ABCD",
                             expires_at=clock.now() + timedelta(hours=48))
    db.add(code)
    db.flush()
    return {"ticket_id": ticket.id, "code_id": code.id}

BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {
    ("POST", "/api/v1/tickets"): lambda org, w: {
        "ticket_class": 1, "title": "Intruder", "device_id": org.barrier.id, "tenant_id": org.customer.id,
    },
    ("PATCH", "/api/v1/tickets/{ticket_id}"): lambda org, w: {"status": "closed", "assignee_id": org.operator.id},
    ("POST", "/api/v1/tickets/{ticket_id}/comments"): lambda org, w: {"body": "Intruder"},
    ("POST", "/api/v1/support-access"): lambda org, w: {"tenant_id": org.customer.id, "device_id": org.barrier.id},
    # A well-formed code: the caller is no platform support, so it is refused before any lookup.
    ("POST", "/api/v1/support-access/redeem"): lambda org, w: {"code": "ABCDE-FGHJK-MNPQR-STUVW"},
}
